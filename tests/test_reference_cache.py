"""The pySHACL answer cache (tests/reference_cache.py): a hit is what pySHACL answers, anything that
changes the answer's inputs is a miss, and the environment variable turns it off.

A hit is compared with a fresh pySHACL run of the same data graph: the same conformance, the same
results by shape, and the same report graph triple for triple, the data graph's and the shapes
graph's blank nodes as themselves (they must be the very nodes) and only the report's own blank
nodes up to their names (RDFC-1.0).
"""

from __future__ import annotations

import json
from pathlib import Path

import pyoxigraph as ox
import pytest
from rdflib import RDF, BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import SH

import reference_cache as rc
from reasoner.flow.check import InvalidRequest, check_request
from reasoner.flow.enrich import enrich
from reasoner.flow.lift import lift
from reasoner.shacl.pyshacl_engine import ShapesRunner
from requestgen import requests

HERE = Path(__file__).parent
CASES = sorted((HERE / "cases").glob("*.json"))
EX = Namespace("urn:ex:")


def _data_graph(kb, request):
    request = check_request(request)
    graph, node = lift(request)  # new blank nodes each time
    enrich(graph, node, request, kb, kb.policies[request["policy"]])
    return graph


def _sample():
    out = []
    for path in CASES[::45]:
        case = json.loads(path.read_text())
        if not case.get("kb"):
            try:
                out.append(check_request(case["request"]))
            except InvalidRequest:
                pass
    return out + list(requests(4, seed=3))


def _canonical(report: Graph, fixed: set) -> set:
    """The report's triples, `fixed` blank nodes named as themselves, the others canonicalised."""
    def term(t):
        if isinstance(t, BNode):
            return ox.NamedNode(f"urn:fixed:{t}") if t in fixed else ox.BlankNode(str(t))
        if isinstance(t, Literal):
            if t.language:
                return ox.Literal(str(t), language=t.language)
            return ox.Literal(str(t), datatype=ox.NamedNode(str(t.datatype))) if t.datatype else ox.Literal(str(t))
        return ox.NamedNode(str(t))

    dataset = ox.Dataset(ox.Quad(term(s), term(p), term(o)) for s, p, o in report)
    dataset.canonicalize(ox.CanonicalizationAlgorithm.RDFC_1_0)
    return set(dataset)


def _blank(g: Graph) -> set:
    return {t for triple in g for t in triple if isinstance(t, BNode)}


def assert_same_answer(hit, fresh, data: Graph, shapes: Graph) -> None:
    assert hit.conforms == fresh.conforms
    assert hit.by_shape == fresh.by_shape
    assert len(hit.graph) == len(fresh.graph)
    assert set(hit.graph.namespaces()) == set(fresh.graph.namespaces())
    fixed = _blank(data) | _blank(shapes)
    assert _canonical(hit.graph, fixed) == _canonical(fresh.graph, fixed)


@pytest.fixture(scope="module")
def kb(reasoner_for):
    return reasoner_for().kb


@pytest.fixture(scope="module")
def plain(kb):
    return ShapesRunner(kb.shapes, kb.shape_owner)


def test_a_hit_is_what_pyshacl_answers(kb, plain, tmp_path):
    cached = rc.CachedRunner(plain, kb.shapes, tmp_path)
    shape_nodes_named = 0
    for request in _sample():
        first = _data_graph(kb, request)
        cached.run(first)
        again = _data_graph(kb, request)  # the same request lifted again: other blank-node names
        assert _blank(again) and not _blank(again) & _blank(first)
        hits = cached.hits
        hit = cached.run(again)
        assert cached.hits == hits + 1, "the same graph under other blank-node names is a hit"
        assert_same_answer(hit, plain.run(again), again, kb.shapes)
        shape_nodes_named += bool(_blank(hit.graph) & _blank(kb.shapes))
    assert cached.misses == len(_sample()) and shape_nodes_named  # results naming shape blank nodes


def test_blank_nodes_of_the_data_and_the_shapes_map_back(tmp_path):
    """A report naming blank nodes of both graphs (a blank focus node, a blank property shape),
    hit from another copy of both graphs under other names: the report names the new nodes."""
    def graphs():
        shapes, data = Graph(), Graph()
        prop, item = BNode(), BNode()
        shapes.add((EX.S, RDF.type, SH.NodeShape))
        shapes.add((EX.S, SH.targetClass, EX.C))
        shapes.add((EX.S, SH.property, prop))
        shapes.add((prop, SH.path, EX.p))
        shapes.add((prop, SH.minCount, Literal(2)))
        data.add((item, RDF.type, EX.C))
        data.add((item, EX.p, Literal("one")))
        data.add((EX.named, RDF.type, EX.C))
        return shapes, data

    (s1, d1), (s2, d2) = graphs(), graphs()
    first = rc.CachedRunner(ShapesRunner(s1, {str(EX.S): EX.S}), s1, tmp_path)
    first.run(d1)
    runner2 = ShapesRunner(s2, {str(EX.S): EX.S})
    second = rc.CachedRunner(runner2, s2, tmp_path)
    hit = second.run(d2)
    assert (second.hits, second.misses) == (1, 0)
    fresh = runner2.run(d2)
    assert _blank(fresh.graph) & _blank(d2) and _blank(fresh.graph) & _blank(s2)
    assert_same_answer(hit, fresh, d2, s2)
    s2.set((next(s2.objects(EX.S, SH.property)), SH.minCount, Literal(1)))  # changed in place: a miss
    second.run(d2)
    assert (second.hits, second.misses) == (1, 1)


def test_a_changed_request_shapes_graph_or_pyshacl_is_a_miss(kb, plain, tmp_path, monkeypatch):
    request = _sample()[0]
    cached = rc.CachedRunner(plain, kb.shapes, tmp_path)
    cached.run(_data_graph(kb, request))
    changed = json.loads(json.dumps(request))
    changed["member"]["birth_date"] = "1970-01-02" if changed["member"]["birth_date"] != "1970-01-02" else "1970-01-03"
    data = _data_graph(kb, changed)
    assert_same_answer(cached.run(data), plain.run(data), data, kb.shapes)
    assert (cached.hits, cached.misses) == (0, 2)

    # One constraint of the shapes graph changed (a minimum count raised): every answer is a miss.
    shapes = Graph()
    for prefix, ns in kb.shapes.namespaces():
        shapes.bind(prefix, ns, override=True, replace=True)
    flipped = False
    for s, p, o in kb.shapes:
        if p == SH.minCount and not flipped:
            o, flipped = Literal(int(o) + 1), True
        shapes.add((s, p, o))
    other_runner = ShapesRunner(shapes, kb.shape_owner)
    other = rc.CachedRunner(other_runner, shapes, tmp_path)
    data = _data_graph(kb, request)
    assert_same_answer(other.run(data), other_runner.run(data), data, shapes)
    assert (other.hits, other.misses) == (0, 1)

    # Another pySHACL, rdflib, Python or runner source: another environment, a miss.
    monkeypatch.setattr(rc, "environment", lambda: "pyshacl==0.0.0")
    again = rc.CachedRunner(plain, kb.shapes, tmp_path)
    again.run(_data_graph(kb, request))
    assert (again.hits, again.misses) == (0, 1)
    monkeypatch.undo()
    back = rc.CachedRunner(plain, kb.shapes, tmp_path)
    back.run(_data_graph(kb, request))
    assert (back.hits, back.misses) == (1, 0)


def test_the_key_reads_every_input(kb):
    """What the key is made of: the pySHACL requirements by content, the runner's source, the
    shapes graph by content (its blank nodes' names do not matter), the prefixes."""
    env = rc.environment()
    for name in ("pyshacl==", "rdflib==", "pyparsing==", "reasoner/shacl/pyshacl_engine.py"):
        assert name in env, name
    renamed, names = Graph(), {}
    for triple in kb.shapes:
        renamed.add(tuple(names.setdefault(t, BNode()) if isinstance(t, BNode) else t for t in triple))
    for prefix, ns in kb.shapes.namespaces():
        renamed.bind(prefix, ns, override=True, replace=True)
    labels = rc.blank_labels(kb.shapes)
    assert len(set(labels.values())) == len(labels) == len(_blank(kb.shapes))
    assert rc.graph_key(renamed, rc.blank_labels(renamed)) == rc.graph_key(kb.shapes, labels)
    renamed.bind("zz", URIRef("urn:zz:"))
    assert rc.graph_key(renamed, rc.blank_labels(renamed)) != rc.graph_key(kb.shapes, labels)
    keys = set()
    for value in (Literal("1"), Literal("1", datatype=URIRef("http://www.w3.org/2001/XMLSchema#integer")),
                  Literal("1", lang="en"), URIRef("1"), Literal("1.0", datatype=URIRef("http://www.w3.org/2001/XMLSchema#decimal"))):
        g = Graph()
        g.add((EX.s, EX.p, value))
        keys.add(rc.graph_key(g, {}))
    assert len(keys) == 5  # a term's kind, datatype and language are read


def test_the_environment_variable_turns_it_off_or_moves_it(monkeypatch, tmp_path, reasoner_for):
    import reasoner

    monkeypatch.setenv(rc.ENV, "off")
    assert rc.cache_dir() is None
    ref = rc.install(reasoner.Reasoner(engine="pyshacl", kb=reasoner_for().kb))
    assert isinstance(ref._runner, ShapesRunner)
    monkeypatch.setenv(rc.ENV, str(tmp_path))
    assert rc.cache_dir() == tmp_path
    monkeypatch.delenv(rc.ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert rc.cache_dir() == tmp_path / "blincyto-tests" / "pyshacl"
