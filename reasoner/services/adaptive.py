"""The adaptive form: the one question whose answer can change the decision the most, until none can.

Given the answers so far (a request, possibly missing required facts) and the questions this form
already asked (never asked again; one left unanswered is declined), `next_question` returns:

1. a required field that is still missing (no decision can be made without it), else
2. if no pathway holds yet: among the pathways that are only missing facts (no fact sent
   contradicts them), the unanswered fields their missing criteria read (or, for a criterion whose
   fields were all given and that is still missing, those fields again: a more specific answer than
   the order's, the lineage of an "ALL"), closest pathway first
   (fewest missing criteria), then the field more such pathways need (the answer that can move the
   most pathways, a criterion every pathway shares such as the prescriber's consultation first),
   then, among questions still tied, one whose answer alone can settle a missing criterion (the dose
   before the weight it may not need; tried with a few values), then the form's order; else
3. a field of the referral section (where a request no pathway covers is sent) that some single
   answer would send elsewhere (a formulary status once a label change applies): found by trial, as
   "not met" there can be "not sent", else
4. nothing: the decision no longer depends on any unanswered question.

Why this finishes with the complete request's decision: a criterion's truth only moves from missing
to met or not met as facts arrive (the open shapes are monotone), so a met pathway stays met and a
contradicted one stays contradicted; the only facts that can change the decision are those read by
a missing criterion on a pathway still open, and the referral section's, which step 3 tries. The
claim is checked, not assumed: benchmarks/adaptive.py runs every case in tests/cases and the
generated requests through this loop and compares the decisions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reasoner.flow.check import InvalidRequest, check_request
from reasoner.flow.engine import Reasoner
from reasoner.flow.explain import Truth
from reasoner.flow.dotted import get_value
from reasoner.services.fields import FormModel, form_model
from reasoner.services.probe import Probe, domain, own_truths, probe, with_value

__all__ = ["Step", "next_question"]


@dataclass
class Step:
    """The next question (None: finished), why it is asked, and the decision so far."""

    question: str | None
    why: str
    probe: Probe | None = None
    pathways: list[str] = field(default_factory=list)


def _known(model: FormModel, request: dict[str, Any]) -> set[str]:
    return {name for name in model.fields if get_value(request, name) is not None}


def next_question(engine: Reasoner, request: dict[str, Any], asked: set[str]) -> Step:
    """The next question for `request` (the answers so far, the order's facts among them), never one of
    `asked` (the questions this form asked already, answered or declined)."""
    kb = engine.kb
    model = form_model(kb)
    known = _known(model, request)
    for name, f in model.fields.items():
        if f.required and name not in known and name not in asked:
            return Step(name, "required by the contract before anything can be decided")
    try:
        checked = check_request(request)
    except InvalidRequest as exc:
        if exc.field in model.fields:
            return Step(exc.field, "the answer given cannot be used: " + exc.reason)
        return Step(None, "the answers given cannot be evaluated: " + exc.reason)
    p = probe(engine, checked)
    if p.determination["decision"] == "approve":
        return Step(None, "approved: no answer can change it", p)

    def is_open(name: str) -> bool:
        return name in model.fields and name not in known and name not in asked

    def to_ask(c: Any) -> list[str]:
        """A missing criterion's unanswered fields; if all were given (the order's "ALL" where the
        lineage is what is missing), the ones this form has not asked yet: a more specific answer."""
        names = sorted(model.reads.get(c.iri, ()), key=lambda n: model.fields[n].order)
        return [n for n in names if is_open(n)] or [n for n in names if n in model.fields and n not in asked]

    scores: dict[str, tuple[int, int, int]] = {}
    needed_by: dict[str, list[str]] = {}
    criteria_of: dict[str, set] = {}
    for pathway, only in p.explainer.pathways(p.root):
        if p.pathway_truths.get(pathway.number) is not Truth.MISSING:
            continue
        missing = [f.criterion for f in p.explainer.findings(p.root, only) if f.truth is Truth.MISSING]
        for c in missing:
            for name in to_ask(c):
                criteria_of.setdefault(name, set()).add(c.iri)
        fields = [n for c in missing for n in to_ask(c)]
        for name in dict.fromkeys(fields):
            rank, count, order = scores.get(name, (len(missing), 0, model.fields[name].order))
            scores[name] = (min(rank, len(missing)), count - 1, order)
            needed_by.setdefault(name, []).append(pathway.number)
    if scores:
        ranked = sorted(scores, key=lambda n: scores[n])
        tied = [n for n in ranked if scores[n][:2] == scores[ranked[0]][:2]]
        best = next((n for n in tied if _settles(engine, model, p, n, criteria_of[n])), ranked[0]) \
            if len(tied) > 1 else ranked[0]
        ways = needed_by[best]
        return Step(best, f"needed by the pathway(s) {', '.join(ways)} that only miss facts", p, ways)

    # No pathway can hold any more: a requirement that denies when not met (the prescriber) and is
    # still missing decides between a denial and a referral.
    for c in p.explainer.leaves(p.root):
        if c.deny_when_not_met and p.own(c) is Truth.MISSING:
            fields = to_ask(c)
            if fields:
                return Step(fields[0], f"{c.number} is missing: a denial or a referral depends on it", p, [c.number])

    changing = _referral_changes(engine, model, p, is_open)
    if changing is not None:
        return Step(changing, "the answer can change where the request is referred", p)
    return Step(None, f"{p.determination['decision']}: no unanswered question can change it", p)


TRIED = 3  # values of a tied question tried to see whether it settles a criterion alone


def _settles(engine: Reasoner, model: FormModel, p: Probe, name: str, criteria: set) -> bool:
    """Can an answer to `name` alone settle one of the missing criteria that read it? (A dose does, where
    a weight without the dose does not.) Its first few values the contract accepts are tried."""
    kb = engine.kb
    tried = 0
    for value in domain(kb, model, model.fields[name], p.request):
        trial = with_value(p.request, name, value)
        if trial is None:
            continue
        truths = own_truths(engine, trial)
        if any(truths.own(kb.criteria[c]) is not Truth.MISSING for c in criteria):
            return True
        tried += 1
        if tried >= TRIED:
            return False
    return False


def _referral_changes(engine: Reasoner, model: FormModel, p: Probe, is_open) -> str | None:
    """An unanswered field of the referral section one of whose answers changes the outcome."""
    kb = engine.kb
    section = kb.criteria.get(p.root.otherwise) if p.root.otherwise is not None else None
    if section is None:
        return None
    names: set[str] = set()
    todo = [section]
    while todo:
        c = todo.pop()
        names |= set(model.reads.get(c.iri, ()))
        todo.extend(kb.criteria[i] for i in c.children)
    for name in sorted((n for n in names if is_open(n)), key=lambda n: model.fields[n].order):
        for value in domain(kb, model, model.fields[name], p.request):
            trial = with_value(p.request, name, value)
            if trial is not None and probe(engine, trial).outcome != p.outcome:
                return name
    return None
