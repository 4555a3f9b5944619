"""The contract against hostile input (issue 13, items 1, 2, 7, 9): every trigger the issue found is an
InvalidRequest naming the field, from JSON text and from the Python API alike, and what an input costs
stays in proportion to it (errors listed stop at MAX_ERRORS, lists are not walked past the schema's
longest, a value under an unknown key is not looked at). Times are measured by
benchmarks/hostile.py, never here.
"""

from __future__ import annotations

import copy
import json
import math
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

import reasoner
from reasoner.flow import check as check_mod
from reasoner.flow.check import (MAX_ERRORS, MAX_REQUEST_BYTES, InvalidRequest, check_request, field_name,
                                 parse_request_text, request_schema)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
BASE = json.loads((EXAMPLES / "approve-initial-mrd-positive-pediatric-medicaid.json").read_text())


def _with(path: str, value):
    req = copy.deepcopy(BASE)
    node = req
    *parents, last = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return req


def _both(req) -> list[InvalidRequest]:
    """The error from the API and, when the request has a JSON text, from the text."""
    errors = []
    with pytest.raises(InvalidRequest) as api:
        reasoner.evaluate(req)
    errors.append(api.value)
    try:
        text = json.dumps(req)
    except (TypeError, ValueError, RecursionError):
        return errors
    with pytest.raises(InvalidRequest) as parsed:
        parse_request_text(text)
    errors.append(parsed.value)
    return errors


HUGE = 10**400  # above 1.8e308: float() overflows


def _shown(value) -> str:
    """A short text for a value (Python refuses str() of an int of 4,301 digits or more)."""
    if isinstance(value, int) and abs(value) > 10**20:
        return f"int of {value.bit_length()} bits"
    return repr(value)[:40]


@pytest.mark.parametrize(("path", "value"), [
    ("id", "\ud800"), ("id", "ok\udfff"), ("prescriber.specialty", "\udc80"), ("regimen.with", ["POMP", "\ud83d"]),
    ("member.weight_kg", HUGE), ("member.height_cm", HUGE), ("member.bsa_m2", HUGE), ("dose.value", HUGE),
    ("member.weight_kg", -HUGE), ("units_billed", 10**4300), ("regimen.cycle", 2**64),
    ("member.weight_kg", 1e308), ("member.height_cm", 1e308), ("member.bsa_m2", 11),
    ("request_date", "0001-01-15"), ("request_date", "0001-03-01"), ("member.birth_date", "0001-01-01"),
    ("diagnosis.diagnosis_date", "1899-12-31"), ("request_date", "2200-01-01"), ("request_date", "9999-12-31"),
    ("id", "x" * 257), ("id", "x" * 1_000_000), ("policy", "p" * 65), ("diagnosis.condition", "c" * 201),
    ("dose.supporting_evidence", "e" * 2001), ("regimen.with", ["a"] * 51),
    ("prescriber.consulting_specialties", ["oncology"] * 21), ("regimen.day", 367),
    ("continuation.days_on_therapy", 36601), ("dose.value", 100001),
], ids=_shown)
def test_each_trigger_names_the_field(path, value):
    for error in _both(_with(path, value)):
        assert error.field.split("[")[0] == path, error
        assert _shown(value)[:30] not in error.reason


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), Decimal("-Infinity"),
                                   float("nan"), float("inf"), 1j, complex(70, 0)], ids=repr)
def test_python_numbers_json_has_not_are_invalid_requests(value):
    with pytest.raises(InvalidRequest) as err:
        reasoner.evaluate(_with("member.weight_kg", value))
    assert err.value.field == "member.weight_kg"


def test_python_numbers_that_are_real_are_read_as_numbers():
    assert reasoner.evaluate(_with("member.weight_kg", Decimal("25")))["decision"] == "approve"
    assert reasoner.evaluate(_with("member.weight_kg", Fraction(10**5000 + 25, 10**5000)))["decision"] == "approve"
    with pytest.raises(InvalidRequest, match="at most"):
        reasoner.evaluate(_with("member.weight_kg", Fraction(10**5000)))


def _nested(depth: int, make):
    value = "x"
    for _ in range(depth):
        value = make(value)
    return value


@pytest.mark.parametrize("depth", [9, 1_000, 100_000])
@pytest.mark.parametrize(("path", "make"), [("regimen", lambda v: {"a": v}), ("regimen.with", lambda v: [v]),
                                             ("extra", lambda v: {"a": v})], ids=["dict", "list", "unknown"])
def test_deep_nesting_from_python_is_an_invalid_request(path, make, depth):
    with pytest.raises(InvalidRequest) as err:
        reasoner.evaluate(_with(path, _nested(depth, make)))
    assert err.value.field.startswith(path)


def test_deep_nesting_in_text_is_an_invalid_request():
    for depth in (900, 5_000, 200_000):
        with pytest.raises(InvalidRequest):
            parse_request_text('{"id": ' + "[" * depth + "]" * depth + "}")


def test_cycles_and_keys_that_are_not_text():
    cyclic: dict = {"birth_date": "2018-01-01"}
    cyclic["self"] = cyclic
    with pytest.raises(InvalidRequest) as err:
        check_request({**BASE, "member": cyclic})
    assert err.value.field == "member.self"
    with pytest.raises(InvalidRequest) as err:
        check_request({**BASE, 3: "x"})
    assert err.value.field == "int"


def test_errors_stop_after_a_few(monkeypatch):
    req = _with("regimen.with", [1] * 200_000)
    req.update({f"unknown-{i}": i for i in range(5_000)})
    for error in _both(req):
        assert len(error.errors) <= MAX_ERRORS
    seen = []
    real = check_mod._schema_errors
    monkeypatch.setattr(check_mod, "_schema_errors", lambda e: seen.append(e) or real(e))
    with pytest.raises(InvalidRequest):
        check_request(req)
    assert len(seen) <= MAX_ERRORS  # jsonschema was not walked further


def test_lists_are_not_walked_past_the_longest_the_schema_allows(monkeypatch):
    """200,000 items cost what 51 do in the check (the reading of the text aside)."""
    visited = []
    real = check_mod._screen
    monkeypatch.setattr(check_mod, "_screen", lambda v, *a: visited.append(1) or real(v, *a))
    with pytest.raises(InvalidRequest) as err:
        check_request(_with("regimen.with", ["x"] * 200_000))
    assert err.value.field == "regimen.with" and len(err.value.errors) == 1
    assert len(visited) < 200


def test_values_under_unknown_keys_are_not_looked_at(monkeypatch):
    visited = []
    real = check_mod._screen
    monkeypatch.setattr(check_mod, "_screen", lambda v, *a: visited.append(1) or real(v, *a))
    with pytest.raises(InvalidRequest) as err:
        check_request({**BASE, "junk": [[["x"] * 40] * 40] * 40})
    assert err.value.field == "junk" and len(visited) < 100


def test_text_over_the_size_limit_is_refused_before_it_is_parsed():
    text = json.dumps({**BASE, "junk": "x" * MAX_REQUEST_BYTES})
    with pytest.raises(InvalidRequest) as err:
        parse_request_text(text.encode())
    assert (err.value.field, err.value.reason) == ("(request)", check_mod.TOO_LARGE)
    with pytest.raises(InvalidRequest):
        parse_request_text(text)
    ok = json.dumps(BASE).encode()
    parse_request_text(ok + b" " * (MAX_REQUEST_BYTES - len(ok)))  # exactly the limit is accepted


@pytest.mark.parametrize("key", ["\x1b[2J\nDecision: APPROVE", "\u202eevil", "\ud800", "k" * 10_000, "=cmd"])
def test_unknown_keys_are_named_printably_and_briefly(key):
    for error in _both({**BASE, key: 1}):
        assert error.field == field_name(key) and error.field.isprintable() and len(error.field) <= 67


def test_duplicate_key_error_names_the_key_printably():
    with pytest.raises(InvalidRequest) as err:
        parse_request_text('{"\\u001b[2J": 1, "\\u001b[2J": 2}')
    assert err.value.field == "(request)" and "\x1b" not in err.value.reason and "\\x1b[2J" in err.value.reason


def test_every_number_of_the_schema_is_bounded_on_both_sides():
    """Bounds on every number (issue 13.1): a maximum and a minimum (or exclusive) on each, well within
    INT_LIMIT, so a saturated huge integer keeps its verdict."""
    found = []

    def walk(node, path):
        node = check_mod._resolve(node)
        if node.get("type") in ("number", "integer"):
            found.append(path)
            assert "maximum" in node or "exclusiveMaximum" in node, path
            assert "minimum" in node or "exclusiveMinimum" in node, path
            assert abs(node.get("maximum", node.get("exclusiveMaximum"))) < check_mod.INT_LIMIT
        if node.get("type") == "string" and "enum" not in node:
            assert "maxLength" in node or "pattern" in node, path
        if node.get("type") == "array":
            assert "maxItems" in node, path
        for name, sub in node.get("properties", {}).items():
            walk(sub, f"{path}.{name}" if path else name)
        if "items" in node:
            walk(node["items"], path + "[]")

    walk(request_schema(), "")
    assert len(found) >= 10


def test_the_limits_are_documented():
    doc = (Path(__file__).resolve().parent.parent / "docs" / "pipelines-robustness.md").read_text()
    for limit in ("1,048,576", "256", "200", "2,000", "50", "20", "1900-01-01", "2199-12-31", "1,000", "300",
                  "100,000", "10,000,000", "36,600", "366", str(MAX_ERRORS)):
        assert limit in doc, limit


def test_a_determination_never_holds_infinity():
    """1e308 kg gave `"bsa_m2": Infinity`: it is out of bounds now, and the largest valid values stay finite."""
    det = reasoner.evaluate(_with("member", {"birth_date": "2018-01-01", "weight_kg": 1000, "height_cm": 300}))
    assert math.isfinite(det["derived"]["bsa_m2"])
    json.dumps(det, allow_nan=False)
