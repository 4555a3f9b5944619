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


def _is_tree(kb: KnowledgeBase) -> bool:
    """No criterion is a part of two (once per knowledge base): then a branch's criteria are exactly
    the ancestors of its pathway, and nothing below a criterion off the branch is on it."""
    found = kb.__dict__.get("_criteria_tree")
    if found is None:
        parts = [i for c in kb.criteria.values() for i in c.children]
        found = kb.__dict__["_criteria_tree"] = len(parts) == len(set(parts))
    return found


class Explainer:
    """The criteria tree over one report. Truths are remembered: one report, many questions."""

    def __init__(self, kb: KnowledgeBase, report: Report, root: Criterion | None = None) -> None:
        """`root`: the tree this report is asked about; its truths are then worked out at once, by the
        tree written out as code (`_settled`), instead of criterion by criterion."""
        self.kb = kb
        self.report = report
        self._own: dict[URIRef, Truth] = {}
        self._truth: dict[URIRef, Truth] = {}  # unrestricted truth (no `only`)
        self._pathway_truths: dict[str, Truth] | None = None
        self._restricted: dict[tuple[URIRef, frozenset[URIRef]], Truth] = {}
        self._found: dict[URIRef, list[Finding]] = {}  # unrestricted findings, asked by every branch
        if root is not None:
            self._own, self._truth, self._pathway_truths = _per_kb(kb, "settled", root, self._settled)(
                report.by_shape)

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
        key = (c.iri, only)  # a branch's truths, asked again by each finding below them
        known = self._restricted.get(key)
        if known is None:
            known = self._restricted[key] = self._combined(c, only)
        return known

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
        if self._pathway_truths is not None:
            return dict(self._pathway_truths)
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

    def _settled(self, root: Criterion):
        """The tree under `root` (and its bx:otherwise sections) as one Python function of a report's
        results by shape: every criterion's own and whole truth, and every pathway's, in one pass.

        Kleene logic on MET < MISSING < NOT_MET is max for all-of and min for any-of, so a criterion
        is max(own, max or min of its parts); a pathway is the all-of of its plan (`_plans`), its own
        part restricted to its branch: an any-of pathway counts none of its children (none is on
        the branch). tests/test_explain.py compares this with the criterion-by-criterion walk."""
        order: list[Criterion] = []
        seen: set[URIRef] = set()

        def walk(c: Criterion) -> None:
            if c.iri in seen:
                return
            seen.add(c.iri)
            for i in c.children:
                walk(self.kb.criteria[i])
            order.append(c)  # parts before the whole

        section: Criterion | None = root
        while section is not None and section.iri not in seen:
            walk(section)
            section = self.kb.criteria.get(section.otherwise) if section.otherwise is not None else None
        at = {c.iri: j for j, c in enumerate(order)}
        consts: dict[str, object] = {"T": (Truth.MET, Truth.MISSING, Truth.NOT_MET)}
        lines = ["def settled(v):"]
        for j, c in enumerate(order):
            if c.shape is None:
                own = "0"
            else:
                consts[f"S{j}"] = c.shape
                if c.open_shape is None:
                    own = f"2 if S{j} in v else 0"
                else:
                    consts[f"O{j}"] = c.open_shape
                    own = f"(2 if O{j} in v else 1) if S{j} in v else 0"
            lines.append(f"    o{j} = {own}")
            parts = [f"t{at[i]}" for i in c.children]
            if c.combination is None or (c.combination == "all" and not parts):
                whole = f"o{j}"
            elif c.combination == "all":
                whole = f"max(o{j}, {', '.join(parts)})"
            else:
                whole = f"max(o{j}, min({', '.join(parts)}))" if len(parts) > 1 else (
                    f"max(o{j}, {parts[0]})" if parts else "2")
            lines.append(f"    t{j} = {whole}")
            consts[f"C{j}"] = c.iri
        pathways = []
        for k, (p, _only, above, beside) in enumerate(_per_kb(self.kb, "plans", root, self._plans)):
            restricted = "2" if p.combination == "any" else f"t{at[p.iri]}"
            terms = [f"o{at[c.iri]}" for c in above] + [f"t{at[c.iri]}" for c in beside] + [restricted]
            lines.append(f"    p{k} = max({', '.join(terms)})" if len(terms) > 1 else f"    p{k} = {terms[0]}")
            consts[f"P{k}"] = p.number
            pathways.append(k)
        own_map = ", ".join(f"C{j}: T[o{j}]" for j in range(len(order)))
        whole_map = ", ".join(f"C{j}: T[t{j}]" for j in range(len(order)))
        pathway_map = ", ".join(f"P{k}: T[p{k}]" for k in pathways)
        lines.append(f"    return {{{own_map}}}, {{{whole_map}}}, {{{pathway_map}}}")
        namespace = dict(consts)
        exec(compile("\n".join(lines) + "\n", f"<criteria tree {root.number}>", "exec"), namespace)  # noqa: S102
        return namespace["settled"]

    def findings(self, c: Criterion, only: frozenset[URIRef] | None = None) -> list[Finding]:
        """The criteria to report under `c`: own conditions that fail, then failing parts.

        A branch whose own condition is not met is reported by that condition alone.
        """
        if only is not None and c.iri not in only and _is_tree(self.kb):
            only = None  # nothing below a criterion off the branch is on it: the unrestricted findings
        if only is None:
            known = self._found.get(c.iri)
            if known is None:
                known = self._found[c.iri] = self._findings(c, None)
            return list(known)
        return self._findings(c, only)

    def _findings(self, c: Criterion, only: frozenset[URIRef] | None) -> list[Finding]:
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
