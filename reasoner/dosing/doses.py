"""Doses, billing units and vials of a Section V cycle for a member: the label's arithmetic.

Exact decimals throughout (reasoner/dosing/arithmetic.py): mcg/day is the label's amount, or its
per-m2 amount times the body-surface area, capped at the maximum; totals are sums of those; the
only rounding is up to whole billing units and whole vials, from the exact figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from reasoner.dosing.arithmetic import ceiling_quotient, product, total
from reasoner.dosing.tables import Cycle, Product, Schedule, SectionV, Segment

__all__ = ["CycleDose", "SegmentDose", "cycle_dose", "daily_mcg", "units_allowed"]

_ZERO = Decimal(0)


@dataclass(frozen=True)
class SegmentDose:
    segment: Segment
    mcg_per_day: Decimal | None  # None: per-m2 amount and no body-surface area; 0 when treatment-free
    capped: bool
    total_mcg: Decimal | None
    vials: int | None


@dataclass(frozen=True)
class CycleDose:
    cycle: Cycle
    segments: tuple[SegmentDose, ...]
    total_mcg: Decimal | None
    units: int | None
    vials: int | None


def daily_mcg(segment: Segment, bsa: Decimal | None, max_daily: Decimal) -> tuple[Decimal | None, bool]:
    """The label's mcg/day on a segment's days: per-m2 amounts times the BSA, capped at the maximum."""
    if segment.amount is None:
        return _ZERO, False
    if segment.per_bsa:
        if bsa is None:
            return None, False
        value = product(segment.amount, bsa)
    else:
        value = segment.amount
    return (max_daily, True) if value > max_daily else (value, False)


def cycle_dose(cycle: Cycle, bsa: Decimal | None, max_daily: Decimal, product_: Product | None) -> CycleDose:
    """Per segment and per cycle: mcg, whole billing units (rounded up) and whole vials per dose day."""
    parts = []
    for seg in cycle.segments:
        mcg, capped = daily_mcg(seg, bsa, max_daily)
        mcg_total = None if mcg is None else product(mcg, Decimal(seg.days))
        vials = None
        if mcg is not None and product_ is not None:
            vials = ceiling_quotient(mcg, product_.strength_mcg) * seg.days
        parts.append(SegmentDose(seg, mcg, capped, mcg_total, vials))
    totals = [p.total_mcg for p in parts]
    cycle_total = None if None in totals else total(t for t in totals if t is not None)
    units = None
    if cycle_total is not None and product_ is not None:
        units = ceiling_quotient(cycle_total, product_.mcg_per_unit)
    vial_counts = [p.vials for p in parts]
    vials = None if None in vial_counts else sum(v for v in vial_counts if v is not None)
    return CycleDose(cycle, tuple(parts), cycle_total, units, vials)


def units_allowed(sv: SectionV, schedule: Schedule, number: int, bsa: Decimal | None) -> int | None:
    """Billing units Section V allows for cycle `number`: 0 beyond the course, None when unknown."""
    cycle = schedule.cycle(number)
    if cycle is None:
        return 0 if number > schedule.last_cycle else None
    return cycle_dose(cycle, bsa, schedule.max_daily_mcg, sv.product).units
