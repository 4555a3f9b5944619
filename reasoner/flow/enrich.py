"""Enrich: the facts the policy needs but the request does not state, computed once and kept as triples.

Calendar arithmetic (whole months and years, as dateutil's relativedelta counts them), the Mosteller
body-surface area and unit conversion are generic; every threshold that belongs to the policy
(age groups, weight bands, the infant cut-off, the label-change window) and every name (drugs,
brands, regimens, specialties, conditions) is read from the knowledge base. Numbers are exact
decimals (reasoner/dosing/arithmetic.py): a dose at a threshold is at it, not a float's width past it.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Any

from dateutil.relativedelta import relativedelta
from rdflib import SKOS, Graph, URIRef
from rdflib.term import Node

from reasoner.dosing.arithmetic import json_number, mosteller, product
from reasoner.dosing.facts import enrich_dosing
from reasoner.policy.kb import BX, TYPE, KnowledgeBase, PolicyInfo
from reasoner.shacl.datagraph import SmallGraph, exact, literal
from reasoner.shacl.datagraph import decimal as _decimal

@dataclass
class Derived:
    """The derived facts, also returned in the determination's `derived` block."""

    age_months: int
    age_years: int
    age_group: str | None = None
    infant_all: bool | None = None
    bsa_m2: Decimal | None = None
    weight_band: str | None = None
    daily_dose_mcg: Decimal | None = None
    dose_increase: bool | None = None
    agents: list[str] = field(default_factory=list)
    regimens: list[str] = field(default_factory=list)
    unknown_agents: list[str] = field(default_factory=list)
    # (field, value) of a diagnosis the KB does not know; conditions named at odds with each other
    unknown_conditions: list[tuple[str, str]] = field(default_factory=list)
    conflicting_conditions: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "age_months": self.age_months,
            "age_years": self.age_years,
            "age_group": self.age_group,
            "infant_all": self.infant_all,
            "bsa_m2": json_number(self.bsa_m2),  # exact: the figure the decision used
            "weight_band": self.weight_band,
            "daily_dose_mcg": json_number(self.daily_dose_mcg),
            "dose_increase": self.dose_increase,
            "agents": self.agents,
            "regimens": self.regimens,
        }


def whole_months(start: date, end: date) -> int:
    """Whole calendar months from `start` to `end`, exactly as relativedelta(end, start) counts them:
    a month is whole once its day is reached, or the month's last day when it is shorter (Jan 31 ->
    the end of February is one month). tests/test_properties.py compares the two on any pair of dates."""
    if end < start:
        delta = relativedelta(end, start)
        return delta.years * 12 + delta.months
    months = (end.year - start.year) * 12 + end.month - start.month
    if end.day < min(start.day, calendar.monthrange(end.year, end.month)[1]):
        months -= 1
    return months


@lru_cache(maxsize=4096)
def _months_before(day: date, months: int) -> date:
    return day - relativedelta(months=months)


def enrich(g: Graph, node: URIRef, request: dict[str, Any], kb: KnowledgeBase, policy: PolicyInfo) -> Derived:
    """Write the derived facts into `g` (the request graph) and return them."""
    g.add((node, TYPE, BX.PriorAuthorizationRequest))
    request_date = date.fromisoformat(request["request_date"])
    member = request["member"]
    m = g.value(node, BX.member)

    derived = _age(g, m, member, request_date, kb)
    _body(g, m, member, derived, kb)
    _diagnosis(g, node, request.get("diagnosis", {}), request_date, member, derived, kb)
    _prescriber(g, node, request.get("prescriber", {}), kb)
    _regimen(g, node, request.get("regimen"), derived, kb, policy)
    _doses(g, node, request, derived, kb)
    _label_changes(g, node, request_date, kb, policy)
    enrich_dosing(g, node, request, kb, policy, derived.bsa_m2, derived.daily_dose_mcg)  # Section V: the request against the label
    _types(g, kb)
    return derived


def _age(g: Graph, m: Node, member: dict, request_date: date, kb: KnowledgeBase) -> Derived:
    birth = date.fromisoformat(member["birth_date"])
    months = whole_months(birth, request_date)
    derived = Derived(age_months=months, age_years=months // 12)
    g.add((m, BX.ageInMonths, literal(months)))
    g.add((m, BX.ageInYears, literal(derived.age_years)))
    for band in kb.age_groups:
        if band.contains(derived.age_years):
            g.add((m, BX.ageGroup, band.iri))
            derived.age_group = band.notation
    return derived


def _body(g: Graph, m: Node, member: dict, derived: Derived, kb: KnowledgeBase) -> None:
    # A body-surface area sent is used as sent; Mosteller's is rounded as the KB states.
    if member.get("bsa_m2") is not None:
        derived.bsa_m2 = exact(member["bsa_m2"])
    elif member.get("weight_kg") is not None and member.get("height_cm") is not None:
        derived.bsa_m2 = mosteller(exact(member["height_cm"]), exact(member["weight_kg"]),
                                   kb.decimal_places[BX.bodySurfaceArea])
    if derived.bsa_m2 is not None:
        g.add((m, BX.bodySurfaceArea, _decimal(derived.bsa_m2)))
    if member.get("weight_kg") is not None:
        weight = exact(member["weight_kg"])
        for band in kb.weight_bands:
            if band.contains(weight):
                g.add((m, BX.weightBand, band.iri))
                derived.weight_band = band.notation


def _diagnosis(g: Graph, node: URIRef, diagnosis: dict, request_date: date, member: dict,
               derived: Derived, kb: KnowledgeBase) -> None:
    d = g.value(node, BX.diagnosis)
    if d is None:
        return
    condition = _condition(diagnosis, derived, kb)
    if condition is not None:
        g.add((d, BX.condition, condition))
    # Reading 4: infant ALL = diagnosed before the KB's cut-off age; without a diagnosis date it is
    # still known while the member is younger than the cut-off.
    if diagnosis.get("diagnosis_date"):
        at_dx = whole_months(date.fromisoformat(member["birth_date"]), date.fromisoformat(diagnosis["diagnosis_date"]))
        g.add((d, BX.ageAtDiagnosisMonths, literal(at_dx)))
        derived.infant_all = at_dx < kb.infant_before_months
    elif derived.age_months < kb.infant_before_months:
        derived.infant_all = True
    if derived.infant_all is not None:
        g.add((d, BX.infantALL, literal(derived.infant_all)))


def _condition(diagnosis: dict, derived: Derived, kb: KnowledgeBase) -> URIRef | None:
    """The disease the diagnosis names, by label (diagnosis.condition) and code (diagnosis.icd10cm).

    Unknown is not false: a name or code the KB does not know names nothing (and is reported).
    A label and a code naming one disease at two levels (B-ALL, and the code of ALL) give the
    narrower. A code never overrides the label it contradicts (AML with the code of ALL): the label,
    the contract's required field, decides and the disagreement is reported. So a code can only add
    what the label leaves open, and leaving it out never makes a criterion less decided."""
    label: URIRef | None = None
    name = diagnosis.get("condition")
    if isinstance(name, str) and name.strip():
        label = kb.labels["condition"].get(name.strip().casefold())
        if label is None:
            derived.unknown_conditions.append(("diagnosis.condition", name))
    coded: tuple[URIRef, ...] = ()
    code = diagnosis.get("icd10cm")
    if isinstance(code, str) and code.strip():
        coded = _codes(kb, BX.icd10cm).get(code.strip().casefold(), ())
        if not coded:
            derived.unknown_conditions.append(("diagnosis.icd10cm", code))
    named = [c for c in (label, *coded) if c is not None]
    # the narrowest of those that name one disease at different levels (a kind of the other)
    narrowest = [c for c in named if not any(c in kb.broader.get(o, ()) for o in named if o != c)]
    if len(narrowest) == 1:
        return narrowest[0]
    if len(narrowest) > 1:  # they disagree: the label decides, the disagreement is reported
        sent = [("diagnosis.condition", name if label is not None else None), ("diagnosis.icd10cm", code)]
        derived.conflicting_conditions.extend((f, v) for f, v in sent if v is not None)
        return label
    return None


def _codes(kb: KnowledgeBase, prop: URIRef) -> dict[str, tuple[URIRef, ...]]:
    """Lower-case notation -> the KB individuals a code of `prop`'s bx:codeScheme identifies (those
    that skos:exactMatch or skos:narrowMatch it). Worked out once per knowledge base."""
    cache = kb.__dict__.setdefault("_codes", {})
    table = cache.get(prop)
    if table is None:
        g, scheme = kb.graph, kb.graph.value(prop, BX.codeScheme)
        found: dict[str, set[URIRef]] = {}
        for code in g.subjects(SKOS.inScheme, scheme) if scheme is not None else ():
            notation = g.value(code, SKOS.notation)
            for match in (SKOS.exactMatch, SKOS.narrowMatch):
                for individual in g.subjects(match, code):
                    if isinstance(individual, URIRef) and notation is not None:
                        found.setdefault(str(notation).strip().casefold(), set()).add(individual)
        table = cache[prop] = {k: tuple(sorted(v)) for k, v in found.items()}
    return table


def _prescriber(g: Graph, node: URIRef, prescriber: dict, kb: KnowledgeBase) -> None:
    p = g.value(node, BX.prescriber)
    if p is None:
        return
    specialties = kb.labels["specialty"]
    own = specialties.get(str(prescriber.get("specialty", "")).strip().casefold())
    if own is not None:
        g.add((p, BX.specialty, own))
    for name in prescriber.get("consulting_specialties") or []:
        consultant = specialties.get(name.strip().casefold())
        if consultant is not None:
            g.add((p, BX.consultingSpecialty, consultant))


def _regimen(g: Graph, node: URIRef, regimen: dict | None, derived: Derived, kb: KnowledgeBase,
             policy: PolicyInfo) -> None:
    r = g.value(node, BX.regimen)
    if r is None or regimen is None or regimen.get("with") is None:
        return
    named: set[URIRef] = set()  # agents named one by one (generic or brand name)
    regimens: set[URIRef] = set()
    unknown: list[str] = []
    for name in regimen["with"]:
        found = kb.labels["agent"].get(name.strip().casefold())
        if found is None:
            unknown.append(name)
        elif BX.NamedRegimen in kb.types.get(found, ()):
            regimens.add(found)
        else:
            named.add(found)
    # A named regimen counts by its components (its own, and those of the regimens it is a variant of).
    agents = set(named)
    for reg in list(regimens):
        lineage = (reg, *kb.broader.get(reg, ()))
        regimens.update(lineage)
        for r_ in lineage:
            agents.update(kb.regimen_components.get(r_, ()))
    # A regimen given as components is recognised when all of them are named (an alternative
    # component is present when any of its agents is); another named regimen's components do not
    # make one (reading 3: "given as components").
    for reg, needed in kb.regimen_recognised_by.items():
        if all(c in named or kb.alternatives.get(c, frozenset()) & named for c in needed):
            regimens.add(reg)
            regimens.update(kb.broader.get(reg, ()))

    for a in agents:
        g.add((r, BX.withAgent, a))
    for reg in regimens:
        g.add((r, BX.withRegimen, reg))
    for name in unknown:
        g.add((r, BX.unknownAgentName, literal(name)))
    uncounted = _uncounted(kb)
    others = {a for a in agents if a != policy.covered_drug and a not in uncounted}
    g.add((r, BX.otherAgentCount, literal(_distinct_agents(others, kb) + len(set(n.casefold() for n in unknown)))))
    derived.agents = sorted(kb.name_of(a) for a in agents)
    derived.regimens = sorted(kb.name_of(x) for x in regimens)
    derived.unknown_agents = unknown


def _distinct_agents(components: set[URIRef], kb: KnowledgeBase) -> int:
    """How many agents `components` are: each drug once; an agent alternative once, and not at all
    next to one of its own drugs or next to an alternative it shares a drug with (two regimens'
    "either of these enzymes" and one of the enzymes named are one agent)."""
    drugs = {c for c in components if c not in kb.alternatives}
    covered, count = set(drugs), len(drugs)
    for alternative in sorted(components - drugs):
        members = kb.alternatives[alternative]
        if not members & covered:
            count += 1
        covered |= members
    return count


def _uncounted(kb: KnowledgeBase) -> frozenset[URIRef]:
    """Drugs of a class the KB marks bx:countedAsAgent false (supportive care), once per KB."""
    found = kb.__dict__.get("_uncounted")
    if found is None:
        classes = {c for c, v in kb.graph.subject_objects(BX.countedAsAgent) if not v.toPython()}
        found = kb.__dict__["_uncounted"] = frozenset(i for i, ts in kb.types.items() if ts & classes)
    return found


def _daily_mcg(dose: dict | None, derived: Derived, kb: KnowledgeBase) -> Decimal | None:
    """mcg/day, exactly: the value as sent, or per-m2 value x body-surface area."""
    if not dose or dose.get("value") is None or dose.get("unit") not in kb.units:
        return None
    unit = kb.units[dose["unit"]]
    if not unit.per_bsa:
        return exact(dose["value"])
    if derived.bsa_m2 is None:
        return None  # reading 7: the dose criterion is then missing
    return product(exact(dose["value"]), derived.bsa_m2)


def _doses(g: Graph, node: URIRef, request: dict, derived: Derived, kb: KnowledgeBase) -> None:
    derived.daily_dose_mcg = _daily_mcg(request.get("dose"), derived, kb)
    if derived.daily_dose_mcg is not None:
        g.add((g.value(node, BX.dose), BX.dailyDoseMcg, _decimal(derived.daily_dose_mcg)))
    continuation = request.get("continuation") or {}
    previous = _daily_mcg(continuation.get("previous_dose"), derived, kb)
    c = g.value(node, BX.continuation)
    if previous is not None:
        g.add((g.value(c, BX.previousDose), BX.dailyDoseMcg, _decimal(previous)))
        if derived.daily_dose_mcg is not None:
            derived.dose_increase = derived.daily_dose_mcg > previous
            g.add((c, BX.doseIncrease, literal(derived.dose_increase)))


def _label_changes(g: Graph, node: URIRef, request_date: date, kb: KnowledgeBase, policy: PolicyInfo) -> None:
    """Reading 8: a recorded label change within the window before request_date, not reflected."""
    since = _months_before(request_date, policy.label_change_window_months)
    for change in kb.label_changes:
        if since <= change.when <= request_date and policy.version not in change.reflected_in:
            g.add((node, BX.recentLabelChange, change.iri))


def _types(g: Graph, kb: KnowledgeBase) -> None:
    """Give every KB individual the request mentions its full class closure, for sh:class."""
    types = kb.types
    if isinstance(g, SmallGraph):
        g.add_each(TYPE, g.objects_with(types))  # literals and blank nodes are never keys
        return
    for o in set(g.objects()):
        for cls in types.get(o, ()):
            g.add((o, TYPE, cls))
