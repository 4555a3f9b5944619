"""The direct lift (triples written from the compiled JSON-LD context) equals rdflib's JSON-LD parse of
the same request, graph-isomorphically and with the same prefixes, on every case, every example,
generated requests and hypothesis' valid requests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given

from reasoner.flow.check import check_request
from reasoner.flow.lift import lift, lift_jsonld
from graph_compare import isomorphic_graphs
from requestgen import requests
from test_properties import LOCAL, valid_requests

HERE = Path(__file__).parent
FILES = sorted((HERE / "cases").glob("*.json")) + sorted((HERE.parent / "examples").glob("*.json"))


def _same(request: dict) -> None:
    direct, node = lift(request)
    parsed, node2 = lift_jsonld(request)
    assert node == node2
    assert isomorphic_graphs(direct, parsed), request  # rdflib's isomorphic (tests/graph_compare.py)
    assert dict(direct.namespaces()) == dict(parsed.namespaces())


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_direct_lift_equals_jsonld_lift(path):
    data = json.loads(path.read_text())
    _same(check_request(data.get("request", data)))


def test_direct_lift_equals_jsonld_lift_generated():
    for request in requests(300, seed=3):
        _same(check_request(request))


@LOCAL
@given(valid_requests())
def test_direct_lift_equals_jsonld_lift_hypothesis(request):
    _same(check_request(request))


def test_unmapped_and_unusual_values_fall_back_to_the_parser():
    """Keys the context does not map are dropped, as JSON-LD drops them; odd values still agree."""
    base = check_request(json.loads(FILES[0].read_text())["request"])
    _same({**base, "not_in_context": 1, "member": {**base["member"], "extra": {"x": 1}}})
    _same({**base, "regimen": {"with": [], "mode": "single-agent", "cycle": 2, "day": 3}})


def test_blank_node_labels_differ_between_forked_workers():
    """The blank-node prefix is drawn again in a forked child: two workers never share a label."""
    import multiprocessing
    import os

    from reasoner.shacl.datagraph import blank

    if not hasattr(os, "fork"):
        pytest.skip("no fork here")
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    children = [ctx.Process(target=_first_blank, args=(queue,)) for _ in range(2)]
    for child in children:
        child.start()
    labels = [queue.get(timeout=30) for _ in children]
    for child in children:
        child.join(timeout=30)
    labels.append(str(blank()))
    assert len(set(labels)) == 3, labels


def _first_blank(queue) -> None:
    """A forked child's first blank node (each child starts from the parent's counter)."""
    from reasoner.shacl.datagraph import blank

    queue.put(str(blank()))


def test_the_split_comparison_answers_as_rdflib_isomorphic():
    """tests/graph_compare.py's `isomorphic_graphs` (the comparison above) gives rdflib's answer on a
    request graph against itself renamed (True) and against small changes of either part (False)."""
    from rdflib import BNode, Literal
    from rdflib.compare import isomorphic

    for request in requests(12, seed=4):
        g, _node = lift(check_request(request))
        names: dict = {}
        renamed = g.__class__()
        for t in g:
            renamed.add(tuple(names.setdefault(x, BNode()) if isinstance(x, BNode) else x for x in t))
        triples = sorted(g, key=str)
        with_blank = [t for t in triples if any(isinstance(x, BNode) for x in t)]
        ground = [t for t in triples if t not in with_blank]
        variants = [renamed]
        for drop in (with_blank[0], ground[0]):  # a triple fewer, of each part
            variants.append(renamed.__class__())
            for t in g:
                if t != drop:
                    variants[-1].add(t)
        s, p, o = with_blank[-1]  # a blank node's value changed; its triple moved to a new blank node
        variants.append(g.__class__())
        for t in g:
            variants[-1].add((s, p, Literal("changed")) if t == (s, p, o) else t)
        variants.append(g.__class__())
        for t in g:
            variants[-1].add(tuple(BNode() if x == s and isinstance(x, BNode) and t == (s, p, o) else x for x in t))
        answers = [isomorphic_graphs(g, v) for v in variants]
        assert answers == [isomorphic(g, v) for v in variants]
        assert answers[:4] == [True, False, False, False], answers  # the last: either, as rdflib says
