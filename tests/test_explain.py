"""The explainer's shortcuts give what its definitions give.

`Explainer.pathway_truths` (the branch truth assembled from remembered truths, used by decide) must
equal `truth(root, only)` (the branch-restricted walk that defines it), and the remembered `truth`
must equal a fresh evaluation, on every case of tests/cases and on 1,000 generated requests with
every pathway, decision and failure kind.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from requestgen import requests

CASES = sorted((Path(__file__).parent / "cases").glob("*.json"))


@pytest.fixture(scope="module")
def reasoner_():
    import reasoner

    return reasoner.default_reasoner()


def _both_ways(r, request):
    from reasoner.flow.explain import Explainer
    from reasoner.policy.kb import TYPE

    ev = r.evaluate_full(request)
    report = r.shape_report(ev.request_graph)
    root = r.kb.root_for(set(ev.request_graph.objects(ev.request_iri, TYPE)))
    fast = Explainer(r.kb, report)
    by_definition = {p.number: Explainer(r.kb, report).truth(root, only) for p, only in fast.pathways(root)}
    assert fast.pathway_truths(root) == by_definition
    # remembered truths (asked twice, in another order) equal fresh ones
    for c in reversed(fast.leaves(root)):
        assert fast.truth(c) is Explainer(r.kb, report).truth(c)
    # the tree written out as code (Explainer with its root): every truth and finding the same
    settled = Explainer(r.kb, report, root)
    assert settled.pathway_truths(root) == by_definition
    assert list(settled.pathway_truths(root)) == list(by_definition)
    walker = Explainer(r.kb, report)
    for c in r.kb.criteria.values():
        assert settled.own(c) is walker.own(c) and settled.truth(c) is walker.truth(c), c.number
    assert settled.findings(root) == _findings_by_definition(walker, root, None)
    for _pathway, only in settled.pathways(root):
        assert settled.findings(root, only) == _findings_by_definition(walker, root, only)
    return by_definition


def _findings_by_definition(ex, c, only):
    """Explainer.findings as its docstring defines it, walked afresh (no remembered findings)."""
    from reasoner.flow.explain import Finding, Truth

    if ex.truth(c, only) is Truth.MET:
        return []
    own = ex.own(c)
    out = [] if own is Truth.MET else [Finding(c, own)]
    if own is Truth.NOT_MET or c.combination is None:
        return out
    for i in c.children:
        if c.combination == "any" and only is not None and c.iri in only and i not in only:
            continue
        out.extend(_findings_by_definition(ex, ex.kb.criteria[i], only))
    return out


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_pathway_truths_on_cases(reasoner_, case):
    data = json.loads(case.read_text())
    if data.get("kb"):
        pytest.skip("extra KB files: covered by the generated requests")
    _both_ways(reasoner_, data["request"])


def test_pathway_truths_on_generated_requests(reasoner_):
    seen = set()
    for request in requests(1000, seed=5):
        truths = _both_ways(reasoner_, request)
        seen.update((n, t.value) for n, t in truths.items())
    # every pathway was seen met, missing and not met somewhere
    pathways = {n for n, _ in seen}
    assert all((n, v) in seen for n in pathways for v in ("met", "not-met")), sorted(seen)
