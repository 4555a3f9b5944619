"""The fast accept gate (fastjsonschema) and jsonschema must give the same verdict on every request.

reasoner/check.py lets a request through on the gate's word alone, and only asks jsonschema (which
words the errors) when the gate rejects. A request the gate accepts but jsonschema would reject would
slip past the contract, so hypothesis breaks valid requests one field at a time (wrong types, bounds,
impossible dates, unknown keys, nulls, removed fields) and compares the two verdicts, and
check_request's outcome with what jsonschema alone says.
"""
from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reasoner.flow.check import InvalidRequest, _validator, check_request, schema_accepts

sys.path.insert(0, str(Path(__file__).parent))
from requestgen import requests  # noqa: E402

BASES = list(requests(60, seed=11))
SETTINGS = settings(max_examples=1500, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def _paths(obj, prefix=()):
    """Every (path) to a value in a JSON object, list items included."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield prefix + (key,)
            yield from _paths(value, prefix + (key,))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield prefix + (i,)
            yield from _paths(value, prefix + (i,))


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 400), st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, 0.0, 1.0, -0.0, 1e-9, 27.9999, 28, 28.0, 45, 44.99, 2.0, 1e300]),
    st.text(max_size=12),
    st.sampled_from(["", " ", "2024-02-29", "2023-02-29", "2023-02-30", "2023-13-01", "2023-1-01", "20230101",
                     "2023-01-01T00:00:00", "0000-01-01", "9999-12-31", "B-ALL", "negative", "positive",
                     "unknown", "initial", "continuation", "commercial", "HIM", "medicaid", "mcg/day",
                     "mcg/m2/day", "C91.00", "C91.0", "c91.00", "CP.PHAR.312", "first-line", "x" * 300]),
)
values = st.one_of(scalars, st.lists(scalars, max_size=3), st.dictionaries(st.text(max_size=6), scalars, max_size=2))


BASE_REQUESTS = st.sampled_from(BASES)
ACTIONS = st.sampled_from(["replace", "replace", "remove", "add"])
EXTRA_KEYS = st.sampled_from(["extra", "@context", "@type", "bsa", "units"])
CHANGES = st.integers(1, 3)


@st.composite
def broken_requests(draw):
    """A valid request with one to three fields replaced, removed, or added. (The strategies are made
    once, above: a `sampled_from` made in each draw costs hypothesis a label over its elements.)"""
    req = copy.deepcopy(draw(BASE_REQUESTS))
    for _ in range(draw(CHANGES)):
        paths = list(_paths(req))
        action = draw(ACTIONS)
        if not paths:
            break
        path = paths[draw(st.integers(0, len(paths) - 1))]  # sampled_from(paths), without the label
        parent = req
        for part in path[:-1]:
            parent = parent[part]
        if action == "replace":
            parent[path[-1]] = draw(values)
        elif action == "remove":
            if isinstance(parent, dict):
                del parent[path[-1]]
            else:
                parent.pop(path[-1])
        elif isinstance(parent, dict):
            parent[draw(EXTRA_KEYS)] = draw(values)
    return req


def _jsonschema_valid(obj) -> bool:
    return not any(True for _ in _validator().iter_errors(obj))


@SETTINGS
@given(broken_requests())
def test_gate_agrees_with_jsonschema(req):
    assert schema_accepts(req) == _jsonschema_valid(req)


@SETTINGS
@given(broken_requests())
def test_check_request_rejects_exactly_what_jsonschema_rejects(req):
    if not _jsonschema_valid(req):
        with pytest.raises(InvalidRequest):
            check_request(req)
    else:
        try:
            check_request(req)
        except InvalidRequest as exc:  # only the cross-field rules (dates out of order) may remain
            assert exc.reason.startswith("is "), exc


@pytest.mark.parametrize("req", BASES[:20], ids=lambda r: r["id"])
def test_valid_requests_pass_the_gate(req):
    assert schema_accepts(req) and _jsonschema_valid(req)


def test_gate_never_writes_into_the_callers_request():
    req = copy.deepcopy(BASES[0])
    req.pop("policy", None)
    before = copy.deepcopy(req)
    assert schema_accepts(req)
    checked = check_request(req)
    assert req == before  # the default was filled into the copy only
    assert checked["policy"] == "CP.PHAR.312"


@pytest.mark.parametrize("value", [("oncology",), {"oncology"}, "oncology"], ids=["tuple", "set", "string"])
def test_python_values_json_has_no_type_for_are_checked_by_jsonschema(value):
    """From Python, a tuple is not a JSON array: the gate (which would take it for one) is not asked."""
    req = copy.deepcopy(BASES[0])
    req.setdefault("prescriber", {})["consulting_specialties"] = value
    with pytest.raises(InvalidRequest) as err:
        check_request(req)
    assert err.value.field == "prescriber.consulting_specialties"


def test_python_date_object_is_rejected_naming_the_field():
    import datetime

    req = copy.deepcopy(BASES[0])
    req["request_date"] = datetime.date(2025, 1, 2)
    with pytest.raises(InvalidRequest) as err:
        check_request(req)
    assert err.value.field == "request_date"
