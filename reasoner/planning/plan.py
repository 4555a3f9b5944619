"""The course of therapy Section V gives a request's patient, and billing units on a claim against it.

`schedule(request)` answers "what may this patient receive, cycle by cycle": the request is checked,
lifted and enriched as for a determination (so the indication, weight band and body-surface area are
the determination's own), then the Section V tables that reasoner/dosing.py read from the KB are
laid out with mcg/day, per-cycle totals, billing units and vials. Every figure of the policy comes
from the graph; this module only multiplies, sums and rounds up, in exact decimals
(reasoner/dosing/arithmetic.py); figures leave as JSON numbers (`json_number`), never rounded.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from rdflib import URIRef

from reasoner.flow.check import InvalidRequest, check_request
from reasoner.dosing.arithmetic import json_number, total
from reasoner.dosing.arithmetic import product as _times
from reasoner.dosing.doses import CycleDose, cycle_dose, units_allowed
from reasoner.dosing.selection import Selection, select
from reasoner.dosing.tables import SectionV, section_v
from reasoner.flow.enrich import enrich
from reasoner.policy.kb import BX
from reasoner.flow.lift import lift

if TYPE_CHECKING:
    from reasoner.flow.engine import Reasoner

def _fmt(x: Decimal | None) -> str:
    """A figure for a sentence: every digit it has, no exponent, no trailing zeros (27.5, 12, 1.1)."""
    if x is None:
        return "?"
    text = f"{x:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def vial_rule(sv: SectionV) -> str | None:
    if sv.product is None:
        return None
    return (f"whole {_fmt(sv.product.strength_mcg)} mcg single-dose vials, one infusion bag per day: each dose "
            f"day needs mcg/day / {_fmt(sv.product.strength_mcg)} vials, rounded up; the rest is discarded")


def units_rule(sv: SectionV) -> str | None:
    if sv.product is None:
        return None
    return (f"{sv.product.code} units per cycle = the cycle's total mcg / {_fmt(sv.product.mcg_per_unit)} mcg "
            "per unit, rounded up to a whole unit")


class _Context:
    """One request, enriched: its Section V row, weight band and body-surface area."""

    def __init__(self, request: Any, reasoner: "Reasoner | None") -> None:
        if reasoner is None:
            from reasoner.flow.engine import default_reasoner

            reasoner = default_reasoner()
        self.kb = reasoner.kb
        self.request = check_request(request)
        policy = self.kb.policies.get(self.request["policy"])
        if policy is None:
            raise InvalidRequest("policy", "not a policy this knowledge base encodes")
        self.policy = policy
        self.graph, self.node = lift(self.request)
        self.derived = enrich(self.graph, self.node, self.request, self.kb, policy)
        self.sv = section_v(self.kb, policy.covered_drug)
        self.selection: Selection = select(self.sv, self.graph, self.node)
        member = self.graph.value(self.node, BX.member)
        self.band: URIRef | None = self.graph.value(member, BX.weightBand) if member is not None else None
        self.bsa = self.derived.bsa_m2
        ind = self.selection.indication
        self.schedule = self.sv.schedule(ind.iri if ind else None, self.band)

    def missing(self) -> list[str]:
        """What the request must add before the plan has every figure."""
        if self.selection.indication is None:
            return list(self.selection.missing)
        if self.band is None:
            return ["member.weight_kg"]
        per_bsa = any(s.per_bsa for c in self.schedule.cycles for s in c.segments) if self.schedule else False
        if per_bsa and self.bsa is None:
            member = self.request["member"]
            return ["member.height_cm" if member.get("weight_kg") is not None else "member.weight_kg",
                    "member.bsa_m2"]
        return []

    def band_info(self) -> dict[str, Any] | None:
        if self.band is None:
            return None
        return {"iri": str(self.band), "notation": self.kb.name_of(self.band),
                "label": self.kb.titles.get(self.band, self.kb.name_of(self.band))}

    def cycle_dose(self, number: int) -> CycleDose | None:
        if self.schedule is None:
            return None
        cycle = self.schedule.cycle(number)
        return None if cycle is None else cycle_dose(cycle, self.bsa, self.schedule.max_daily_mcg, self.sv.product)

    def describe(self, number: int) -> str:
        ind = self.selection.indication
        parts = [f"cycle {number}"]
        c = self.schedule.cycle(number) if self.schedule else None
        if c is not None:
            parts.append(c.phase_label)
        if ind is not None:
            parts.append(ind.label)
        band = self.band_info()
        if band is not None:
            parts.append(band["label"])
        return ", ".join(parts)


def _segment_dict(part) -> dict[str, Any]:
    seg = part.segment
    item: dict[str, Any] = {"first_day": seg.first_day, "last_day": seg.last_day, "days": seg.days}
    if seg.is_dose:
        item.update({"kind": "dose", "label_dose": json_number(seg.amount), "label_unit": seg.unit_spelling,
                     "step_up": seg.step_up, "mcg_per_day": json_number(part.mcg_per_day), "capped": part.capped,
                     "total_mcg": json_number(part.total_mcg), "vials": part.vials})
    else:
        item.update({"kind": "treatment-free", "treatment_free_days": seg.free_days})
    return item


def _cycle_dict(dose: CycleDose, sv: SectionV) -> dict[str, Any]:
    c = dose.cycle
    return {"cycle": c.number, "phase": c.phase_label, "group": c.group_label, "optional": c.optional,
            "length_days": c.length_days, "segments": [_segment_dict(p) for p in dose.segments],
            "total_mcg": json_number(dose.total_mcg), "units": dose.units, "vials": dose.vials,
            "vial_mcg": None if dose.vials is None or sv.product is None
            else json_number(_times(Decimal(dose.vials), sv.product.strength_mcg))}


def _sum(values: list[Any]) -> Any:
    return None if not values or None in values else sum(values)


def _course_mcg(doses: list[CycleDose]) -> Decimal | None:
    figures = [d.total_mcg for d in doses]
    return None if not figures or None in figures else total(figures)


def schedule(request: Any, reasoner: "Reasoner | None" = None) -> dict[str, Any]:
    """The cycle-by-cycle plan of Section V for the request's indication, weight band and BSA.

    Raises InvalidRequest for a request that breaks contract v1. An unknown indication, weight or
    body-surface area is not an error: `missing` names the fields to send and the plan has what is known.
    """
    ctx = _Context(request, reasoner)
    sv, ind = ctx.sv, ctx.selection.indication
    missing = ctx.missing()
    doses = [d for d in (ctx.cycle_dose(c.number) for c in ctx.schedule.cycles)
             if d is not None] if ctx.schedule else []
    cycles = [_cycle_dict(d, sv) for d in doses]
    if ind is None and not missing:
        message = ("No Section V row fits this request: its disease status, MRD status, phase and Ph status "
                   "select none of the FDA-approved indications.")
    elif ind is None:
        message = "Which Section V row applies is unknown: send " + ", ".join(missing) + "."
    elif missing:
        message = "The plan lacks figures that need " + ", ".join(missing) + "."
    else:
        message = None
    product = sv.product
    return {
        "id": ctx.request["id"],
        "policy": ctx.policy.identifier,
        "policy_version": ctx.policy.version_label,
        "section": "V",
        "complete": ind is not None and not missing,
        "missing": missing,
        "message": message,
        "indication": None if ind is None else {
            "iri": str(ind.iri), "label": ind.label, "treatment_course": ind.course,
            "also_fits": [other.label for other in ctx.selection.also_fits]},
        "weight_kg": ctx.request["member"].get("weight_kg"),
        "weight_band": ctx.band_info(),
        "bsa_m2": json_number(ctx.bsa),
        "maximum_daily_dose_mcg": None if ctx.schedule is None else json_number(ctx.schedule.max_daily_mcg),
        "maximum_cycles": None if ctx.schedule is None else ctx.schedule.last_cycle,
        "billing": None if product is None else {
            "code": product.code, "description": product.code_label, "mcg_per_unit": json_number(product.mcg_per_unit),
            "rule": units_rule(sv)},
        "vials": None if product is None else {
            "product": product.label, "strength_mcg": json_number(product.strength_mcg), "rule": vial_rule(sv)},
        "cycles": cycles,
        "course_maximum": {
            "cycles": len(cycles),
            "total_mcg": json_number(_course_mcg(doses)),
            "units": _sum([c["units"] for c in cycles]),
            "vials": _sum([c["vials"] for c in cycles]),
        },
    }


def _whole(value: Any, field: str, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise InvalidRequest(field, f"must be an integer of at least {least}")
    return value


def check_units(request: Any, units_billed: int | None = None, cycle: int | None = None,
                reasoner: "Reasoner | None" = None) -> dict[str, Any]:
    """Billing units (HCPCS) billed for one cycle against those Section V allows for this patient and cycle.

    `units_billed` and `cycle` default to the request's `units_billed` and `regimen.cycle`. The
    allowance is the cycle's total mcg rounded up to whole units; `within_allowed` is None (unknown)
    when the indication, weight or body-surface area it needs is missing.
    """
    ctx = _Context(request, reasoner)
    if units_billed is None:
        units_billed = ctx.request.get("units_billed")
    if cycle is None:
        cycle = (ctx.request.get("regimen") or {}).get("cycle")
    units_billed = _whole(units_billed, "units_billed", 0)
    cycle = _whole(cycle, "regimen.cycle", 1)
    sv, product = ctx.sv, ctx.sv.product
    code = product.code if product else "billing"
    allowed = units_allowed(sv, ctx.schedule, cycle, ctx.bsa) if ctx.schedule is not None else None
    dose = ctx.cycle_dose(cycle)
    missing = ctx.missing()
    result: dict[str, Any] = {
        "id": ctx.request["id"], "section": "V", "cycle": cycle, "units_billed": units_billed,
        "units_allowed": allowed, "difference": None if allowed is None else units_billed - allowed,
        "within_allowed": None if allowed is None else units_billed <= allowed,
        "billing_code": None if product is None else product.code,
        "mcg_per_unit": None if product is None else json_number(product.mcg_per_unit),
        "missing": missing, "cycle_plan": None if dose is None else _cycle_dict(dose, sv),
    }
    if allowed is None:
        result["explanation"] = (
            f"The {code} units Section V allows for cycle {cycle} are unknown: send {', '.join(missing)}."
            if missing else "No Section V row fits this request, so Section V sets no units for it.")
        return result
    if dose is None:
        basis = (f"Cycle {cycle} is beyond the {ctx.schedule.last_cycle} cycles of the Section V treatment "
                 f"course ({ctx.selection.indication.label}): no units are allowed.")
    else:
        days = "; ".join(f"days {p.segment.first_day}-{p.segment.last_day} at {_fmt(p.mcg_per_day)} mcg/day"
                         + (" (capped at the maximum)" if p.capped else "")
                         for p in dose.segments if p.segment.is_dose)
        basis = (f"Section V allows {allowed} {code} units for {ctx.describe(cycle)}: {days} = "
                 f"{_fmt(dose.total_mcg)} mcg; 1 unit = {_fmt(product.mcg_per_unit)} mcg, rounded up to a whole unit.")
    diff = units_billed - allowed
    if diff > 0:
        verdict = f"Billed {units_billed}: {diff} units more than Section V allows."
    elif diff < 0:
        verdict = f"Billed {units_billed}: {-diff} units fewer than allowed (within Section V)."
    else:
        verdict = f"Billed {units_billed}: exactly the units allowed."
    result["explanation"] = basis + " " + verdict
    return result
