"""The default engine's shapes runner (the compiled shapes) gives the same validation results as a
plain `pyshacl.validate` call over the same enriched request graph and shapes graph, on every example
and the first 40 cases. tests/test_fastpath_differential.py holds the compiled shapes to the cached
pySHACL runner (`reasoner.shacl.pyshacl_engine.ShapesRunner`) on every case: so the cached runner and
the plain call agree too. The plain call's answers are kept between runs by content
(tests/reference_cache.py; `BLINCYTO_PYSHACL_CACHE=off` computes each)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rdflib.namespace import SH

import reasoner
from reasoner.flow.check import check_request
from reasoner.flow.enrich import enrich
from reasoner.flow.lift import lift
from reasoner.shacl.pyshacl_engine import reference_validate
from reference_cache import cached_validate

HERE = Path(__file__).parent
REQUESTS = sorted((HERE.parent / "examples").glob("*.json")) + sorted((HERE / "cases").glob("*.json"))[:40]


def _results(report):
    return sorted((str(report.value(r, SH.sourceShape)), str(report.value(r, SH.sourceConstraintComponent)),
                   str(report.value(r, SH.resultSeverity)))
                  for r in report.objects(None, SH.result))


@pytest.mark.parametrize("path", REQUESTS, ids=lambda p: p.stem)
def test_cached_runner_matches_pyshacl(path):
    r = reasoner.default_reasoner()
    data = json.loads(path.read_text())
    request = check_request(data.get("request", data))
    graph, node = lift(request)
    enrich(graph, node, request, r.kb, r.kb.policies[request["policy"]])
    fast = r._runner.run(graph)
    conforms, report = cached_validate(reference_validate, graph, r.kb.shapes)
    assert fast.conforms == conforms
    assert _results(fast.graph) == _results(report)
