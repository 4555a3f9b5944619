"""FHIR element values to contract values, one function per value kind of the mapping.

Each raises `Unusable` (a reason, never the value) when an element cannot give its field a value: a
partial date, a unit with no conversion, a text that names CD19 both ways. The caller decides whether
that is an error (a required field) or a warning.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any, Callable

__all__ = ["Unusable", "codings", "json_number", "read_value"]

UCUM = "http://unitsofmeasure.org"
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")


class Unusable(ValueError):
    """An element whose value cannot be used (the reason says why, without the value)."""


def json_number(value: Decimal | int | float) -> int | float:
    """An exact decimal as the contract's JSON number: an integer when whole, else the float whose
    shortest spelling is that decimal (so a later str() reads it back exactly)."""
    if not isinstance(value, Decimal):
        value = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def codings(values: list[Any]) -> list[tuple[str | None, str, str | None]]:
    """(system, code, display) of CodeableConcepts, Codings and plain strings (a payer's plan value)."""
    out = []
    for v in values:
        if isinstance(v, str):
            out.append((None, v, None))
        elif isinstance(v, dict) and "coding" in v:
            out.extend((c.get("system"), c["code"], c.get("display")) for c in v["coding"] or []
                       if isinstance(c, dict) and isinstance(c.get("code"), str))
        elif isinstance(v, dict) and isinstance(v.get("code"), str):
            out.append((v.get("system"), v["code"], v.get("display")))
    return out


def concept_text(value: Any) -> str | None:
    """What a person reads of a CodeableConcept: its text, else a coding's display."""
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("text"), str) and value["text"].strip():
        return value["text"].strip()
    for c in value.get("coding") or []:
        if isinstance(c, dict) and isinstance(c.get("display"), str) and c["display"].strip():
            return c["display"].strip()
    return None


def read_date(value: Any) -> str:
    if not isinstance(value, str):
        raise Unusable("is not a date")
    m = _DATE.match(value)
    if not m or (len(value) > 10 and value[10] != "T"):
        raise Unusable("is not a full date (YYYY-MM-DD): an age needs the day")
    try:
        date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        raise Unusable("is not a real calendar date") from None
    return value[:10]


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, float)):
        raise Unusable("has no numeric value")
    try:
        return Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        raise Unusable("has no numeric value") from None


def quantity_in(value: Any, target: str, conversions: dict[tuple[str, str], Decimal]) -> Decimal:
    """A Quantity in `target` (UCUM), by the mapping's exact factors (UCUM code first, then unit text)."""
    if not isinstance(value, dict):
        raise Unusable("is not a Quantity")
    number = _decimal(value.get("value"))
    units = [value.get("code")] if value.get("system") in (UCUM, None) and value.get("code") else []
    units.append(value.get("unit"))
    for unit in units:
        if isinstance(unit, str) and (unit, target) in conversions:
            return number * conversions[(unit, target)]
    raise Unusable(f"has a unit with no conversion to {target}")


def read_dose(value: Any, dose_units: dict[str, str], conversions: dict[tuple[str, str], Decimal]) -> dict:
    """A dose Quantity as {value, unit} in a KB dose unit (its contract spelling)."""
    for ucum, spelling in sorted(dose_units.items()):
        try:
            amount = quantity_in(value, ucum, conversions)
        except Unusable:
            continue
        return {"value": json_number(amount), "unit": spelling}
    raise Unusable("has a unit that is not a dose unit of the knowledge base (UCUM ug/d or ug/(m2.d))")


@cache
def _pattern(text: str) -> re.Pattern:
    return re.compile(text, re.IGNORECASE)


def text_flag(value: Any, true_patterns: tuple[str, ...], false_patterns: tuple[str, ...]) -> bool:
    if not isinstance(value, str):
        raise Unusable("is not a text")
    yes = any(_pattern(p).search(value) for p in true_patterns)
    no = any(_pattern(p).search(value) for p in false_patterns)
    if yes and no:
        raise Unusable("states the marker both positive and negative")
    if not (yes or no):
        raise Unusable("does not state the marker")
    return yes


def read_string(value: Any) -> str:
    if isinstance(value, str) and value.strip():
        return value.strip()
    text = concept_text(value)
    if text:
        return text
    if isinstance(value, dict) and isinstance(value.get("value"), str):
        return value["value"]
    raise Unusable("is not a text")


def read_integer(value: Any) -> int:
    number = _decimal(value)
    if number != number.to_integral_value():
        raise Unusable("is not a whole number")
    return int(number)


def read_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise Unusable("is not true or false")


READERS: dict[str, Callable[..., Any]] = {
    "date": lambda v, s, m: read_date(v),
    "string": lambda v, s, m: read_string(v),
    "integer": lambda v, s, m: read_integer(v),
    "boolean": lambda v, s, m: read_boolean(v),
    "quantity": lambda v, s, m: json_number(quantity_in(v, s.target_unit, m.conversions)),
    "dose": lambda v, s, m: read_dose(v, m.dose_units, m.conversions),
    "text-flag": lambda v, s, m: text_flag(v, s.true_patterns, s.false_patterns),
}


def read_value(kind: str, value: Any, source: Any, mapping: Any) -> Any:
    """The contract value of an element, by the source's value kind (not `drug`: see request.py)."""
    reader = READERS.get(kind)
    if reader is None:
        raise LookupError(f"the FHIR mapping names a value kind the evaluator does not know: {kind}")
    return reader(value, source, mapping)
