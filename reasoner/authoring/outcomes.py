"""Every criterion's three-valued status for one request: what coverage, witnesses and impact compare.

The determination lists only what failed; an author reviewing a change also needs what held. This
re-reads the same per-shape results through the explainer, for every criterion of the request's
root and every pathway under it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from rdflib import RDF

from reasoner.flow.engine import Reasoner
from reasoner.flow.explain import Explainer, Truth
from reasoner.policy.kb import Criterion, KnowledgeBase


@dataclass
class Outcome:
    """A request's determination, with each criterion's status and each pathway's."""

    determination: dict[str, Any]
    root: Criterion
    pathways: dict[str, Truth]  # pathway number -> truth with its branch selected
    explainer: Explainer

    @property
    def decision(self) -> str:
        return str(self.determination["decision"])

    @cached_property
    def status(self) -> dict[str, Truth]:
        """Criterion number -> own condition (shaped) or whole truth (others), for every criterion of
        the root's tree: read when asked (coverage and impact do; the witness search, which reads
        about a thousand outcomes a version, reads only the pathways)."""
        e = self.explainer
        return {c.number: (e.own(c) if c.shape is not None else e.truth(c)) for c in subtree(e.kb, self.root)}


def subtree(kb: KnowledgeBase, c: Criterion) -> list[Criterion]:
    """`c` and every criterion below it, in the policy's order."""
    out = [c]
    for child in c.children:
        out.extend(subtree(kb, kb.criteria[child]))
    return out


def outcome(reasoner: Reasoner, request: dict[str, Any]) -> Outcome:
    """Evaluate `request` (raises InvalidRequest) and read back every criterion's status."""
    ev = reasoner.evaluate_full(request)
    kb = reasoner.kb
    # the run the determination was decided from (validating the same graph again gave the same report
    # at twice the cost: the witness search evaluates about a thousand requests a version)
    report = ev.report if ev.report is not None else reasoner.shape_report(ev.request_graph)
    root = kb.root_for(set(ev.request_graph.objects(ev.request_iri, RDF.type)))
    explainer = Explainer(kb, report, root)  # every truth of the tree at once, as decide reads them
    return Outcome(ev.determination, root, explainer.pathway_truths(root), explainer)
