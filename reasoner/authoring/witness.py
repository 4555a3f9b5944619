"""Witnesses: for every pathway, a request that satisfies it and a twin that fails it only there.

Both are found by search, not written by hand: start from a request with only the contract's
required fields, then repeatedly give each field that a failing criterion of the pathway reads the
value (among those the shapes and the KB mention, space.py) that leaves the fewest criteria failing,
as the engine itself evaluates it. A pathway the search cannot satisfy is reported unreachable with
what still fails: shapes that contradict each other, or a fact no request field can set.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from rdflib import Graph, URIRef

from reasoner.flow.engine import Reasoner
from reasoner.flow.check import InvalidRequest
from reasoner.flow.explain import Explainer, Truth
from reasoner.policy import cache
from reasoner.policy.kb import Criterion
from reasoner.authoring.outcomes import Outcome, outcome, subtree
from reasoner.authoring.space import ABSENT, RequestSpace
from reasoner.shacl.report import Report

MAX_PASSES = 8


@dataclass
class Twin:
    """The witness with one field changed, so that the pathway fails only within its own criteria."""

    field: str
    before: Any
    after: Any
    request: dict[str, Any]
    decision: str
    failed: list[str]  # "criterion:kind", within the pathway


@dataclass
class Witness:
    pathway: str
    reachable: bool
    request: dict[str, Any]
    decision: str
    pathways: list[str]  # every pathway the request satisfies, as the determination says
    remaining: list[str] = field(default_factory=list)  # unreachable: what still fails
    twin: Twin | None = None
    evaluations: int = 0


def all_pathways(reasoner: Reasoner) -> list[tuple[Criterion, Criterion, frozenset[URIRef]]]:
    """(root, pathway, branch) for every pathway under every root of the criteria tree."""
    kb = reasoner.kb
    walker = Explainer(kb, Report(Graph(), True, {}))
    roots = [c for c in kb.criteria.values() if c.applies_to is not None and c.approval_months is not None]
    return [(root, p, only) for root in sorted(roots, key=lambda c: c.number) for p, only in walker.pathways(root)]


class WitnessSearch:
    """Searches the request space of one knowledge base; evaluations are cached by request."""

    def __init__(self, reasoner: Reasoner, request_date: date | None = None) -> None:
        self.reasoner = reasoner
        self.kb = reasoner.kb
        self.space = RequestSpace(self.kb, request_date or date.today())
        self._cache: dict[str, Outcome | None] = {}
        self.evaluations = 0

    def _outcome(self, request: dict[str, Any]) -> Outcome | None:
        key = json.dumps(request, sort_keys=True)
        if key not in self._cache:
            self.evaluations += 1
            try:
                self._cache[key] = outcome(self.reasoner, request)
            except InvalidRequest:
                self._cache[key] = None
        return self._cache[key]

    def _branch(self, c: Criterion, only: frozenset[URIRef]) -> list[Criterion]:
        """The criteria the pathway's branch evaluates: every all-of part, only its own any-of part."""
        kids = [self.kb.criteria[i] for i in c.children]
        if c.combination == "any" and c.iri in only:
            kids = [k for k in kids if k.iri in only]
        return [c] + [x for k in kids for x in self._branch(k, only)]

    def _fields(self, criteria: list[Criterion]) -> list[str]:
        names: list[str] = []
        for c in criteria:
            for name in self.space.facts([s for s in (c.shape, c.open_shape) if s is not None]):
                if name not in names:
                    names.append(name)
        return names

    @staticmethod
    def _score(o: Outcome, root: Criterion, only: frozenset[URIRef], shapes: list[URIRef]) -> tuple[int, int, int]:
        findings = o.explainer.findings(root, only)
        by_shape = o.explainer.report.by_shape
        results = sum(len(r.paths) + r.pathless for s in shapes if (r := by_shape.get(s)) is not None)
        return (sum(f.truth is Truth.NOT_MET for f in findings),
                sum(f.truth is Truth.MISSING for f in findings), results)

    def find(self, root: Criterion, pathway: Criterion, only: frozenset[URIRef]) -> Witness:
        start = self.evaluations
        branch = self._branch(root, only)
        shapes = [s for c in branch for s in (c.shape, c.open_shape) if s is not None]
        facts = self.space.facts(shapes)
        request_type = self.space.request_type_for(root.applies_to)
        policy = next(iter(self.kb.policies))
        request = self.space.template(request_type or "", f"witness-{pathway.number}", policy)
        best = self._outcome(request)
        if best is None:
            return Witness(pathway.number, False, request, "invalid", [], ["(template request is invalid)"])
        score = self._score(best, root, only, shapes)
        for _ in range(MAX_PASSES):
            if best.pathways[pathway.number] is Truth.MET:
                break
            failing = [f.criterion for f in best.explainer.findings(root, only)]
            improved = False
            for _name, _current, _value, trial, o in self._trials(request, self._fields(failing), facts):
                if o is not None and (s := self._score(o, root, only, shapes)) < score:
                    request, best, score, improved = trial, o, s, True
            if not improved:
                break
        reachable = best.pathways[pathway.number] is Truth.MET
        if reachable:
            request, best = self._minimise(request, best, pathway)
        w = Witness(pathway.number, reachable, request, best.decision, list(best.determination["pathways"]))
        if reachable:
            w.twin = self._twin(root, pathway, only, request, facts)
        else:
            w.remaining = [f"{f.criterion.number}:{f.truth.value}" for f in best.explainer.findings(root, only)]
        w.evaluations = self.evaluations - start
        return w

    def _trials(self, request: dict[str, Any], names, facts: dict[str, list]):
        """Every request one field away from `request`: (field, old value, new value, request, outcome or None)."""
        for name in names:
            current = self.space.get(request, name)
            for value in self.space.candidates(name, request, [f for _, f in facts.get(name, [])]):
                if value == current or (value is ABSENT and current is ABSENT):
                    continue
                trial = self.space.with_value(request, name, value)
                yield name, current, value, trial, self._outcome(trial)

    def _minimise(self, request: dict[str, Any], best: Outcome, pathway: Criterion) -> tuple[dict[str, Any], Outcome]:
        """Leave out every optional field the pathway does not need: the witness shows what it does."""
        for name in self.space.optional_fields(request):
            trial = self.space.with_value(request, name, ABSENT)
            o = self._outcome(trial)
            if o is not None and o.pathways[pathway.number] is Truth.MET:
                request, best = trial, o
        return request, best

    def _twin(self, root: Criterion, pathway: Criterion, only: frozenset[URIRef], request: dict[str, Any],
              facts: dict[str, list]) -> Twin | None:
        """One field changed: the pathway fails, and only criteria of its own fail (not-met preferred)."""
        own = [c for c in subtree(self.kb, pathway)]
        own_numbers = {c.number for c in own}
        best: tuple[tuple[int, int, int, int, str, str], Twin] | None = None
        for name, current, value, trial, o in self._trials(request, self._fields(own), facts):
            if o is None or o.pathways[pathway.number] is Truth.MET:
                continue
            failing = {f.criterion.number: f.truth for f in o.explainer.findings(root, only)}
            if not failing or set(failing) - own_numbers:
                continue
            not_met = any(t is Truth.NOT_MET for t in failing.values())
            rank = (0 if not_met else 1, 0 if o.decision != "approve" else 1, len(failing),
                    0 if pathway.number in failing else 1, name, shown(value))  # ties: by field and value
            if best is None or rank < best[0]:
                twin = Twin(name, current, value, trial, o.decision,
                            [f"{n}:{t.value}" for n, t in failing.items()])
                best = (rank, twin)
        return None if best is None else best[1]


def find_witnesses(reasoner: Reasoner, request_date: date | None = None, refresh: bool = False) -> list[Witness]:
    """A witness (and its failing twin) for every pathway of the knowledge base.

    The search evaluates about a thousand requests a version (seconds), and `review`, `witnesses`
    and the docs run it on unchanged versions again and again: its result is kept beside the
    knowledge base (reasoner/policy/cache.py), under the KB's content key (every policy file and
    every module of the package, this search's included), the engine and the request date, which
    is all the search reads. A knowledge base with no content key (graphs given in memory) is
    searched every time; `refresh`: search even when a result is kept (and keep the new one)."""
    when = request_date or date.today()
    name = f"witnesses {reasoner.engine} {when.isoformat()}"
    return cache.remember(reasoner.kb.cache_key, name, lambda: search_witnesses(reasoner, when),
                          kind="witnesses-", refresh=refresh)


def search_witnesses(reasoner: Reasoner, request_date: date | None = None) -> list[Witness]:
    """The search itself, every time (find_witnesses keeps its result)."""
    search = WitnessSearch(reasoner, request_date)
    return [search.find(root, p, only) for root, p, only in all_pathways(reasoner)]


def shown(value: Any) -> str:
    """A field value as the report prints it."""
    return "(absent)" if value is ABSENT else json.dumps(value, ensure_ascii=False)
