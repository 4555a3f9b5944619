"""Differential test: the compiled fast path and pySHACL (the reference) never disagree.

On every case of tests/cases (with its extra KB files) the two engines must give the same
determination, the same `conforms`, and the same validation results, result by result (focus node,
path, source shape, constraint component, severity, value, message). On seeded generated requests
(tests/requestgen.py: every pathway, every decision, missing and not-met failures) they must give the
same determination and the same (criterion shape, constraint component) results: 500 in the
everyday run (pySHACL costs about 45-120 ms a request, the largest single cost of the suite), 2,000
in CI (`.ci/run` runs this file again with DIFF_N=2000 after the README's command), DIFF_N=20000 for
a long run before a change to the compiler lands. The coverage test below reads 2,000 generated
requests whatever DIFF_N is (the fast engine alone: cheap), so every outcome the generator makes is
still seen on every run. The engines are the run's shared ones (conftest.py); each generated request
is evaluated once by each engine.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest
from rdflib import RDF, BNode, Graph
from rdflib.collection import Collection
from rdflib.namespace import SH

from requestgen import PATHWAYS, requests

HERE = Path(__file__).parent
CASES = sorted((HERE / "cases").glob("*.json"))
GENERATED = int(os.environ.get("DIFF_N", "500"))
CHUNK = 250


@pytest.fixture(scope="module")
def engines(reasoner_for, reference_for):
    """(fast, reference) reasoners per tuple of extra KB files: the run's shared ones (conftest.py),
    the reference over the fast engine's knowledge base (one shapes graph: the same node ids)."""
    return lambda kb=(): (reasoner_for(kb), reference_for(kb))


@pytest.fixture(scope="module")
def fast_outcomes():
    """Generated requests' fast-path determinations, by chunk: each request is evaluated once by
    each engine in this module, however many tests read it."""
    return {}


def _fast(fast, chunk: int, outcomes: dict) -> list[tuple[dict, dict, set]]:
    """(request, determination, (shape, component) results) of the chunk's requests, by the fast path."""
    if chunk not in outcomes:
        done = []
        for request in requests(min(CHUNK, max(GENERATED, 2000) - chunk), seed=chunk):
            ev = fast.evaluate_full(request)
            done.append((request, ev.determination, _owners(ev.report_graph, fast.kb)))
        outcomes[chunk] = done
    return outcomes[chunk]


def _results(report: Graph) -> Counter:
    """Every sh:result as a comparable tuple (blank-node paths as their lists)."""
    out: Counter = Counter()
    for r in report.objects(None, SH.result):
        path = report.value(r, SH.resultPath)
        if isinstance(path, BNode) and (path, RDF.first, None) in report:
            path = tuple(Collection(report, path))
        out[(report.value(r, SH.focusNode), path, report.value(r, SH.sourceShape),
             report.value(r, SH.sourceConstraintComponent), report.value(r, SH.resultSeverity),
             report.value(r, SH.value), frozenset(report.objects(r, SH.resultMessage)))] += 1
    return out


def _ground(g: Graph) -> set:
    return {t for t in g if not any(isinstance(x, BNode) for x in t)}


def _owners(report: Graph, kb) -> set:
    return {(kb.shape_owner.get(str(report.value(r, SH.sourceShape)), report.value(r, SH.sourceShape)),
             report.value(r, SH.sourceConstraintComponent)) for r in report.objects(None, SH.result)}


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_case_same_determination_and_report(engines, path):
    case = json.loads(path.read_text())
    fast, ref = engines(tuple(case.get("kb", ())))
    a, b = fast.evaluate_full(case["request"]), ref.evaluate_full(case["request"])
    assert a.determination == b.determination
    assert _results(a.report_graph) == _results(b.report_graph)
    # The whole report, up to blank-node names: the same triples, the same ground triples.
    assert len(a.report_graph) == len(b.report_graph)
    assert _ground(a.report_graph) == _ground(b.report_graph)


@pytest.mark.parametrize("chunk", range(0, GENERATED, CHUNK), ids=lambda c: f"requests-{c}")
def test_generated_same_determination(engines, fast_outcomes, chunk):
    fast, ref = engines()
    for request, determination, owners in _fast(fast, chunk, fast_outcomes)[:min(CHUNK, GENERATED - chunk)]:
        b = ref.evaluate_full(request)
        assert determination == b.determination, request
        assert owners == _owners(b.report_graph, ref.kb), request


def test_generated_requests_cover_every_pathway_decision_and_failure(engines, fast_outcomes):
    """The generator is worth its name: the reference sees every outcome the policy has."""
    fast, _ref = engines()
    decisions, pathways, failures = Counter(), Counter(), Counter()
    total = max(GENERATED, 2000)  # the fast engine alone, determinations only: cheap
    for chunk in range(0, total, CHUNK):
        if chunk in fast_outcomes:  # this worker ran the chunk's test: its determinations are here
            dets = [det for _request, det, _owners_ in fast_outcomes[chunk]]
        else:  # another worker did (pytest-xdist): the determinations alone, no report graph
            dets = [fast.evaluate(r) for r in requests(min(CHUNK, total - chunk), seed=chunk)]
        for det in dets:
            decisions[det["decision"]] += 1
            pathways.update(det["pathways"])
            failures.update((f["criterion"], f["kind"]) for f in det["failed"])
    assert set(decisions) == {"approve", "needs-info", "refer", "deny"}, decisions
    assert set(pathways) == set(PATHWAYS), pathways
    leaves = ["I.A.1", "I.A.2", "I.A.3", "I.A.4.a", "I.A.4.b", "I.A.4.b.i", "I.A.4.b.ii", "I.A.4.c",
              "I.A.4.c.i", "I.A.4.c.ii", "I.A.4.c.iii", "I.A.4.c.iv", "I.A.4.d", "I.A.4.e", "I.A.4.e.i",
              "I.A.4.e.ii", "I.A.5.a", "II.A.1", "II.A.2", "II.A.3.a"]
    for criterion in leaves:
        assert (criterion, "not-met") in failures, criterion
    for criterion in ["I.A.2", "I.A.4.a", "I.A.4.e", "I.A.5.a", "I.A.5.b", "II.A.1", "II.A.2", "II.A.3.b"]:
        assert (criterion, "missing") in failures, criterion
