"""A bounded fuzz of the contract and the engine (issue 13): hostile requests never crash anything,
and every rejection names its field without repeating a value.

20,000 requests by default (in four parts, for pytest-xdist), half through the Python API (values
JSON has no type for included), half as JSON text (cut, bytes flipped, 5,000-digit numbers, 1e999,
nesting 100,000 deep). `BLINCYTO_FUZZ_N=200000` runs a longer one. Every outcome is either a
determination that JSON can hold (no Infinity) or an InvalidRequest whose field is printable, names
a field of the request (or the whole request, when the text is not JSON or is over the size limit)
and whose reasons never quote a value. A hypothesis test puts arbitrary JSON into every field.
"""

from __future__ import annotations

import json
import os
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzzgen import SECRET, hostile
from reasoner.flow.check import MAX_ERRORS, WHOLE_REQUEST, InvalidRequest, field_name, parse_request_text, request_schema
from reasoner.flow.engine import default_reasoner
from reasoner.flow.provenance import determination_graph, serialize
from requestgen import requests

N = int(os.environ.get("BLINCYTO_FUZZ_N", "20000"))
PARTS = 4
FIELDS = set(request_schema()["properties"])
WHOLE_TEXT_REASONS = ("not valid JSON", "not valid: the key", "is too large", "must be a JSON object")


def _roots(req, text: bytes) -> set[str]:
    """The names a field may start with: the contract's, and the keys that were sent (from the text
    when there is one: a flipped byte makes a key of its own)."""
    if text:
        try:
            req = json.loads(text)
        except (ValueError, RecursionError):
            req = {}
    keys = req if isinstance(req, dict) else {}
    return FIELDS | {field_name(k) for k in keys}


def _names_its_field(exc: InvalidRequest, req, text: bytes) -> str | None:
    """What is wrong with the error, or None."""
    if not exc.errors or len(exc.errors) > MAX_ERRORS or (exc.field, exc.reason) != exc.errors[0]:
        return f"errors list {exc.errors!r:.200}"
    for field, reason in exc.errors:
        if not (field and field.isprintable() and reason.isprintable() and len(field) < 400):
            return f"field or reason not printable: {field!r:.200} {reason!r:.200}"
        if SECRET in field or SECRET in reason:
            return "a value is quoted in the error"
    if exc.field == WHOLE_REQUEST:
        if text and exc.reason.startswith(WHOLE_TEXT_REASONS):
            return None
        return f"(request) named for a field-level problem: {exc.reason}"
    if not any(exc.field == r or exc.field.startswith((r + ".", r + "[")) for r in _roots(req, text)):
        return f"names no field of the request: {exc.field!r:.200}"
    return None


@pytest.mark.parametrize("part", range(PARTS))
def test_hostile_requests_never_crash_and_every_rejection_names_its_field(part):
    engine = default_reasoner()
    problems: list[str] = []
    counts: Counter = Counter()
    for req, text, note in hostile(N // PARTS, seed=1000 + part):
        try:
            if text:
                ev = engine.evaluate_full(parse_request_text(text), checked=True)
            else:
                ev = engine.evaluate_full(req)
        except InvalidRequest as exc:
            counts["rejected"] += 1
            wrong = _names_its_field(exc, req, text)
            if wrong:
                problems.append(f"{note}: {wrong}")
            continue
        except Exception as exc:  # noqa: BLE001 - what the test is looking for
            problems.append(f"{note}: crashed with {type(exc).__name__}")
            continue
        counts["decided"] += 1
        det = ev.determination
        json.dumps(det, allow_nan=False)  # raises on Infinity / NaN
        if counts["decided"] % 25 == 0:  # the RDF output too, now and then
            trig = serialize(determination_graph(ev))
            assert '"INF"' not in trig and '"NaN"' not in trig
    print(f"fuzz part {part}: {sum(counts.values())} requests, {counts['rejected']} rejected, "
          f"{counts['decided']} decided, {len(problems)} problems")
    assert sum(counts.values()) == N // PARTS
    assert counts["rejected"] > N // PARTS // 2 and counts["decided"] > 0  # the fuzz reaches both sides
    assert not problems, "\n".join(problems[:10])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20) | st.sampled_from(["\ud800", "\x1b[2J", "0001-01-01", "2199-12-31", "x" * 300]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=12,
)
BASES = list(requests(30, seed=31))
FIELD_PATHS = [("id",), ("request_date",), ("member", "weight_kg"), ("member", "height_cm"), ("member", "bsa_m2"),
               ("member", "birth_date"), ("dose", "value"), ("regimen", "with"), ("regimen", "cycle"),
               ("prescriber", "consulting_specialties"), ("diagnosis", "mrd"), ("units_billed",),
               ("continuation", "days_on_therapy"), ("diagnosis", "diagnosis_date"), ("extra",)]


@settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=st.sampled_from(BASES), path=st.sampled_from(FIELD_PATHS), value=json_values,
       as_text=st.booleans())
def test_any_json_in_any_field_is_a_determination_or_names_the_field(base, path, value, as_text):
    req = json.loads(json.dumps(base))
    node = req
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value
    text = json.dumps(req).encode() if as_text else b""
    try:
        det = default_reasoner().evaluate(parse_request_text(text) if as_text else req)
    except InvalidRequest as exc:
        assert _names_its_field(exc, req, text) is None
        return
    json.dumps(det, allow_nan=False)
