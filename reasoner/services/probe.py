"""One request's truths, and what-if trials: the facts the questionnaire and the adaptive form reason on.

`probe(engine, request)` evaluates a checked request and keeps, beside its determination, the
explainer over its validation report: the three-valued truth of every criterion and pathway. A
trial (`with_value`) is the same request with one field set to a value (or removed); a value the
contract refuses (a diagnosis date before birth) is no trial at all. `domain` gives the values a
field is tried with: its enumeration or options, both booleans, and for numbers and dates the
constants the shapes and the knowledge base compare with, each side of them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cached_property
from typing import Any, Iterator

from dateutil.relativedelta import relativedelta
from rdflib import Literal, URIRef

from reasoner.flow.check import InvalidRequest, check_request
from reasoner.flow.engine import Reasoner
from reasoner.flow.enrich import enrich
from reasoner.flow.lift import lift
from reasoner.flow.explain import Explainer, Truth
from reasoner.policy.kb import Criterion, KnowledgeBase
from reasoner.flow.dotted import get_value, put_value
from reasoner.services.fields import Field, FormModel, drop_value
from reasoner.shacl.datagraph import TYPE

__all__ = ["Probe", "probe", "own_truths", "with_value", "domain", "outcome", "ANY_TEXT"]

ANY_TEXT = "(text)"  # a stand-in for "some text was sent" when trying a free-text field


@dataclass
class Probe:
    """A request's determination with the truths behind it."""

    request: dict[str, Any]
    determination: dict[str, Any]
    explainer: Explainer
    root: Criterion
    types: frozenset[URIRef]

    @cached_property
    def pathway_truths(self) -> dict[str, Truth]:
        return self.explainer.pathway_truths(self.root)

    @property
    def outcome(self) -> tuple[Any, ...]:
        return outcome(self.determination)

    def own(self, c: Criterion) -> Truth:
        return self.explainer.own(c)


def outcome(det: dict[str, Any]) -> tuple[Any, ...]:
    """What a decision is, for "does this answer change it": the decision and where it refers."""
    referral = det.get("referral") or {}
    return det["decision"], referral.get("policy"), referral.get("section")


def probe(engine: Reasoner, request: dict[str, Any]) -> Probe:
    """Evaluate a checked request and keep its explainer."""
    evaluation = engine.evaluate_full(request, checked=True)
    report = engine.shape_report(evaluation.request_graph)
    types = frozenset(evaluation.request_graph.objects(evaluation.request_iri, TYPE))
    return Probe(request, evaluation.determination, Explainer(engine.kb, report), engine.kb.root_for(types), types)


def own_truths(engine: Reasoner, request: dict[str, Any]) -> Explainer:
    """The explainer of a checked request without deciding it (lift, enrich, validate): for trials that
    only ask whether a criterion's own condition holds."""
    kb = engine.kb
    policy = next((p for p in kb.policies.values() if p.identifier in request.values()), None)
    if policy is None:
        raise InvalidRequest("policy", "not a policy this knowledge base encodes")
    graph, node = lift(request)
    enrich(graph, node, request, kb, policy)
    return Explainer(kb, engine.shape_report(graph))


def with_value(request: dict[str, Any], name: str, value: Any) -> dict[str, Any] | None:
    """The request with `name` set to `value` (None: removed), checked; None when the contract refuses it."""
    trial = copy.deepcopy(request)
    if value is None:
        drop_value(trial, name)
    else:
        put_value(trial, name, copy.deepcopy(value))
    try:
        return check_request(trial)
    except InvalidRequest:
        return None


# ---------------------------------------------------------------------------------------------
# The values a field is tried with
# ---------------------------------------------------------------------------------------------

def _constants(kb: KnowledgeBase) -> tuple[Decimal, ...]:
    """Every number the shapes compare with, and the knowledge base's band bounds (once per KB)."""
    cached = kb.__dict__.get("_probe_constants")
    if cached is None:
        numbers: set[Decimal] = set()
        for _, _, o in kb.shapes:
            if isinstance(o, Literal) and isinstance(o.toPython(), (int, float, Decimal)) \
                    and not isinstance(o.toPython(), bool):
                numbers.add(Decimal(str(o.toPython())))
        for band in (*kb.age_groups, *kb.weight_bands):
            numbers |= {Decimal(str(b)) for b in (band.at_least, band.below) if b is not None}
        numbers.add(Decimal(kb.infant_before_months))
        cached = kb.__dict__["_probe_constants"] = tuple(sorted(numbers))
    return cached


def _numbers(kb: KnowledgeBase, integer: bool) -> list[int | float]:
    out: set[Decimal] = {Decimal(1)}
    for c in _constants(kb):
        out |= {c - 1, c, c + 1}
    values = sorted(v for v in out if v >= 0)
    if integer:
        return sorted({int(v) for v in values if v == v.to_integral_value()})
    return [int(v) if v == v.to_integral_value() else float(v) for v in values]


def _dates(kb: KnowledgeBase, request: dict[str, Any], model: FormModel) -> list[str]:
    """The request's dates, and the birth date plus each constant read as months."""
    known = [date.fromisoformat(v) for name, f in model.fields.items() if f.kind == "date" and f.required
             and isinstance(v := get_value(request, name), str)]
    out = set(known)
    for start in known:
        for c in _constants(kb):
            if 0 < c < 1200 and c == c.to_integral_value():
                out.add(start + relativedelta(months=int(c)))
                out.add(start + relativedelta(months=int(c)) - relativedelta(days=1))
    return [d.isoformat() for d in sorted(out)]


def domain(kb: KnowledgeBase, model: FormModel, f: Field, request: dict[str, Any]) -> Iterator[Any]:
    """The values `f` is tried with (each a contract value for the field)."""
    if f.kind in ("choice", "open-choice"):
        values = [o.value for o in f.options]
        if f.repeats:
            yield []
            yield from ([v] for v in values)
        else:
            yield from values
    elif f.kind == "boolean":
        yield from (True, False)
    elif f.kind in ("integer", "decimal"):
        yield from _numbers(kb, f.kind == "integer")
    elif f.kind == "date":
        yield from _dates(kb, request, model)
    elif f.kind == "quantity":
        for _, spelling in f.unit_options:
            for number in _numbers(kb, False):
                yield model_quantity(model, f, number, spelling)
    else:
        yield [ANY_TEXT] if f.repeats else ANY_TEXT


def model_quantity(model: FormModel, f: Field, number: Any, spelling: str) -> dict[str, Any]:
    """A quantity field's contract object, its parts named as the schema names them."""
    value_key, unit_key = model.quantity_parts[f.name]
    return {value_key: number, unit_key: spelling}
