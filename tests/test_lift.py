"""The direct lift (triples written from the compiled JSON-LD context) equals rdflib's JSON-LD parse of
the same request, graph-isomorphically and with the same prefixes, on every case, every example,
generated requests and hypothesis' valid requests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from rdflib.compare import isomorphic

from reasoner.flow.check import check_request
from reasoner.flow.lift import lift, lift_jsonld
from requestgen import requests
from test_properties import LOCAL, valid_requests

HERE = Path(__file__).parent
FILES = sorted((HERE / "cases").glob("*.json")) + sorted((HERE.parent / "examples").glob("*.json"))


def _same(request: dict) -> None:
    direct, node = lift(request)
    parsed, node2 = lift_jsonld(request)
    assert node == node2
    assert isomorphic(direct, parsed), request
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
