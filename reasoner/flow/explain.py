"""Explain: combine the leaf results through the policy's criteria tree, with three values.

A leaf is MET when its shape reports nothing, NOT_MET when a fact that was sent contradicts it (its
open shape reports, or it has none), and MISSING otherwise. All-of and any-of combine with Kleene
logic. Nothing here knows a criterion number: the tree and the shapes come from the graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from rdflib import URIRef

from reasoner.policy.kb import Criterion, KnowledgeBase
from reasoner.shacl.report import Report


class Truth(Enum):
    MET = "met"
    MISSING = "missing"
    NOT_MET = "not-met"


def k_and(values: list[Truth]) -> Truth:
    if Truth.NOT_MET in values:
        return Truth.NOT_MET
    return Truth.MISSING if Truth.MISSING in values else Truth.MET


def k_or(values: list[Truth]) -> Truth:
    if Truth.MET in values:
        return Truth.MET
    return Truth.MISSING if Truth.MISSING in values else Truth.NOT_MET


@dataclass(frozen=True)
class Finding:
    """A criterion whose own condition does not hold for this request."""

    criterion: Criterion
    truth: Truth


def _per_kb(kb: KnowledgeBase, what: str, root: Criterion, make):
    """`make(root)`, kept on the knowledge base (which never changes once loaded)."""
    cache = kb.__dict__.setdefault("_tree_" + what, {})
    found = cache.get(root.iri)
    if found is None:
        found = cache[root.iri] = make(root)
    return found


class Explainer:
    """The criteria tree over one report. Truths are remembered: one report, many questions."""

    def __init__(self, kb: KnowledgeBase, report: Report) -> None:
        self.kb = kb
        self.report = report
        self._own: dict[URIRef, Truth] = {}
        self._truth: dict[URIRef, Truth] = {}  # unrestricted truth (no `only`)

    # -- leaves ---------------------------------------------------------------------------------

    def own(self, c: Criterion) -> Truth:
        """The criterion's own condition (MET when it states none)."""
        known = self._own.get(c.iri)
        if known is None:
            known = self._own[c.iri] = self._own_truth(c)
        return known

    def _own_truth(self, c: Criterion) -> Truth:
        if c.shape is None or not self.report.violated(c.shape):
            return Truth.MET
        if c.open_shape is None or self.report.violated(c.open_shape):
            return Truth.NOT_MET
        return Truth.MISSING

    # -- tree -----------------------------------------------------------------------------------

    def truth(self, c: Criterion, only: frozenset[URIRef] | None = None) -> Truth:
        """Truth of `c`; with `only`, any-of nodes on that branch count only the branch's child.

        `only` is a branch from the root, so below a criterion off the branch it changes nothing.
        """
        if only is not None and c.iri not in only:
            only = None
        if only is None:
            known = self._truth.get(c.iri)
            if known is None:
                known = self._truth[c.iri] = self._combined(c, None)
            return known
        return self._combined(c, only)

    def _combined(self, c: Criterion, only: frozenset[URIRef] | None) -> Truth:
        own = self.own(c)
        if own is Truth.NOT_MET or c.combination is None:
            return own
        children = [self.kb.criteria[i] for i in c.children]
        if c.combination == "any" and only is not None and c.iri in only:
            children = [k for k in children if k.iri in only]
        parts = [self.truth(k, only) for k in children]
        return k_and([own, k_and(parts) if c.combination == "all" else k_or(parts)])

    def pathway_truths(self, root: Criterion) -> dict[str, Truth]:
        """Truth of every pathway under `root` (its branch, as `truth(root, only)` gives it).

        Kleene all-of is associative, so a branch's truth is the all-of of: the own conditions of the
        criteria above the pathway, the whole truth of the other parts of each all-of above it, and
        the pathway's own truth. Which criteria those are is the tree's business (worked out once per
        knowledge base); per request only remembered truths are combined."""
        return {p.number: k_and([*(self.own(c) for c in above), *(self.truth(c) for c in beside),
                                 self.truth(p, only)])
                for p, only, above, beside in _per_kb(self.kb, "plans", root, self._plans)}

    def _plans(self, root: Criterion) -> tuple:
        plans = []
        for pathway, only in self.pathways(root):
            above: list[Criterion] = []
            beside: list[Criterion] = []
            c = root
            while c.iri != pathway.iri:
                above.append(c)
                kids = [self.kb.criteria[i] for i in c.children]
                on_branch = [k for k in kids if k.iri in only]
                if len(on_branch) != 1:
                    raise ValueError(f"{pathway.number}: the branch from {root.number} is not one path")
                if c.combination == "all":
                    beside.extend(k for k in kids if k.iri not in only)
                c = on_branch[0]
            plans.append((pathway, only, tuple(above), tuple(beside)))
        return tuple(plans)

    def findings(self, c: Criterion, only: frozenset[URIRef] | None = None) -> list[Finding]:
        """The criteria to report under `c`: own conditions that fail, then failing parts.

        A branch whose own condition is not met is reported by that condition alone.
        """
        if self.truth(c, only) is Truth.MET:
            return []
        own = self.own(c)
        out = [] if own is Truth.MET else [Finding(c, own)]
        if own is Truth.NOT_MET or c.combination is None:
            return out
        for i in c.children:
            if c.combination == "any" and only is not None and c.iri in only and i not in only:
                continue
            out.extend(self.findings(self.kb.criteria[i], only))
        return out

    # -- pathways -------------------------------------------------------------------------------

    def pathways(self, root: Criterion) -> tuple[tuple[Criterion, frozenset[URIRef]], ...]:
        """Every pathway under `root`, with the branch (its ancestors and itself) that selects it.

        The tree is the knowledge base's: worked out once per root, not per request."""
        return _per_kb(self.kb, "pathways", root, self._pathways)

    def _pathways(self, root: Criterion) -> tuple[tuple[Criterion, frozenset[URIRef]], ...]:
        out: list[tuple[Criterion, frozenset[URIRef]]] = []

        def walk(c: Criterion, trail: tuple[URIRef, ...]) -> None:
            trail = trail + (c.iri,)
            if c.is_pathway:
                out.append((c, frozenset(trail)))
            for i in c.children:
                walk(self.kb.criteria[i], trail)

        walk(root, ())
        return tuple(out)

    def leaves(self, root: Criterion) -> tuple[Criterion, ...]:
        """The criteria under `root` that have a shape of their own, in the policy's order."""
        return _per_kb(self.kb, "leaves", root, self._leaves)

    def _leaves(self, root: Criterion) -> tuple[Criterion, ...]:
        out: list[Criterion] = []

        def walk(c: Criterion) -> None:
            if c.shape is not None:
                out.append(c)
            for i in c.children:
                walk(self.kb.criteria[i])

        walk(root)
        return tuple(out)

    def first_met_leaf(self, c: Criterion) -> Criterion | None:
        """Referral sections: the first criterion, in the policy's order, that applies."""
        if self.own(c) is not Truth.MET:
            return None
        if c.combination is None:
            return c
        for i in c.children:
            found = self.first_met_leaf(self.kb.criteria[i])
            if found is not None:
                return found
            if c.combination == "all":
                return None
        return None
