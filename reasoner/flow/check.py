"""Input checking for contract v1 requests.

`check_request(obj)` validates a request against the JSON Schema that ships with the package
(`reasoner/contract/request-v1.schema.json`, draft 2020-12, with a format checker that rejects impossible
dates), then applies the cross-field rules of the contract ("when two fields disagree, the later
fact is named"). Any problem raises `InvalidRequest`, which names the field by its dotted path
(`member.birth_date`, list items as `regimen.with[2]`) and the rule it broke.

Error messages never repeat the values that were sent (a birth date is health information):
they name the field and the rule only.
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import math
from functools import cache
from typing import Any, Callable, Iterable

import fastjsonschema
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from reasoner.policy.resources import contract_file

__all__ = ["InvalidRequest", "check_request", "parse_request_text", "request_schema"]

SCHEMA_FILE = "request-v1.schema.json"
WHOLE_REQUEST = "(request)"


class InvalidRequest(ValueError):
    """A request that breaks contract v1. `field` is the dotted path, `reason` the rule broken.

    `errors` lists every (field, reason) found by the schema, first the one reported.
    """

    def __init__(self, field: str, reason: str, errors: list[tuple[str, str]] | None = None):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.errors = errors or [(field, reason)]

    def to_dict(self) -> dict[str, str]:
        """The error as a JSON-ready row (batch output)."""
        return {"field": self.field, "reason": self.reason}


# --------------------------------------------------------------------------- schema


@cache
def request_schema() -> dict:
    """The contract v1 JSON Schema (parsed once per process)."""
    text = contract_file(SCHEMA_FILE).read_text(encoding="utf-8")
    return json.loads(text)


@cache
def _validator() -> Draft202012Validator:
    schema = request_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


@cache
def _accepts() -> Callable[[Any], Any]:
    """The same schema compiled to Python by fastjsonschema: a gate that accepts a valid request
    fifteen times faster than jsonschema. Only a request it rejects goes through `_validator()`, which
    reports every error in contract terms (and has the last word: the gate never rejects on its own).
    Dates use jsonschema's own format checker, so both agree on what a calendar date is;
    tests/test_check_properties.py holds the two validators to the same verdict."""
    schema = copy.deepcopy(request_schema())  # fastjsonschema rewrites the `$ref`s it resolves in place
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"  # the keywords used are draft-07's too
    checker = Draft202012Validator.FORMAT_CHECKER
    return fastjsonschema.compile(schema, formats={"date": lambda value: checker.conforms(value, "date")},
                                  use_default=False)  # never write into the caller's object


def schema_accepts(obj: Any) -> bool:
    """The fast gate's verdict alone (exposed for the differential test)."""
    try:
        _accepts()(obj)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def _resolve(subschema: Any) -> dict:
    """Follow local `$ref`s (`#/$defs/name`) so the walk below sees the real subschema."""
    root = request_schema()
    while isinstance(subschema, dict) and "$ref" in subschema:
        node: Any = root
        for part in subschema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        subschema = node
    return subschema if isinstance(subschema, dict) else {}


def _subschema(path: Iterable[str | int]) -> dict:
    schema = request_schema()
    for part in path:
        if isinstance(part, int):
            schema = _resolve(schema.get("items", {}))
        else:
            schema = _resolve(schema.get("properties", {}).get(part, {}))
    return schema


def _dotted(path: Iterable[str | int]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or WHOLE_REQUEST


def _order_key(path: tuple[str | int, ...]) -> tuple:
    """Sort errors in the order of the contract (the schema's property order), not at random."""
    key: list[int] = []
    schema = request_schema()
    for part in path:
        if isinstance(part, int):
            key.append(part)
            schema = _resolve(schema.get("items", {}))
        else:
            props = list(schema.get("properties", {}))
            key.append(props.index(part) if part in props else len(props))
            schema = _resolve(schema.get("properties", {}).get(part, {}))
    return tuple(key)


_TYPE_WORDS = {
    "string": "a string",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true or false",
    "object": "an object",
    "array": "a list",
    "null": "null",
}


def _limit(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _null_hint(path: tuple, instance: Any) -> str:
    """null for an optional field: say how to send "unknown" instead."""
    if instance is not None or not path or isinstance(path[-1], int):
        return ""
    if path[-1] in _subschema(path[:-1]).get("required", []):
        return ""
    return " (leave the field out when it is unknown)"


def _schema_errors(error: ValidationError) -> list[tuple[tuple, str]]:
    """Turn one jsonschema error into (path, reason) pairs; never quotes the instance value."""
    path = tuple(error.absolute_path)
    kind = error.validator
    value = error.validator_value
    instance = error.instance
    custom = error.schema.get("x-reason") if isinstance(error.schema, dict) else None

    if kind == "required":
        missing = [name for name in value if isinstance(instance, dict) and name not in instance]
        # jsonschema reports one error per missing property; find which one this is.
        for name in missing:
            if error.message.startswith(repr(name)):
                return [(path + (name,), "is required")]
        return [(path + (name,), "is required") for name in missing[:1]]
    if kind == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        extras = [key for key in instance if key not in allowed]
        out = []
        for key in extras:
            if isinstance(key, str) and key.startswith("@"):
                reason = ("JSON-LD keywords are not accepted: send plain JSON "
                          "(the @context ships with the package)")
            else:
                reason = "is not a field of the request (contract v1)"
            out.append((path + (key,), reason))
        return out
    if custom:
        return [(path, custom)]
    if kind == "type":
        types = value if isinstance(value, list) else [value]
        words = " or ".join(_TYPE_WORDS.get(t, t) for t in types)
        return [(path, f"must be {words}" + _null_hint(path, instance))]
    if kind == "enum":
        words = ", ".join(str(v) for v in value)
        return [(path, f"must be one of: {words}" + _null_hint(path, instance))]
    if kind == "format":
        if value == "date":
            return [(path, "must be a real calendar date written YYYY-MM-DD")]
        return [(path, f"must be a valid {value}")]
    if kind == "exclusiveMinimum":
        return [(path, f"must be greater than {_limit(value)}")]
    if kind == "minimum":
        return [(path, f"must be at least {_limit(value)}")]
    if kind == "exclusiveMaximum":
        return [(path, f"must be less than {_limit(value)}")]
    if kind == "maximum":
        return [(path, f"must be at most {_limit(value)}")]
    if kind == "minLength":
        return [(path, "must not be empty")]
    if kind == "pattern":
        return [(path, "does not have the expected form")]
    return [(path, f"breaks the schema rule '{kind}'")]


def _non_finite(obj: Any, path: tuple = ()) -> Iterable[tuple[tuple, str]]:
    """NaN and infinities pass every numeric bound of JSON Schema; reject them here."""
    if isinstance(obj, float) and not math.isfinite(obj):
        yield path, "must be a finite number"
    elif isinstance(obj, dict):
        for key, val in obj.items():
            yield from _non_finite(val, path + (key,))
    elif isinstance(obj, list):
        for i, val in enumerate(obj):
            yield from _non_finite(val, path + (i,))


@cache
def _defaults() -> tuple[tuple[tuple[str, ...], Any], ...]:
    """(path of an object field, default) for every schema default reachable through objects."""
    out: list[tuple[tuple[str, ...], Any]] = []

    def walk(schema: dict, path: tuple[str, ...]) -> None:
        for name, sub in schema.get("properties", {}).items():
            sub = _resolve(sub)
            if "default" in sub:
                out.append((path + (name,), sub["default"]))
            walk(sub, path + (name,))

    walk(request_schema(), ())
    return tuple(out)


def _fill_defaults(obj: dict) -> None:
    for path, default in _defaults():
        node: Any = obj
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and path[-1] not in node:
            node[path[-1]] = copy.deepcopy(default)


_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})


class _NotJSON(Exception):
    """A Python value JSON has no exact type for (a tuple, a set, a date, a key that is not a string)."""


def _json_copy(obj: Any) -> Any:
    """A copy of JSON-typed data (dicts with string keys, lists, scalars); raises _NotJSON otherwise.

    Only such data may pass the fast gate alone: fastjsonschema reads a tuple as an array, say,
    where jsonschema (the contract's reading) does not."""
    kind = type(obj)
    if kind is dict:
        out = {}
        for key, value in obj.items():
            if type(key) is not str:
                raise _NotJSON
            out[key] = _json_copy(value)
        return out
    if kind is list:
        return [_json_copy(v) for v in obj]
    if kind not in _JSON_SCALARS:
        raise _NotJSON
    return obj


# --------------------------------------------------------------------------- cross-field rules


def _date(obj: dict, *path: str) -> _dt.date | None:
    node: Any = obj
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return _dt.date.fromisoformat(node)


def _cross_field(req: dict) -> None:
    """Rules between fields. When two fields disagree, the later fact is named (contract v1)."""
    request_date = _date(req, "request_date")
    birth = _date(req, "member", "birth_date")
    diagnosed = _date(req, "diagnosis", "diagnosis_date")
    if birth and request_date and birth > request_date:
        raise InvalidRequest("member.birth_date", "is after request_date")
    if diagnosed and birth and diagnosed < birth:
        raise InvalidRequest("diagnosis.diagnosis_date", "is before member.birth_date")
    if diagnosed and request_date and diagnosed > request_date:
        raise InvalidRequest("diagnosis.diagnosis_date", "is after request_date")


# --------------------------------------------------------------------------- entry points


def check_request(obj: Any, *, owned: bool = False) -> dict:
    """Validate a contract v1 request; return it with defaults filled (e.g. `policy`).

    The caller's object is copied first unless `owned` (the caller hands it over: it is filled in,
    and checked by jsonschema itself, as it may hold Python types JSON has not).
    Raises InvalidRequest naming the field (the first in contract order when several are wrong).
    """
    if not isinstance(obj, dict):
        raise InvalidRequest(WHOLE_REQUEST, "must be a JSON object")
    if owned:
        return _check(obj, plain=False, finite=False)
    try:
        return _check(_json_copy(obj), plain=True, finite=False)
    except _NotJSON:
        return _check(copy.deepcopy(obj), plain=False, finite=False)


def _check(req: Any, plain: bool, finite: bool) -> dict:
    """Check `req` (the object returned, with defaults filled in).

    `plain`: it holds JSON types only (parsed from text, or so copied), so the fast gate's word is
    enough to accept it; `finite`: the parser has already seen that every number is finite."""
    if not isinstance(req, dict):
        raise InvalidRequest(WHOLE_REQUEST, "must be a JSON object")
    found: list[tuple[tuple, str]] = [] if finite else list(_non_finite(req))
    if found or not plain or not schema_accepts(req):
        for error in _validator().iter_errors(req):
            found.extend(_schema_errors(error))
    if found:
        found.sort(key=lambda item: _order_key(item[0]))
        errors = [(_dotted(path), reason) for path, reason in found]
        field, reason = errors[0]
        raise InvalidRequest(field, reason, errors)
    _cross_field(req)
    _fill_defaults(req)
    return req


def _no_constants(name: str) -> Any:
    raise ValueError(name)


class _Overflow(Exception):
    """A number too large for a float (1e999): parsed again without the hook, and named by field."""


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _Overflow
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    seen: set[str] = set()
    for key, _value in pairs:
        if key in seen:
            raise InvalidRequest(WHOLE_REQUEST, f"not valid: the key {json.dumps(key)} appears twice in one object")
        seen.add(key)
    return obj


def parse_request_text(text: str | bytes) -> dict:
    """Parse JSON text and check it. Bad JSON raises InvalidRequest(field="(request)")."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InvalidRequest(WHOLE_REQUEST, "not valid JSON: the text is not UTF-8") from None
    elif text.startswith("\ufeff"):
        text = text[1:]
    finite = True
    try:
        try:
            obj = json.loads(text, parse_constant=_no_constants, object_pairs_hook=_no_duplicates,
                             parse_float=_finite_float)
        except _Overflow:  # rare: parse as it is, and let the check name the field
            finite = False
            obj = json.loads(text, parse_constant=_no_constants, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(
            WHOLE_REQUEST, f"not valid JSON: line {exc.lineno} column {exc.colno} ({exc.msg})"
        ) from None
    except InvalidRequest:
        raise
    except ValueError:
        raise InvalidRequest(WHOLE_REQUEST, "not valid JSON: NaN and Infinity are not numbers") from None
    except RecursionError:
        raise InvalidRequest(WHOLE_REQUEST, "not valid JSON: nested too deeply") from None
    return _check(obj, plain=True, finite=finite)
