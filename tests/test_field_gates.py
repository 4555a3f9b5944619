"""A rejected request's errors come from jsonschema walking only the fields their own gate refuses
(`reasoner.flow.check._schema_error_stream`): the same errors, in the same order, as jsonschema walking
the whole request. Held here on broken requests (hypothesis) and on the fuzz's hostile ones.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fuzzgen import hostile
from reasoner.flow.check import _field_gates, _plain_accepted, _schema_error_stream, _schema_errors, _screen, _validator, request_schema
from test_check_properties import SETTINGS, broken_requests, values


def _key(error) -> tuple:
    """An error as jsonschema says it and as the check words it (`_schema_errors`: the field and the
    reason a user reads)."""
    return (tuple(error.absolute_path), error.validator, repr(error.validator_value), error.message,
            tuple(_schema_errors(error)))


def _both(obj) -> tuple[list, list]:
    problems: list = []
    screened = _screen(obj, request_schema(), (), problems)
    if not isinstance(screened, dict):
        return [], []
    return ([_key(e) for e in _validator().iter_errors(screened)],
            [_key(e) for e in _schema_error_stream(screened)])


@settings(SETTINGS, max_examples=400)
@given(broken_requests())
def test_the_errors_are_jsonschemas_one_by_one(req):
    whole, by_field = _both(req)
    assert by_field == whole


def test_hostile_requests_get_jsonschemas_errors():
    compared = 0
    for req, _text, note in hostile(1000, seed=2000):
        try:
            whole, by_field = _both(req)
        except RecursionError:  # a cycle: the screen refuses it before jsonschema is asked
            continue
        assert by_field == whole, note
        compared += bool(whole)
    assert compared > 600  # most of them are rejected by the schema: the stream is exercised


@settings(SETTINGS, max_examples=400)
@given(field=st.sampled_from(sorted(request_schema()["properties"])), value=values)
def test_each_field_gate_agrees_with_jsonschema(field, value):
    _root, fields = _field_gates()
    (subschema, gate), = [(s, g) for name, s, g in fields if name == field]
    valid = not any(True for _ in _validator().descend(value, subschema, path=field))
    assert _plain_accepted(gate, value) == valid
