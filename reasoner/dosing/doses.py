"""Doses, billing units and vials of a Section V cycle for a member: the label's arithmetic."""

from __future__ import annotations

import math
from dataclasses import dataclass

from reasoner.dosing.tables import Cycle, Product, Schedule, SectionV, Segment

__all__ = ["CycleDose", "SegmentDose", "clean", "cycle_dose", "daily_mcg", "units_allowed"]

# Float noise (15 x 0.8 = 12.000000000000002) must not tip a whole-unit or whole-vial count.
_NOISE_DIGITS = 6

@dataclass(frozen=True)
class SegmentDose:
    segment: Segment
    mcg_per_day: float | None  # None: per-m2 amount and no body-surface area; 0 when treatment-free
    capped: bool
    total_mcg: float | None
    vials: int | None


@dataclass(frozen=True)
class CycleDose:
    cycle: Cycle
    segments: tuple[SegmentDose, ...]
    total_mcg: float | None
    units: int | None
    vials: int | None


def clean(x: float) -> float:
    return round(x, _NOISE_DIGITS)


def daily_mcg(segment: Segment, bsa: float | None, max_daily: float) -> tuple[float | None, bool]:
    """The label's mcg/day on a segment's days: per-m2 amounts times the BSA, capped at the maximum."""
    if segment.amount is None:
        return 0.0, False
    if segment.per_bsa:
        if bsa is None:
            return None, False
        value = segment.amount * bsa
    else:
        value = segment.amount
    return (max_daily, True) if clean(value) > max_daily else (value, False)


def cycle_dose(cycle: Cycle, bsa: float | None, max_daily: float, product: Product | None) -> CycleDose:
    """Per segment and per cycle: mcg, whole billing units (rounded up) and whole vials per dose day."""
    parts = []
    for seg in cycle.segments:
        mcg, capped = daily_mcg(seg, bsa, max_daily)
        total = None if mcg is None else mcg * seg.days
        vials = None
        if mcg is not None and product is not None:
            vials = math.ceil(clean(mcg / product.strength_mcg)) * seg.days
        parts.append(SegmentDose(seg, mcg, capped, total, vials))
    totals = [p.total_mcg for p in parts]
    total = None if None in totals else sum(t for t in totals if t is not None)
    units = None
    if total is not None and product is not None:
        units = math.ceil(clean(total / product.mcg_per_unit))
    vial_counts = [p.vials for p in parts]
    vials = None if None in vial_counts else sum(v for v in vial_counts if v is not None)
    return CycleDose(cycle, tuple(parts), total, units, vials)


def units_allowed(sv: SectionV, schedule: Schedule, number: int, bsa: float | None) -> int | None:
    """Billing units Section V allows for cycle `number`: 0 beyond the course, None when unknown."""
    cycle = schedule.cycle(number)
    if cycle is None:
        return 0 if number > schedule.last_cycle else None
    return cycle_dose(cycle, bsa, schedule.max_daily_mcg, sv.product).units
