"""The DTR questionnaire, generated from the knowledge base, and its response pre-filled from the order.

Items: one per contract field the criteria read (`fields.form_model`), in the contract's order, with
the knowledge base's wording, answer options and units. linkId = the field's dotted path, so a
completed QuestionnaireResponse sent back in a PAS Bundle fills those fields (ontology/fhir-mapping.ttl).

enableWhen follows the criteria tree. A *gate* is a criteria root (its request type) or a criterion
with a condition of its own above its parts (in CP.PHAR.312: the Philadelphia status above the ways
of prescribing, infant ALL above the rearrangement and the infant regimen). Its condition on one question is worked out by trial: the order's
request with that question set to each value it can take (dates: scanned, then bisected to the
day), keeping the values for which the gate's own condition holds. A field sits inside the gates
that every criterion reading it lies under (the conjunction is nested groups; each group's
enableWhen is its gate's disjunction of values), so a question shows exactly when some criterion
that reads it can still apply: no infant-ALL question for a member diagnosed after infancy, no
continued-therapy question on an initial request. A gate whose condition cannot be stated as one
enableWhen (a free-text or numeric question, two questions, several date ranges) does not hide
anything: a question is never hidden when it can matter. A gate that no value opens, for this
order, is a hidden group.

Pre-filling is done here, server-side, from the FHIR data sent with the order, with the same mapping
the decision reads (ontology/fhir-mapping.ttl, evaluated by reasoner.fhir). No CQL is shipped: a CQL
library would be a second copy of that mapping for the DTR client to run, one that could disagree
with the one the payer decides on, and the project has no CQL engine (a Java or JavaScript runtime).
The cost is that the client sends the order's data with the request, as PAS does anyway.
"""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterable

from dateutil.relativedelta import relativedelta
from rdflib import URIRef

from reasoner.fhir.mapping import mapping_for
from reasoner.flow.engine import Reasoner
from reasoner.flow.explain import Truth
from reasoner.flow.check import InvalidRequest, check_request, request_schema
from reasoner.policy.kb import KnowledgeBase
from reasoner.flow.dotted import get_value, put_value
from reasoner.services.fields import Field, FormModel, Root, form_model
from reasoner.services.probe import domain, own_truths, with_value
from reasoner.services.settings import ServiceSettings, settings_for

__all__ = ["Condition", "Form", "answers_of", "build_questionnaire", "placements", "prefill", "render_item", "trial_base"]

UCUM = "http://unitsofmeasure.org"
DATE_SAMPLES = 12


@dataclass(frozen=True)
class Condition:
    """A gate's enableWhen: tests on one question, combined any / all; `closed`: no value opens it."""

    question: str
    behavior: str
    tests: tuple[tuple[str, Any], ...]
    closed: bool = False


@dataclass
class Form:
    """A generated Questionnaire, and where each field sits (its groups' conditions)."""

    questionnaire: dict[str, Any]
    placement: dict[str, tuple[Condition, ...]]
    canonical: str


# ---------------------------------------------------------------------------------------------
# Trials
# ---------------------------------------------------------------------------------------------

def _placeholder(kb: KnowledgeBase, model: FormModel, name: str, schema: dict[str, Any], request: dict) -> Any:
    f = model.fields.get(name)
    if f is not None:
        return next(iter(domain(kb, model, f, request)), None)
    if "enum" in schema:
        return schema["enum"][0]
    if schema.get("format") == "date":
        return date.today().isoformat()
    return "(unknown)"


def trial_base(engine: Reasoner, request: dict[str, Any]) -> tuple[dict[str, Any] | None, set[str]]:
    """The order's request made complete for trials (placeholders for missing required fields), and
    which fields are placeholders. None when even that is not a valid request."""
    kb = engine.kb
    model = form_model(kb)
    mapping = mapping_for(kb)
    base = copy.deepcopy(request)
    placed: set[str] = set()
    for name in mapping.required:
        schema = mapping.field_types.get(name, {})
        if get_value(base, name) is None and schema.get("type") != "object":  # objects: made by their fields
            put_value(base, name, _placeholder(kb, model, name, schema, base))
            placed.add(name)
    try:
        return check_request(base), placed
    except InvalidRequest:
        return None, placed


def _typed(engine: Reasoner, base: dict[str, Any], model: FormModel, root: Root) -> dict[str, Any] | None:
    if get_value(base, model.type_field) == root.type_value:
        return base
    return with_value(base, model.type_field, root.type_value)


def _own_met(engine: Reasoner, request: dict[str, Any] | None, gate_iri: URIRef) -> bool | None:
    if request is None:
        return None
    return own_truths(engine, request).own(engine.kb.criteria[gate_iri]) is Truth.MET


def _question(model: FormModel, gate_iri: URIRef) -> str | None:
    own = sorted(model.own.get(gate_iri, frozenset()) - {model.type_field}, key=lambda n: model.fields[n].order)
    optional = [n for n in own if not model.fields[n].required]
    if len(optional) == 1:
        return optional[0]
    return own[0] if len(own) == 1 else None


def _value_condition(engine: Reasoner, base: dict, gate_iri: URIRef, f: Field, kb: KnowledgeBase,
                     model: FormModel) -> Condition | None:
    allowed = [v for v in domain(kb, model, f, base) if _own_met(engine, with_value(base, f.name, v), gate_iri)]
    absent_ok = not f.required and bool(_own_met(engine, with_value(base, f.name, None), gate_iri))
    every = list(domain(kb, model, f, base))
    if len(allowed) == len(every) and (absent_ok or f.required):
        return None
    if not allowed and not absent_ok:
        return Condition(f.name, "any", (), closed=True)
    tests = [("=", v) for v in allowed] + ([("exists", False)] if absent_ok else [])
    return Condition(f.name, "any", tuple(tests))


def _date_samples(kb: KnowledgeBase, base: dict, model: FormModel, f: Field) -> list[date]:
    known = sorted(date.fromisoformat(v) for n, g in model.fields.items() if g.kind == "date"
                   and isinstance(v := get_value(base, n), str))
    lo, hi = known[0] - relativedelta(years=1), known[-1] + relativedelta(years=1)
    step = max(1, (hi - lo).days // DATE_SAMPLES)
    samples = {lo + timedelta(days=i * step) for i in range(DATE_SAMPLES + 1)}
    samples |= {date.fromisoformat(v) for v in domain(kb, model, f, base)}
    policy_window = max((p.label_change_window_months for p in kb.policies.values()), default=0)
    for change in kb.label_changes:
        samples |= {change.when, change.when + relativedelta(months=policy_window)}
    return sorted(d for d in samples if lo <= d <= hi)


def _date_condition(engine: Reasoner, base: dict, gate_iri: URIRef, f: Field, kb: KnowledgeBase,
                    model: FormModel) -> Condition | None:
    def met(day: date) -> bool | None:
        return _own_met(engine, with_value(base, f.name, day.isoformat()), gate_iri)

    seen = [(d, t) for d in _date_samples(kb, base, model, f) if (t := met(d)) is not None]
    if not seen:
        return None
    refined: list[tuple[date, bool]] = [seen[0]]
    for (d1, t1), (d2, t2) in zip(seen, seen[1:]):
        if t1 != t2:  # bisect to the first day of the new truth
            lo, hi = d1, d2
            while (hi - lo).days > 1:
                mid = lo + timedelta(days=(hi - lo).days // 2)
                t = met(mid)
                if t is None:
                    break
                lo, hi = (mid, hi) if t == t1 else (lo, mid)
            refined.append((lo, t1))
            refined.append((hi, t2))
        refined.append((d2, t2))
    runs: list[list[Any]] = []
    for d, t in refined:
        if runs and runs[-1][2] == t:
            runs[-1][1] = d
        else:
            runs.append([d, d, t])
    met_runs = [r for r in runs if r[2]]
    absent_ok = not f.required and bool(_own_met(engine, with_value(base, f.name, None), gate_iri))
    if len(met_runs) == len(runs):
        return None if (absent_ok or f.required) else Condition(f.name, "any", (("exists", True),))
    if not met_runs:
        return None if absent_ok else Condition(f.name, "all", (), closed=True)
    if len(met_runs) > 1 or absent_ok:
        return None  # not one enableWhen: hide nothing
    start, end, _ = met_runs[0]
    tests = []
    if runs[0] is not met_runs[0]:
        tests.append((">=", start.isoformat()))
    if runs[-1] is not met_runs[0]:
        tests.append(("<=", end.isoformat()))
    return Condition(f.name, "all", tuple(tests))


def _gate_condition(engine: Reasoner, base: dict | None, gate_iri: URIRef, model: FormModel) -> Condition | None:
    kb = engine.kb
    name = _question(model, gate_iri)
    if base is None or name is None:
        return None
    f = model.fields[name]
    if f.kind in ("choice", "boolean"):
        return _value_condition(engine, base, gate_iri, f, kb, model)
    if f.kind == "date":
        return _date_condition(engine, base, gate_iri, f, kb, model)
    return None  # free text, names and numbers: no equality a form could test reliably


def _is_gate(kb: KnowledgeBase, iri: URIRef) -> bool:
    c = kb.criteria[iri]
    return c.shape is not None and c.combination is not None


def placements(engine: Reasoner, request: dict[str, Any] | None) -> dict[str, tuple[Condition, ...]]:
    """Field -> the conditions of the groups it sits in, outermost first."""
    kb = engine.kb
    model = form_model(kb)
    base, placed = trial_base(engine, request) if request is not None else (None, set())
    type_cond = {r.criterion.iri: Condition(model.type_field, "any", (("=", r.type_value),)) for r in model.roots}
    gate_cond: dict[URIRef, Condition | None] = {}
    depth: dict[Condition, int] = {c: 0 for c in type_cond.values()}
    for iri in model.parent:
        if _is_gate(kb, iri):
            root = model.root_of[iri]
            typed = _typed(engine, base, model, root) if base is not None else None
            usable = typed is not None and not (model.own.get(iri, frozenset()) & placed)
            cond = _gate_condition(engine, typed, iri, model) if usable else None
            gate_cond[iri] = cond
            if cond is not None:
                depth[cond] = min(depth.get(cond, 99), 1 + len(model.ancestors(iri)))
    out: dict[str, tuple[Condition, ...]] = {}
    for name, f in model.fields.items():
        if f.required:  # the contract needs it for any request: always asked
            out[name] = ()
            continue
        sets = []
        for reader in model.readers(name):
            chain = {type_cond[model.root_of[reader].criterion.iri]}
            above = model.ancestors(reader) + ([reader] if name not in model.own.get(reader, frozenset()) else [])
            for a in above:
                if _is_gate(kb, a) and gate_cond.get(a) is not None:
                    chain.add(gate_cond[a])
            sets.append(chain)
        common = set.intersection(*sets) if sets else set()
        out[name] = tuple(sorted(common, key=lambda c: (depth.get(c, 99), model.fields[c.question].order,
                                                       repr(c.tests))))
    return out


# ---------------------------------------------------------------------------------------------
# The Questionnaire resource
# ---------------------------------------------------------------------------------------------

def _answer_key(f: Field) -> str:
    return {"choice": "Coding", "open-choice": "String", "boolean": "Boolean", "integer": "Integer",
            "decimal": "Decimal", "date": "Date", "string": "String", "quantity": "Quantity"}[f.kind]


def _coding(settings: ServiceSettings, f: Field, value: Any) -> dict[str, Any]:
    display = next((o.display for o in f.options if o.value == value), str(value))
    return {"system": settings.contract_system, "code": str(value), "display": display}


def _enable_when(settings: ServiceSettings, model: FormModel, cond: Condition) -> dict[str, Any]:
    f = model.fields[cond.question]
    out: dict[str, Any] = {"enableWhen": []}
    for op, value in cond.tests:
        test: dict[str, Any] = {"question": cond.question, "operator": op}
        if op == "exists":
            test["answerBoolean"] = bool(value)
        elif f.kind == "choice":
            test["answerCoding"] = {"system": settings.contract_system, "code": str(value)}
        else:
            test[f"answer{_answer_key(f)}"] = value
        out["enableWhen"].append(test)
    if len(cond.tests) > 1:
        out["enableBehavior"] = cond.behavior
    return out


def render_item(settings: ServiceSettings, kb: KnowledgeBase, model: FormModel, f: Field, schema_id: str) -> dict[str, Any]:
    kind = "choice" if f.kind == "choice" else f.kind
    item: dict[str, Any] = {"linkId": f.name, "definition": f"{schema_id}#{f.name}", "text": f.text, "type": kind}
    if f.required:
        item["required"] = True
    if f.repeats:
        item["repeats"] = True
    extensions = []
    if f.unit:
        extensions.append({"url": settings.extensions["unit"], "valueCoding": {"system": UCUM, "code": f.unit, "display": f.unit}})
    for code, spelling in f.unit_options:
        extensions.append({"url": settings.extensions["unit-option"],
                           "valueCoding": {"system": UCUM, "code": code, "display": spelling}})
    if extensions:
        item["extension"] = extensions
    options = []
    if f.kind == "choice":
        options = [{"valueCoding": _coding(settings, f, o.value)} for o in f.options]
    elif f.kind == "open-choice":
        options = [{"valueString": o.value} for o in f.options]
    if f.repeats and model.empty_code is not None:
        system, code, display = model.empty_code
        options.append({"valueCoding": {"system": system, "code": code, "display": display}})
    if options:
        item["answerOption"] = options
    readers = sorted({kb.criteria[c].number for c in model.readers(f.name)})
    help_text = " ".join(x for x in (f.help, f"(Read by {', '.join(readers)}.)" if readers else None) if x)
    if help_text:
        item["item"] = [{"linkId": f"{f.name}.help", "type": "display", "text": help_text, "extension": [{
            "url": settings.extensions["item-control"], "valueCodeableConcept": {"coding": [{
                "system": "http://hl7.org/fhir/questionnaire-item-control", "code": "help"}]}}]}]
    return item


def build_questionnaire(engine: Reasoner, request: dict[str, Any] | None,
                        placement: dict[str, tuple[Condition, ...]] | None = None) -> Form:
    """The Questionnaire for an order's request (None: the policy's form with no order facts)."""
    kb = engine.kb
    model = form_model(kb)
    settings = settings_for(kb)
    placement = placement if placement is not None else placements(engine, request)
    schema_id = request_schema().get("$id", "")
    labels = _condition_labels(engine, model, placement)

    top: list[dict[str, Any]] = []
    groups: dict[tuple[Condition, ...], dict[str, Any]] = {}

    def group_for(path: tuple[Condition, ...]) -> list[dict[str, Any]]:
        if not path:
            return top
        if path not in groups:
            parent = group_for(path[:-1])
            cond = path[-1]
            link = "group:" + "/".join(labels[c][0] for c in path)
            group: dict[str, Any] = {"linkId": link, "text": labels[cond][1], "type": "group", "item": []}
            if cond.closed:
                group["extension"] = [{"url": settings.extensions["hidden"], "valueBoolean": True}]
            else:
                group.update(_enable_when(settings, model, cond))
            groups[path] = group
            parent.append(group)
        return groups[path]["item"]

    for name, f in model.fields.items():
        group_for(placement.get(name, ()))  # the group exists before its items, in field order
        group_for(placement.get(name, ())).append(render_item(settings, kb, model, f, schema_id))

    policy = next(iter(kb.policies.values()))
    canonical = settings.questionnaire_base + policy.identifier
    digest = hashlib.sha256(json.dumps(top, sort_keys=True, default=str).encode()).hexdigest()[:10]
    version = f"{policy.version_label}-{digest}"
    questionnaire = {
        "resourceType": "Questionnaire",
        "id": f"{policy.identifier}-{digest}",
        "url": canonical,
        "version": version,
        "name": "".join(ch for ch in policy.identifier if ch.isalnum()) + "Questionnaire",
        "title": f"{kb.titles.get(policy.iri, policy.identifier)}: prior authorization questionnaire",
        "status": "active",
        "subjectType": ["Patient"],
        "date": datetime.now(timezone.utc).date().isoformat(),
        "description": ("Generated from the knowledge base of the policy: one item per fact its criteria read "
                        f"(policy version {policy.version_label}). enableWhen follows the criteria tree."),
        "item": top,
    }
    return Form(questionnaire, placement, f"{canonical}|{version}")


def _condition_labels(engine: Reasoner, model: FormModel, placement: dict) -> dict[Condition, tuple[str, str]]:
    """A group's id (the criteria numbers that gate it) and text (their label or sentence)."""
    kb = engine.kb
    out: dict[Condition, tuple[str, str]] = {}
    for conds in placement.values():
        for cond in conds:
            if cond in out:
                continue
            gates = [r.criterion for r in model.roots if cond == Condition(model.type_field, "any", (("=", r.type_value),))]
            if gates:
                text = "; ".join(f"{c.number} {kb.titles.get(c.iri, c.sentence)}" for c in gates)
            else:
                gates = [kb.criteria[i] for i in model.parent if _is_gate(kb, i)
                         and _question(model, i) == cond.question]
                text = "; ".join(f"{c.number} {c.sentence}" for c in gates)
            out[cond] = (",".join(c.number for c in gates) or cond.question, text or cond.question)
    return out


# ---------------------------------------------------------------------------------------------
# The QuestionnaireResponse
# ---------------------------------------------------------------------------------------------

def _answers(settings: ServiceSettings, model: FormModel, f: Field, value: Any) -> list[dict[str, Any]]:
    values = value if isinstance(value, list) else [value]
    if f.repeats and value == [] and model.empty_code is not None:
        system, code, display = model.empty_code
        return [{"valueCoding": {"system": system, "code": code, "display": display}}]
    out = []
    for v in values:
        if f.kind == "choice":
            out.append({"valueCoding": _coding(settings, f, v)})
        elif f.kind == "quantity" and isinstance(v, dict):
            value_key, unit_key = model.quantity_parts[f.name]
            ucum = next((c for c, s in f.unit_options if s == v.get(unit_key)), v.get(unit_key))
            out.append({"valueQuantity": {"value": v.get(value_key), "unit": v.get(unit_key), "system": UCUM, "code": ucum}})
        elif f.kind == "boolean":
            out.append({"valueBoolean": bool(v)})
        elif f.kind == "integer":
            out.append({"valueInteger": int(v)})
        elif f.kind == "decimal":
            out.append({"valueDecimal": v})
        elif f.kind == "date":
            out.append({"valueDate": str(v)})
        else:
            out.append({"valueString": str(v)})
    return out


def answers_of(engine: Reasoner, request: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """linkId -> QuestionnaireResponse answers, for every question the request answers."""
    kb = engine.kb
    model = form_model(kb)
    settings = settings_for(kb)
    out = {}
    for name, f in model.fields.items():
        value = get_value(request, name)
        if value is not None:
            out[name] = _answers(settings, model, f, value)
    return out


def response_items(questionnaire_items: Iterable[dict[str, Any]], answers: dict[str, list[dict]],
                   origin: dict[str, Any] | None) -> list[dict[str, Any]]:
    """QuestionnaireResponse items mirroring the Questionnaire's groups, for the answered questions."""
    out = []
    for item in questionnaire_items:
        if item.get("type") == "group":
            inner = response_items(item.get("item", []), answers, origin)
            if inner:
                out.append({"linkId": item["linkId"], "item": inner})
        elif item.get("type") != "display" and item["linkId"] in answers:
            given = [dict(a, extension=[origin]) if origin else dict(a) for a in answers[item["linkId"]]]
            out.append({"linkId": item["linkId"], "text": item.get("text"), "answer": given})
    return out


def prefill(engine: Reasoner, form: Form, request: dict[str, Any], placed: set[str], subject: dict | None,
            context: list[dict] | None, request_id: str | None) -> dict[str, Any]:
    """The draft QuestionnaireResponse: the order's facts (never a placeholder) as answers, origin auto-server."""
    settings = settings_for(engine.kb)
    answers = {k: v for k, v in answers_of(engine, request).items() if k not in placed}
    origin = {"url": settings.extensions["information-origin"],
              "extension": [{"url": "source", "valueCode": "auto-server"}]}
    response: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "id": str(uuid.uuid4()),
        "questionnaire": form.canonical,
        "status": "in-progress",
        "authored": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "item": response_items(form.questionnaire["item"], answers, origin),
    }
    if request_id:
        response["identifier"] = {"system": settings.identifier_system, "value": request_id}
    if subject:
        response["subject"] = subject
    if context:
        response["extension"] = [{"url": settings.extensions["qr-context"], "valueReference": ref} for ref in context]
    return response
