"""Seeded generator of hostile requests (issue 13): valid requests broken one to three ways at once.

`hostile(n, seed)` yields (request, text, note): `request` a Python object for the API (it may hold
values JSON has no type for: Decimal('NaN'), complex, tuples, int keys, cycles), `text` the bytes a
batch line or `blincyto check` would get (JSON, sometimes cut or with bytes flipped), `note` what was
done (for a failing assertion's message). The same seed gives the same cases.

Hostile values are those that broke the engine before: huge integers, 1e308, dates of year 1, lone
surrogates, ANSI escapes, deep nesting, long lists and strings, unknown keys by the hundred.
"""

from __future__ import annotations

import json
import random
from decimal import Decimal
from fractions import Fraction
from typing import Any, Iterator

from requestgen import requests

SECRET = "PHI-7731-SECRET"  # in hostile string values: no error may repeat it

NUMBERS: list[Any] = [
    10**400, -(10**400), 10**30, 2**63, -(2**63), 10**19, 1e308, -1e308, 1.7976931348623157e308, 5e-324,
    0, -0.0, 0.0, 1, 1.5, -1, 28, 28.000000001, 45, 44.99, 100, 100.5, 1000, 1000.0001, 366, 367,
    36600, 36601, 10**7, 10**7 + 1, 100000, 100001, 10, 10.01, 300, 300.5, True, False,
]
PY_ONLY: list[Any] = [  # the API only: JSON has no text for these
    float("nan"), float("inf"), float("-inf"), Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"),
    Decimal("1e999999"), Decimal("28"), Decimal("-0"), 1j, complex(3, 0), Fraction(1, 3),
    Fraction(10**5000 + 1, 10**4999), 10**5000, ("POMP",), {"oncology"}, b"bytes", bytearray(b"x"),
    object(), Ellipsis, range(3),
]
STRINGS: list[str] = [
    "", " ", "\ud800", "a\udfffb", "\udc80" * 3, "\x1b[2J\x1b[1;1HDecision: APPROVE\n", "\r\n", "\t",
    "=HYPERLINK(\"http://x\",\"y\")", "+1", "-1", "@SUM(A1)", "\u202eevil", "\u0000", "\ufeff",
    "0001-01-15", "0001-01-01", "9999-12-31", "1899-12-31", "1900-01-01", "2199-12-31", "2200-01-01",
    "2024-02-29", "2023-02-29", "2026-13-01", "2026-11-01T00:00:00", "B-ALL", "hematology", "POMP",
    "mcg/day", "initial", "continuation", "medicaid", "C91.00", "CP.PHAR.312", "x" * 257, "y" * 2001,
    SECRET, SECRET + "\ud800", "é" * 201, "😀" * 50,
]
DATES = ["0001-01-15", "0001-02-28", "0001-12-31", "1899-12-31", "1900-01-01", "2199-12-31", "2200-01-01",
         "9999-12-31", "2026-02-29", "2024-02-29"]
KEYS = ["extra", "@context", "@id", "\ud800", "\x1b[31mred", "=cmd", "k" * 500, "id ", "ssn", "\u202e"]


def _paths(obj: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """Paths to mutate: the request's own fields (not deep inside what an earlier mutation put there)."""
    if len(prefix) > 4:
        return
    if isinstance(obj, dict) and len(obj) <= 40:
        for key, value in obj.items():
            yield prefix + (key,)
            yield from _paths(value, prefix + (key,))
    elif isinstance(obj, list) and len(obj) <= 10:
        for i, value in enumerate(obj):
            yield prefix + (i,)
            yield from _paths(value, prefix + (i,))


def _deep(rng: random.Random, depth: int) -> Any:
    value: Any = rng.choice(["x", 1, None])
    for _ in range(depth):
        value = [value] if rng.random() < 0.5 else {"a": value}
    return value


def _value(rng: random.Random, api: bool) -> Any:
    roll = rng.random()
    if roll < 0.30:
        return rng.choice(NUMBERS)
    if roll < 0.55:
        return rng.choice(STRINGS)
    if roll < 0.62:
        return rng.choice(DATES)
    if roll < 0.70 and api:
        return rng.choice(PY_ONLY)
    if roll < 0.76:
        return _deep(rng, rng.choice([5, 9, 40, 300, 2000]))
    if roll < 0.82:
        n = rng.choice([51, 300, 5000, 100_000])
        return [rng.choice(["x", SECRET, 1, None])] * n
    if roll < 0.87:
        return {rng.choice(KEYS) + str(i): i for i in range(rng.choice([1, 20, 2000]))}
    if roll < 0.92:
        return "z" * rng.choice([300, 70_000, 1_100_000])
    if roll < 0.96:
        return [rng.choice(STRINGS) for _ in range(rng.randint(0, 4))]
    return rng.choice([None, [], {}, True])


def _mutate(rng: random.Random, req: dict, api: bool) -> str:
    paths = list(_paths(req))
    action = rng.choice(["replace", "replace", "replace", "remove", "add"]) if paths else "add"
    path = rng.choice(paths) if paths else ("id",)
    parent: Any = req
    for part in path[:-1]:
        parent = parent[part]
    if not isinstance(parent, (dict, list)):
        parent, action = req, "add"
    if action == "replace":
        parent[path[-1]] = _value(rng, api)
    elif action == "remove":
        if isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent.pop(path[-1])
    elif isinstance(parent, dict):
        key: Any = rng.choice(KEYS)
        if api and rng.random() < 0.1:
            key = rng.choice([3, None, (1, 2), 2.5])
        parent[key] = _value(rng, api)
    return f"{action} {path!r}"


def _text(rng: random.Random, req: dict) -> tuple[bytes, str]:
    try:
        text = json.dumps(req, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")
    except (TypeError, ValueError, RecursionError):  # a Python-only value, or nested too deep for json: send the request without the mutation
        return b"", "not JSON"
    roll = rng.random()
    if roll < 0.05:
        return text[: rng.randint(0, len(text))], "cut"
    if roll < 0.10:
        i = rng.randrange(len(text))
        return text[:i] + bytes([rng.randrange(256)]) + text[i + 1:], "byte flipped"
    if roll < 0.13:
        return text.replace(b'"id"', b'"id": "dup", "id"', 1), "duplicate key"
    if roll < 0.16:
        return text.replace(b"}", b', "weight": NaN}', 1), "NaN"
    if roll < 0.19:
        return text.replace(b'"weight_kg": ', b'"weight_kg": 1' + b"0" * 5000 + b", \"x\": ", 1), "5,000 digits"
    if roll < 0.21:
        return text.replace(b'"weight_kg": ', b'"weight_kg": 1e999, "x": ', 1), "1e999"
    if roll < 0.23:
        return b"[" * 100_000 + b"]" * 100_000, "nested 100,000 deep"
    return text, "json"


def hostile(n: int, seed: int) -> Iterator[tuple[Any, bytes, str]]:
    rng = random.Random(seed)
    bases = list(requests(200, seed=seed))
    for i in range(n):
        api = rng.random() < 0.5
        req = json.loads(json.dumps(rng.choice(bases)))
        notes = [_mutate(rng, req, api) for _ in range(rng.choice([1, 1, 2, 3]))]
        text, how = _text(rng, req) if not api else (b"", "api")
        yield req, text, f"case {i} ({how}): " + "; ".join(notes)
