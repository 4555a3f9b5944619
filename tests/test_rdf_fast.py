"""The fast RDF output is the same graph as the rdflib reference (issue 16, item 1).

`provenance.determination_nquads` writes a determination's dataset (PROV-O record, request graph,
validation report) as N-Quads text directly; `provenance.determination_graph` builds it in rdflib
and stays the reference. For every case of tests/cases, every FHIR example, a sample of generated
requests, the pySHACL engine's reports and hostile ids, both are parsed and compared:

- the whole dataset, canonicalised with RDFC-1.0 (Oxigraph), so blank nodes are compared up to their
  names *and* a blank node shared by two graphs (a blank focus node of the request graph is the same
  node in its report) must be shared in both;
- graph by graph, the request graph and the PROV-O graph also with `rdflib.compare.isomorphic`, rdflib
  reading those graphs' lines of the fast text (the report graph, ~500 triples with ~100 blank nodes,
  takes rdflib minutes: RDFC-1.0 only). The reference dataset is built once per evaluation.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyoxigraph as ox
import pytest
from rdflib import Dataset, URIRef
from rdflib.compare import isomorphic

from reasoner.fhir.evaluate import evaluate_bundle
from reasoner.flow.check import InvalidRequest
from reasoner.flow.provenance import SHAPE_COPIES_GRAPH, SHAPE_COPY, determination_graph, determination_nquads
from reasoner.pipelines.batch import Format, run_batch
from reasoner.sparql.store import determination_nquads as store_nquads
from requestgen import requests

HERE = Path(__file__).parent
CASES = sorted((HERE / "cases").glob("*.json"))
FHIR = sorted((HERE.parent / "examples" / "fhir").glob("*.bundle.json"))
EXAMPLES = HERE.parent / "examples"
BASE = "urn:blincyto:determination:0b9f3f7e-4e0c-4d8a-9a53-3f5c2d1e0a11"
HOSTILE_IDS = ["x\x1b[2K\r\x1b[1A\nDecision: APPROVE\x1b[0m", "\u202eEVORPPA", "tab\there", "bell\x07", "nul\x00",
               "del\x7f", "c1\x9b31m", "line\u2028sep", 'quote"and\\back<slash>', "é" * 256, "😀" * 256]


def _canonical(quads) -> set:
    dataset = ox.Dataset(quads)
    dataset.canonicalize(ox.CanonicalizationAlgorithm.RDFC_1_0)
    return set(dataset)


def assert_same_dataset(ev) -> str:
    """The fast text and the reference dataset: the same graph (see the module doc); returns the text."""
    iri, text = determination_nquads(ev, BASE)
    assert iri == BASE
    fast = list(ox.parse(text, format=ox.RdfFormat.N_QUADS))
    ref_ds = determination_graph(ev, BASE)
    reference = list(ox.parse(ref_ds.serialize(format="nquads"), format=ox.RdfFormat.N_QUADS))
    assert _canonical(fast) == _canonical(reference)
    # rdflib reads the fast text's lines of the two graphs it compares (one quad a line, in order)
    lines = text.splitlines()
    assert len(lines) == len(fast), "not one quad a line"
    compared = (ox.NamedNode(f"{BASE}:request"), ox.DefaultGraph())
    fast_ds = Dataset()
    fast_ds.parse(data="\n".join(line for line, q in zip(lines, fast) if q.graph_name in compared) + "\n",
                  format="nquads")
    for name in (URIRef(f"{BASE}:request"), ref_ds.default_graph.identifier):
        other = fast_ds.default_graph if name == ref_ds.default_graph.identifier else fast_ds.graph(name)
        assert isomorphic(ref_ds.graph(name), other), name
    return text


def _case_requests() -> list:
    return [pytest.param(json.loads(path.read_text()), id=path.stem) for path in CASES]


@pytest.mark.parametrize("case", _case_requests())
def test_every_case_gives_the_same_dataset(reasoner_for, case):
    engine = reasoner_for(tuple(case.get("kb", ())))
    try:
        ev = engine.evaluate_full(case["request"])
    except InvalidRequest:
        pytest.skip("a case of a rejected request: no determination")
    assert_same_dataset(ev)


@pytest.mark.parametrize("seed", range(4))
def test_generated_requests_give_the_same_dataset(reasoner_for, seed):
    engine = reasoner_for()
    for request in requests(40, seed=100 + seed):
        assert_same_dataset(engine.evaluate_full(request))


@pytest.mark.parametrize("path", FHIR, ids=lambda p: p.stem)
def test_fhir_determinations_with_sources_give_the_same_dataset(reasoner_for, path):
    fe = evaluate_bundle(json.loads(path.read_text()), reasoner_for())
    assert fe.determination.get("sources")
    assert_same_dataset(fe.evaluation)


def test_the_pyshacl_engine_report_is_copied_as_the_same_graph(reference_for):
    engine = reference_for(())
    for request in requests(6, seed=7):
        ev = engine.evaluate_full(request)
        assert ev.report is None or ev.report.parts is None  # no compiled results: the graph is copied
        assert_same_dataset(ev)


@pytest.mark.parametrize("request_id", HOSTILE_IDS, ids=repr)
def test_hostile_ids_are_escaped_and_give_the_same_dataset(reasoner_for, request_id):
    request = json.loads((EXAMPLES / "refer-initial-t-all-him.json").read_text())
    request |= {"id": request_id, "regimen": {"with": ["\x1b[31mAgent\nDecision: APPROVE", "dasatinib\x00"]}}
    text = assert_same_dataset(reasoner_for().evaluate_full(request))
    assert all(ch.isprintable() or ch == "\n" for ch in text), "a control character reached the N-Quads"
    assert "\u202e" not in text and "\u2028" not in text


COPIES = ox.NamedNode(SHAPE_COPIES_GRAPH)


def _unshared(quads: list, report_graph: ox.NamedNode) -> list:
    """The store's text as the report it stands for: the shape copies moved into the report graph and
    their skolem IRIs made blank nodes again (each copy is then the report's own, as pySHACL makes it)."""
    def node(t):
        return ox.BlankNode("c" + t.value.rsplit(":", 1)[1].replace("-", "x")) if (
            isinstance(t, ox.NamedNode) and t.value.startswith(SHAPE_COPY)) else t
    return [ox.Quad(node(q.subject), q.predicate, node(q.object), report_graph if q.graph_name == COPIES else q.graph_name)
            for q in quads]


def assert_store_layout(ev, written: set | None = None) -> list:
    """The store's text of one determination: the reference dataset with the PROV-O record in its own
    graph (which the activity names) and the report's shape copies in SHAPE_COPIES_GRAPH."""
    iri, text = store_nquads(ev, written)
    base = ox.NamedNode(iri)
    prov = ox.NamedNode(f"{iri}:provenance")
    expected = []
    for q in _reference_quads_at(ev, iri):
        graph = prov if isinstance(q.graph_name, ox.DefaultGraph) else q.graph_name
        expected.append(ox.Quad(q.subject, q.predicate, q.object, graph))
    expected.append(ox.Quad(base, ox.NamedNode("https://w3id.org/blincyto-pa/ontology#describedIn"), prov, prov))
    quads = list(ox.parse(text, format=ox.RdfFormat.N_QUADS))
    assert _canonical(_unshared(quads, ox.NamedNode(f"{iri}:validation-report"))) == _canonical(expected)
    return quads


def _reference_quads_at(ev, base: str) -> list:
    return list(ox.parse(determination_graph(ev, base).serialize(format="nquads"), format=ox.RdfFormat.N_QUADS))


def test_the_store_layout_moves_the_prov_o_record_and_the_shape_copies_into_their_graphs(reasoner_for):
    for request in requests(12, seed=5):
        quads = assert_store_layout(reasoner_for().evaluate_full(request))
        copies = [q for q in quads if q.graph_name == COPIES]
        assert all(isinstance(t, ox.NamedNode) and t.value.startswith(SHAPE_COPY) for q in copies
                   for t in (q.subject,)), "a shape copy is named by its skolem IRI"
        assert not any(isinstance(t, ox.BlankNode) for q in copies for t in (q.subject, q.object))


@pytest.mark.parametrize("case", _case_requests()[::4])
def test_every_fourth_case_in_the_store_layout_is_the_same_report(reasoner_for, case):
    engine = reasoner_for(tuple(case.get("kb", ())))
    try:
        ev = engine.evaluate_full(case["request"])
    except InvalidRequest:
        pytest.skip("a case of a rejected request: no determination")
    assert_store_layout(ev)


def test_shape_copies_are_written_once_a_transaction_and_named_alike_in_every_process(reasoner_for, tmp_path):
    import subprocess
    import sys

    engine = reasoner_for()
    evs = [engine.evaluate_full(r) for r in requests(20, seed=21)]
    written: set = set()
    texts = [store_nquads(ev, written)[1] for ev in evs]
    alone = [store_nquads(ev)[1] for ev in evs]
    copy_lines = [line for t in texts for line in t.splitlines() if line.endswith(f"<{SHAPE_COPIES_GRAPH}> .")]
    assert len(copy_lines) == len(set(copy_lines)), "a copy written twice in one transaction"
    assert sum(t.count("\n") for t in texts) < sum(t.count("\n") for t in alone)
    assert set(copy_lines) == {line for t in alone for line in t.splitlines() if line.endswith(f"<{SHAPE_COPIES_GRAPH}> .")}
    # Another process (another hash seed: other set orders) names and writes every copy alike.
    script = (
        "import json, sys\n"
        "sys.path[:0] = [sys.argv[1], sys.argv[1] + '/tests']\n"
        "from requestgen import requests\n"
        "from reasoner.flow.engine import default_reasoner\n"
        "from reasoner.sparql.store import determination_nquads\n"
        "e = default_reasoner()\n"
        "print(json.dumps([determination_nquads(e.evaluate_full(r))[1] for r in requests(20, seed=21)]))\n")
    other = json.loads(subprocess.run([sys.executable, "-c", script, str(HERE.parent)], check=True, capture_output=True,
                                      text=True, env={**__import__("os").environ, "PYTHONHASHSEED": "12345"}).stdout)
    theirs = {line for t in other for line in t.splitlines() if line.endswith(f"<{SHAPE_COPIES_GRAPH}> .")}
    assert theirs == set(copy_lines)
    # Stored, the reports name copies the store holds.
    from reasoner.sparql import store as st

    with st.open_store(tmp_path / "st") as s:
        s.add_all(evs[:10])
        s.add_all(evs[10:], bulk=True)
        missing = list(s.query(st.with_prefixes(f"""
            SELECT ?c WHERE {{ GRAPH ?g {{ ?r sh:sourceShape|sh:resultPath ?c }}
                               FILTER(STRSTARTS(STR(?c), "{SHAPE_COPY}"))
                               FILTER NOT EXISTS {{ GRAPH <{SHAPE_COPIES_GRAPH}> {{ ?c ?p ?o }} }} }}""")))
    assert missing == []


def test_a_batch_file_never_shares_a_blank_node_between_determinations(tmp_path, reasoner_for):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in requests(12, seed=9)))
    out = tmp_path / "out.nq"
    summary = run_batch(src, out, Format.nq, workers=1)
    assert summary.errors == 0
    text = out.read_text()
    quads = list(ox.parse(text, format=ox.RdfFormat.N_QUADS))  # the mark lines are comments
    owners: dict[str, set] = {}
    for q in quads:
        graph = q.graph_name.value if isinstance(q.graph_name, ox.NamedNode) else None
        determination = re.match(r"urn:blincyto:determination:[0-9a-f-]+", graph).group(0) if graph else None
        for t in (q.subject, q.object):
            if isinstance(t, ox.BlankNode) and determination:
                owners.setdefault(t.value, set()).add(determination)
    assert owners and all(len(d) == 1 for d in owners.values())
    assert len({m for m in re.findall(r"urn:blincyto:determination:[0-9a-f-]+", text)}) == 12


def test_batch_store_adds_every_determination_and_no_error_row(tmp_path):
    from typer.testing import CliRunner

    from reasoner.cli import app
    from reasoner.sparql import store as st

    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in requests(9, seed=11)) + "{not json\n")
    result = CliRunner().invoke(app, ["batch", str(src), "-o", str(tmp_path / "out.jsonl"), "--store",
                                      str(tmp_path / "st"), "-w", "1"])
    assert result.exit_code == 1, result.stderr  # the error row
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    ids = sorted(r["id"] for r in rows if "error" not in r)
    assert len(ids) == 9
    with st.open_store(tmp_path / "st") as s:
        found = sorted(str(row["id"].value) for row in s.query(st.with_prefixes(
            "SELECT ?id { ?d a bx:Determination ; bx:requestId ?id }")))
    assert found == ids
    spark = CliRunner().invoke(app, ["batch", str(src), "-o", str(tmp_path / "o2"), "--store", "x", "--spark"])
    assert spark.exit_code == 2 and "--store is not available with --spark" in spark.stderr
