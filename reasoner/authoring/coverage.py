"""Test-case coverage: which pathways and criteria the cases in tests/cases show holding and failing.

The cases are evaluated, not just read: each criterion's status comes from the engine over the
version under review, so a draft that moves a threshold shows which cases now land elsewhere.
A case file is {"request": ..., "kb": [extra Turtle, relative to the case folder's parent], ...}.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from reasoner.flow.engine import Reasoner
from reasoner.flow.check import InvalidRequest
from reasoner.flow.explain import Truth
from reasoner.policy.kb import Criterion, KnowledgeBase
from reasoner.authoring.outcomes import outcome, subtree

OUTCOMES = (Truth.MET, Truth.NOT_MET, Truth.MISSING)


@dataclass
class CaseResult:
    name: str
    decision: str
    root: str
    status: dict[str, Truth]
    pathways: dict[str, Truth]
    closest: list[str]
    covers: list[str]


@dataclass
class Coverage:
    """Per criterion, the cases that show each status; per pathway, those that pass and near-misses."""

    cases: list[CaseResult]
    errors: dict[str, str] = field(default_factory=dict)  # case -> why it could not be evaluated

    def criterion(self, number: str) -> dict[Truth, list[str]]:
        out: dict[Truth, list[str]] = {t: [] for t in OUTCOMES}
        for case in self.cases:
            if number in case.status:
                out[case.status[number]].append(case.name)
        return out

    def passing(self, pathway: str) -> list[str]:
        return [c.name for c in self.cases if c.pathways.get(pathway) is Truth.MET]

    def failing(self, pathway: str) -> list[str]:
        """Cases where the pathway fails and is what the case is about: the closest pathway, or tagged."""
        return [c.name for c in self.cases
                if pathway in c.pathways and c.pathways[pathway] is not Truth.MET
                and (pathway in c.closest or any(t == pathway or t.startswith(pathway + ":") for t in c.covers))]


def possible_outcomes(c: Criterion) -> tuple[Truth, ...]:
    """A criterion can be missing only when it has an open reading other than its shape (reading 1)
    or is combined from parts."""
    if c.shape is not None and c.open_shape in (None, c.shape):
        return (Truth.MET, Truth.NOT_MET)
    return OUTCOMES


def read_case(path: Path) -> tuple[dict[str, Any], list[Path], list[str]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    request = data.get("request", data)
    extra = [path.parent.parent / p if not (path.parent / p).exists() else path.parent / p
             for p in data.get("kb", ())]
    return request, extra, list(data.get("covers", ()))


def evaluate_cases(cases_dir: Path, reasoner_for: Callable[[tuple[Path, ...]], Reasoner]) -> Coverage:
    """Evaluate every case file; `reasoner_for(extra_kb)` gives the engine for a case's extra graphs."""
    results: list[CaseResult] = []
    errors: dict[str, str] = {}
    for path in sorted(Path(cases_dir).glob("*.json")):
        try:
            request, extra, covers = read_case(path)
            o = outcome(reasoner_for(tuple(extra)), request)
        except (InvalidRequest, ValueError, OSError) as exc:
            errors[path.stem] = str(exc)
            continue
        results.append(CaseResult(path.stem, o.decision, o.root.number, o.status, o.pathways,
                                  [c["pathway"] for c in o.determination.get("closest") or []], covers))
    return Coverage(results, errors)


def coverage_rows(kb: KnowledgeBase, cov: Coverage) -> list[dict[str, Any]]:
    """One row per criterion of every root: counts per status, and the statuses no case shows."""
    rows = []
    roots = sorted((c for c in kb.criteria.values() if c.applies_to is not None and c.approval_months is not None),
                   key=lambda c: c.number)
    for root in roots:
        for c in subtree(kb, root):
            seen = cov.criterion(c.number)
            rows.append({
                "criterion": c.number,
                "pathway": c.is_pathway,
                "counts": {t.value: len(seen[t]) for t in OUTCOMES},
                "gaps": [t.value for t in possible_outcomes(c) if not seen[t]],
                "passing": cov.passing(c.number) if c.is_pathway else [],
                "failing": cov.failing(c.number) if c.is_pathway else [],
            })
    return rows
