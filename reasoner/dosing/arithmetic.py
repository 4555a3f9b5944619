"""Exact arithmetic for doses and body-surface area: decimals in, decimals out, rounding only where
docs/contract-extensions.md ("Where rounding happens") says.

A threshold (a maximum daily dose, a weight band's bound, a dose warning's tolerance) is compared
with the exact value the request implies. Binary floating point puts 1.12 m2 x 25 mcg/m2/day a
hair (4e-15) past the whole number it equals, and so past a bound it only reaches; here the
product is exact. Inputs become decimals by `reasoner.shacl.datagraph.exact` (a JSON number as the
digits it was written with); products and differences are exact (an unbounded context that
refuses to round); a quotient is only ever rounded up to a whole number (billing units, vials);
the one irrational figure, Mosteller's square root, is rounded half up to the number of decimal
places the knowledge base states, exactly (integer square root, no float).
"""

from __future__ import annotations

import math
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal, Inexact, Rounded
from fractions import Fraction

__all__ = ["ceiling_quotient", "difference", "json_number", "mosteller", "product", "total"]

# Wide enough for any product or sum of two decimals; Inexact or Rounded would be a bug: raise.
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[Inexact, Rounded])


def product(a: Decimal, b: Decimal) -> Decimal:
    """a x b, exactly."""
    return _EXACT.multiply(a, b)


def difference(a: Decimal, b: Decimal) -> Decimal:
    """a - b, exactly."""
    return _EXACT.subtract(a, b)


def total(values) -> Decimal:
    """The sum of decimals, exactly (Python's sum() rounds to the default context's precision)."""
    out = Decimal(0)
    for v in values:
        out = _EXACT.add(out, v)
    return out


def ceiling_quotient(a: Decimal, b: Decimal) -> int:
    """a / b rounded up to a whole number, exactly (no binary noise can add or save a unit)."""
    return math.ceil(Fraction(a) / Fraction(b))


def mosteller(height_cm: Decimal, weight_kg: Decimal, places: int) -> Decimal:
    """Mosteller's body-surface area sqrt(height_cm x weight_kg / 3600) in m2, rounded half up to
    `places` decimals, exactly: with t = 10^(2 places) x height x weight / 3600, the result n / 10^places
    is the largest n with n - 1/2 <= sqrt(t), i.e. (2n - 1)^2 <= 4t (n = 0 when none is)."""
    hn, hd = height_cm.as_integer_ratio()  # integers throughout: exact, and no Fraction objects
    wn, wd = weight_kg.as_integer_ratio()
    four_t = (4 * hn * wn * 10 ** (2 * places)) // (hd * wd * 3600)  # floor(4t)
    largest = math.isqrt(four_t)  # the largest m with m^2 <= 4t
    return Decimal((largest + 1) // 2).scaleb(-places)


def json_number(value: Decimal | int | None) -> int | float | None:
    """A decimal as a JSON number: an int when whole (12), else the float whose shortest repr is the
    decimal's digits (27.5). Never a string. A figure of more than 15 significant digits prints as
    the nearest double; decisions use the exact value."""
    if value is None or isinstance(value, int):
        return value
    if value == value.to_integral_value():
        return int(value)
    return float(value)
