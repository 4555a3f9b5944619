"""The request against the label, as derived facts: its Section V row, the label's unit and dose on
the requested day, and the differences (declared in ontology/core.ttl). Whether a difference
deserves a warning is decided by the shapes in shapes/dosing.ttl, which hold the limits. Every
figure is an exact decimal, so a difference at a tolerance (0.05 mcg/day) is at it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Iterator

from rdflib import Graph, URIRef

from reasoner.dosing.arithmetic import difference
from reasoner.dosing.doses import daily_mcg, units_allowed
from reasoner.dosing.selection import select
from reasoner.dosing.tables import Schedule, section_v
from reasoner.policy.kb import BX, KnowledgeBase, PolicyInfo
from reasoner.shacl.datagraph import decimal, literal

__all__ = ["enrich_dosing"]

def enrich_dosing(g: Graph, node: URIRef, request: dict[str, Any], kb: KnowledgeBase, policy: PolicyInfo,
                  bsa_m2: Decimal | None, daily_dose_mcg: Decimal | None) -> None:
    """Write the request's Section V row, the label's unit and dose, and the differences from them."""
    sv = section_v(kb, policy.covered_drug)
    for warning in sv.boxed_warnings:
        g.add((node, BX.boxedWarningReminder, warning))
    selection = select(sv, g, node)
    indication = selection.indication.iri if selection.indication else None
    if indication is not None:
        g.add((node, BX.sectionVIndication, indication))

    member = g.value(node, BX.member)
    band = g.value(member, BX.weightBand) if member is not None else None
    units = sv.band_units(band, indication) if band is not None else frozenset()
    if len(units) == 1:
        g.add((node, BX.labelDoseUnit, next(iter(units))))
    dose = g.value(node, BX.dose)
    spelling = (request.get("dose") or {}).get("unit")
    if dose is not None and spelling in kb.units:
        g.add((dose, BX.requestedUnit, kb.units[spelling].iri))

    regimen_node = g.value(node, BX.regimen)
    regimen = request.get("regimen") or {}
    number, day = regimen.get("cycle"), regimen.get("day")
    if regimen_node is None or number is None or indication is None:
        return
    last = sv.last_cycle(indication)
    if last is not None:
        g.add((regimen_node, BX.cyclesBeyondLabel, literal(number - last)))
    schedule = sv.schedule(indication, band)
    if schedule is None:
        return
    for fact in _against_cycle(schedule, number, day, bsa_m2, daily_dose_mcg):
        g.add((dose if fact[0] == "dose" else regimen_node, fact[1], decimal(fact[2])))
    billed = request.get("units_billed")
    allowed = units_allowed(sv, schedule, number, bsa_m2)
    if allowed is not None:
        g.add((node, BX.unitsAllowed, literal(allowed)))
        if billed is not None:
            g.add((node, BX.unitsBilledExcess, literal(billed - allowed)))


def _against_cycle(schedule: Schedule, number: int, day: int | None, bsa: Decimal | None,
                   requested: Decimal | None) -> Iterator[tuple[str, URIRef, Decimal]]:
    """(node, property, value): the label's dose on the requested day, and the request's differences."""
    cycle = schedule.cycle(number)
    if cycle is None:
        return
    if day is not None:
        segment = cycle.segment_on(day)
        label = None if segment is None else daily_mcg(segment, bsa, schedule.max_daily_mcg)[0]
        if label is not None:
            yield "regimen", BX.labelDailyDoseMcg, label
            if requested is not None:
                yield "dose", BX.labelDoseDifferenceMcg, difference(requested, label)
    for segment in cycle.segments:
        if segment.step_up and (day is None or segment.covers(day)) and requested is not None:
            step = daily_mcg(segment, bsa, schedule.max_daily_mcg)[0]
            if step is not None:
                yield "dose", BX.stepUpDifferenceMcg, difference(requested, step)
