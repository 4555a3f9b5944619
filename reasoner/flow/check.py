"""Input checking for contract v1 requests.

`check_request(obj)` validates a request against the JSON Schema that ships with the package
(`reasoner/contract/request-v1.schema.json`, draft 2020-12, with a format checker that rejects impossible
dates), then applies the cross-field rules of the contract ("when two fields disagree, the later
fact is named"). Any problem raises `InvalidRequest`, which names the field by its dotted path
(`member.birth_date`, list items as `regimen.with[2]`) and the rule it broke.

Error messages never repeat the values that were sent (a birth date is health information):
they name the field and the rule only.

Hostile input costs in proportion to its size and never escapes as another exception: the schema
bounds every number, string and list; this module adds what JSON Schema cannot say (the limits
below: text size, nesting depth, valid Unicode, finite numbers) and stops after `MAX_ERRORS`.
A valid request takes the fast path (a compiled schema gate, no Python walk over text input).
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import math
import numbers
import re
from decimal import Decimal
from functools import cache, partial
from itertools import islice
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

import fastjsonschema

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

from reasoner.policy import cache as kept
from reasoner.policy.resources import contract_file

__all__ = ["InvalidRequest", "MAX_DEPTH", "MAX_ERRORS", "MAX_REQUEST_BYTES", "TOO_LARGE", "check_request",
           "field_name", "parse_request_text", "request_schema"]

SCHEMA_FILE = "request-v1.schema.json"
WHOLE_REQUEST = "(request)"

MAX_REQUEST_BYTES = 1 << 20  # request text: 1 MiB (bytes of UTF-8, or characters of a str); a batch line too
MAX_DEPTH = 8  # the fast path walks a Python request no deeper (the contract's deepest field is at 3)
MAX_ERRORS = 10  # errors listed in InvalidRequest.errors; checking stops there
INT_LIMIT = 10**18  # beyond every bound of the schema: a larger integer is read as one just past it
MAX_NAME_SHOWN = 64  # characters of an unknown field's name repeated in an error

NOT_UNICODE = "must be valid Unicode text (it holds a lone surrogate)"
NOT_FINITE = "must be a finite number"


class InvalidRequest(ValueError):
    """A request that breaks contract v1. `field` is the dotted path, `reason` the rule broken.

    `errors` lists the (field, reason) pairs found (at most MAX_ERRORS), first the one reported.
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
    """jsonschema, imported only here: only the errors of a rejected request need its wording."""
    from jsonschema import Draft202012Validator

    schema = request_schema()
    Draft202012Validator.check_schema(schema)
    # the same constraints with the local `$ref`s in line: a list item is then checked without a
    # reference lookup (jsonschema's `referencing` cost ~30 µs an item: a 1,000-name list was refused
    # in 3-4 ms, most of it resolving `#/$defs/name` for the 51 items it reads)
    return Draft202012Validator(_inlined(schema), format_checker=Draft202012Validator.FORMAT_CHECKER)


@cache
def _accepts() -> Callable[[Any], Any]:
    """The same schema compiled to Python by fastjsonschema: a gate that accepts a valid request
    fifteen times faster than jsonschema. Only a request it rejects goes through `_validator()`, which
    reports every error in contract terms (and has the last word: the gate never rejects on its own).
    Dates use jsonschema's own format checker, so both agree on what a calendar date is;
    tests/test_check_properties.py holds the two validators to the same verdict."""
    schema = _inlined(request_schema())  # a fresh copy: fastjsonschema rewrites what it resolves in place
    return _kept_gates("request gate", {"": schema})[""]


def _kept_gates(name: str, schemas: dict[str, dict]) -> dict[str, Callable[[Any], Any]]:
    """fastjsonschema's gate for each schema (by key; fresh copies the caller owns: fastjsonschema
    rewrites what it resolves in place), read as draft-07 (the keywords used are draft-07's too).
    The gates are kept as code in the KB cache under `name`, keyed by the contract's content,
    fastjsonschema's version and the package's code, as the compiled shapes are: fastjsonschema
    writes ~2,000 lines for the whole request, and compiling them was ~50 ms of a cold `check`."""
    formats = {"date": _is_date}

    def code() -> list[tuple[str, str, Any]]:
        out = []
        for key, given in schemas.items():
            schema = {**given, "$schema": "http://json-schema.org/draft-07/schema#"}
            scope = fastjsonschema.RefResolver.from_schema(schema, store={}).get_scope_name()  # as `compile` finds it
            # use_default=False: never write into the caller's object
            source = fastjsonschema.compile_to_code(schema, formats=formats, use_default=False)
            out.append((key, scope, compile(source, f"<{name}: {key}>" if key else f"<{name}>", "exec")))
        return out

    recipe = f"the {name}, {sorted(schemas)}\nfastjsonschema {fastjsonschema.VERSION}"
    gates = {}
    for key, scope, gate in kept.remember(kept.key([contract_file(SCHEMA_FILE)], recipe=recipe), name, code):
        namespace: dict[str, Any] = {}
        exec(gate, namespace)  # noqa: S102 - fastjsonschema's code for our own schema
        gates[key] = partial(namespace[scope], custom_formats=formats)
    return gates


def _schema_error_stream(screened: dict) -> Iterator[ValidationError]:
    """jsonschema's errors for the request, in its own order (the root's keywords, then each field in
    the schema's order), but only the fields their own fast gate refuses are walked by jsonschema: a
    field the gate accepts has no error (tests/test_field_gates.py holds the gates to jsonschema's
    verdict), and a rejected request's valid fields were most of jsonschema's time. A field whose value
    is not plain JSON (a tuple, a Decimal) is always left to jsonschema, the contract's reading."""
    validator = _validator()
    root, fields = _field_gates()
    yield from root.iter_errors(screened)
    for name, subschema, gate in fields:
        if name in screened:
            value = screened[name]
            if not _plain_accepted(gate, value):
                yield from validator.descend(value, subschema, path=name)


def _plain_accepted(gate: Callable[[Any], Any], value: Any) -> bool:
    try:
        _json_copy(value)
        gate(value)
    except (_NotJSON, RecursionError, fastjsonschema.JsonSchemaException):
        return False
    return True


@cache
def _field_gates() -> tuple[Draft202012Validator, tuple[tuple[str, dict, Callable[[Any], Any]], ...]]:
    """(a validator of the root's own keywords, each field's (name, subschema, fast gate)): the
    subschemas are `_validator()`'s own objects (an error names the same `x-reason`), the gates
    fastjsonschema's code for a copy of each, kept as the request gate is."""
    from jsonschema import Draft202012Validator

    schema = _validator().schema
    properties = schema["properties"]
    root = {key: value for key, value in schema.items() if key not in ("properties", "$defs")}
    root["properties"] = {name: True for name in properties}  # additionalProperties reads their names
    gates = _kept_gates("request gate", {name: {**copy.deepcopy(sub), "$id": f"urn:blincyto:request-field:{name}"}
                                         for name, sub in properties.items()})
    fields = tuple((name, subschema, gates[name]) for name, subschema in properties.items())
    return Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER), fields


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)


def _is_date(value: Any) -> bool:
    """jsonschema's `date` format check (jsonschema/_format.py `is_date`, which the FormatChecker
    runs with ValueError meaning "no"), spelled here so a valid request never imports jsonschema."""
    if not isinstance(value, str):
        return True
    try:
        return bool(_DATE.fullmatch(value) and _dt.date.fromisoformat(value))
    except ValueError:
        return False


def _inlined(schema: dict) -> dict:
    """A copy of the schema with each local `$ref` (`#/$defs/<name>`) replaced by the definition it
    names (with any keywords beside it, as `allOf`): the same constraints, but fastjsonschema then
    checks a list item in line instead of calling a function whose error-name argument it formats
    with `locals()` for every item, valid or not (about 8 µs a name). The contract's definitions do not
    refer to themselves; a `$ref` this does not resolve is left as it is. Keywords beside a `$ref`
    that the definition does not hold (a `description`) join it in one object, so a validator's error
    names the same subschema (its `x-reason`) as through the reference."""
    defs = schema.get("$defs", {})

    def walk(node: Any, depth: int) -> Any:
        if isinstance(node, list):
            return [walk(item, depth) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/") and ref[8:] in defs and depth < 32:
            target = walk(defs[ref[8:]], depth + 1)
            rest = {k: walk(v, depth) for k, v in node.items() if k != "$ref"}
            if not rest:
                return target
            return {**target, **rest} if rest.keys().isdisjoint(target) else {"allOf": [target, rest]}
        return {k: walk(v, depth) for k, v in node.items()}

    return walk(schema, 0)


def schema_accepts(obj: Any) -> bool:
    """The fast gate's verdict alone (exposed for the differential test)."""
    try:
        _accepts()(obj)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


@cache
def _list_cap() -> int:
    """One more item than the longest list the schema allows: a list cut there keeps its verdict."""
    longest = 0

    def walk(node: Any) -> None:
        nonlocal longest
        if isinstance(node, dict):
            if isinstance(node.get("maxItems"), int):
                longest = max(longest, node["maxItems"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(request_schema())
    return longest + 1


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


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else (f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")


def field_name(name: Any) -> str:
    """A caller's field name as an error may show it: printable, at most MAX_NAME_SHOWN characters.

    Control characters, lone surrogates and bidirectional overrides are written as escapes, so an
    error line can reach a terminal or a log as it is (unknown keys come from the caller)."""
    text = name if isinstance(name, str) else type(name).__name__
    cut = text[:MAX_NAME_SHOWN]
    if not cut.isprintable():
        cut = "".join(ch if ch.isprintable() else _escape(ch) for ch in cut)
    return cut + ("..." if len(text) > MAX_NAME_SHOWN else "")


def _dotted(path: Iterable[str | int]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = field_name(part)
            out += f".{name}" if out else name
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
    return f"{value:g}" if isinstance(value, float) else f"{value:,}" if isinstance(value, int) else str(value)


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
        extras = islice((key for key in instance if key not in allowed), MAX_ERRORS)
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
    if kind == "maxLength":
        return [(path, f"must be at most {_limit(value)} characters long")]
    if kind == "maxItems":
        return [(path, f"must have at most {_limit(value)} items")]
    if kind == "pattern":
        return [(path, "does not have the expected form")]
    return [(path, f"breaks the schema rule '{kind}'")]


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


# --------------------------------------------------------------------------- what JSON Schema cannot say


def _not_unicode(text: str) -> bool:
    """A str that UTF-8 cannot hold (a lone surrogate, from a `\\ud800` escape or a Python string)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class _NotJSON(Exception):
    """Not plain, bounded JSON data: a Python type JSON has no exact type for (a tuple, a set, a date, a
    key that is not a string), a non-finite number, a lone surrogate, nesting beyond MAX_DEPTH, or a
    list longer than any the contract allows. The schema-guided check then words the errors."""


def _json_copy(obj: Any, depth: int = 0) -> Any:
    """A copy of plain JSON data (the fast path's walk over a Python request); raises _NotJSON otherwise.

    Only such data may pass the fast gate alone: fastjsonschema reads a tuple as an array, say,
    where jsonschema (the contract's reading) does not."""
    kind = type(obj)
    if kind is str:
        if not obj.isascii() and _not_unicode(obj):
            raise _NotJSON
        return obj
    if kind is dict:
        if depth >= MAX_DEPTH:
            raise _NotJSON
        out = {}
        for key, value in obj.items():
            if type(key) is not str or (not key.isascii() and _not_unicode(key)):
                raise _NotJSON
            out[key] = _json_copy(value, depth + 1)
        return out
    if kind is list:
        if depth >= MAX_DEPTH or len(obj) > _list_cap():  # longer than any list of the contract
            raise _NotJSON
        return [_json_copy(v, depth + 1) for v in obj]
    if kind is float:
        if not math.isfinite(obj):
            raise _NotJSON
        return obj
    if kind is int or kind is bool or obj is None:
        return obj
    raise _NotJSON


class _Opaque:
    """Stands, in the copy jsonschema reads, for a value JSON has no type for: every type check fails
    on it, and its repr (which jsonschema puts in messages we never show) costs nothing."""

    def __repr__(self) -> str:
        return "<not JSON>"


_OPAQUE = _Opaque()


def _saturate(value: int) -> int:
    return value if -INT_LIMIT <= value <= INT_LIMIT else (INT_LIMIT + 1 if value > 0 else -INT_LIMIT - 1)


def _screen(value: Any, schema: dict, path: tuple, problems: list[tuple[tuple, str]]) -> Any:
    """A copy that jsonschema reads in time linear in the contract, noting what the schema cannot say.

    Guided by the schema: only the contract's own objects and lists are descended into (a value under
    an unknown key is dropped, as that key is the error; an object or list where the schema wants
    none becomes a placeholder that fails every type check, as does a value of no JSON type), lists
    are cut one item past the longest the schema allows (their verdict is kept), integers beyond
    INT_LIMIT saturated (every bound of the schema is within it)."""
    if isinstance(value, str):
        if not value.isascii() and _not_unicode(value):
            problems.append((path, NOT_UNICODE))
        return value
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return _saturate(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        problems.append((path, NOT_FINITE))
        return None
    if isinstance(value, Decimal):
        if value.is_finite():
            return value
        problems.append((path, NOT_FINITE))
        return None
    if isinstance(value, dict):
        properties = schema.get("properties")
        if properties is None:
            return _OPAQUE
        out: dict = {}
        for key, item in value.items():
            if not isinstance(key, str):
                problems.append((path + (field_name(key),), "is not a field of the request (names are text)"))
            elif key in properties:
                out[key] = _screen(item, _resolve(properties[key]), path + (key,), problems)
            else:
                if not key.isascii() and _not_unicode(key):
                    problems.append((path + (key,), NOT_UNICODE))
                out[key] = None  # jsonschema names the key; what it holds is not looked at
        return out
    if isinstance(value, list):
        if "items" not in schema:
            return _OPAQUE
        items = _resolve(schema["items"])
        return [_screen(item, items, path + (i,), problems) for i, item in enumerate(value[:_list_cap()])]
    if isinstance(value, numbers.Integral):  # numpy and friends: as the Python number they stand for
        return _saturate(int(value))
    if isinstance(value, numbers.Real):
        try:
            number = float(value)
        except OverflowError:  # finite, beyond a float: beyond every bound too
            return INT_LIMIT + 1 if value > 0 else -INT_LIMIT - 1
        except ValueError:
            number = math.nan
        if math.isfinite(number):
            return number
        problems.append((path, NOT_FINITE))
        return None
    if isinstance(value, numbers.Number):
        problems.append((path, "must be a real number"))
        return None
    return _OPAQUE


def _slow_check(obj: Any) -> dict:
    """The full check, wording every error: the screen, then jsonschema (at most MAX_ERRORS errors)."""
    problems: list[tuple[tuple, str]] = []
    try:
        screened = _screen(obj, request_schema(), (), problems)
    except RecursionError:  # a subclass of the caller's whose methods recurse: not JSON data
        raise InvalidRequest(WHOLE_REQUEST, "is not JSON data") from None
    if not isinstance(screened, dict):
        raise InvalidRequest(WHOLE_REQUEST, "must be a JSON object")
    for error in islice(_schema_error_stream(screened), MAX_ERRORS):
        problems.extend(_schema_errors(error))
    if problems:
        raise _invalid(problems)
    _cross_field(screened)
    _fill_defaults(screened)
    return screened


def _invalid(problems: list[tuple[tuple, str]]) -> InvalidRequest:
    """One error per field, in contract order, at most MAX_ERRORS; the first is the one reported."""
    problems.sort(key=lambda item: _order_key(item[0]))
    seen: set[tuple] = set()
    errors: list[tuple[str, str]] = []
    for path, reason in problems:
        if path not in seen:
            seen.add(path)
            errors.append((_dotted(path), reason))
    errors = errors[:MAX_ERRORS]
    field, reason = errors[0]
    return InvalidRequest(field, reason, errors)


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
    """Validate a contract v1 request; return a checked copy with defaults filled (e.g. `policy`).

    The caller's object is never changed (`owned` is accepted for older callers and means nothing
    now). Raises InvalidRequest naming the field (the first in contract order when several are wrong).
    """
    if not isinstance(obj, dict):
        raise InvalidRequest(WHOLE_REQUEST, "must be a JSON object")
    try:
        plain = _json_copy(obj)
    except (_NotJSON, RecursionError):
        return _slow_check(obj)
    return _check_plain(plain)


def _check_plain(req: dict) -> dict:
    """`req` holds plain JSON only (parsed from text, or so copied): the fast gate's word is enough
    to accept it; a request it rejects is checked again to word the errors."""
    if not schema_accepts(req):
        return _slow_check(req)
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


def _bounded_int(text: str) -> int:
    """Integers of more than 19 digits are beyond every bound of the schema: read as one just past
    INT_LIMIT (Python refuses to convert 4,301 digits or more; the schema then names the field)."""
    if len(text) > 19:
        return -INT_LIMIT - 1 if text.startswith("-") else INT_LIMIT + 1
    return int(text)


def _parse_hostile(text: str) -> Any:
    """The text again, with every number as the check can name it: infinities kept, integers of more
    than 19 digits saturated. Only for texts the fast parse refused."""
    return json.loads(text, parse_constant=_no_constants, object_pairs_hook=_no_duplicates,
                      parse_int=_bounded_int)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    seen: set[str] = set()
    for key, _value in pairs:
        if key in seen:
            raise InvalidRequest(WHOLE_REQUEST, f"not valid: the key \"{field_name(key)}\" appears twice in one object")
        seen.add(key)
    return obj


# `\ud800`..`\udfff` escapes: the only way JSON text in UTF-8 can hold a lone surrogate (a pair is
# joined by the parser; the screen then looks at every string). Also matches "\\ud800", harmlessly.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]")
TOO_LARGE = f"is too large: a request is at most {MAX_REQUEST_BYTES:,} bytes of JSON text"


def parse_request_text(text: str | bytes) -> dict:
    """Parse JSON text and check it. Bad JSON raises InvalidRequest(field="(request)")."""
    if isinstance(text, (bytes, bytearray)):
        if len(text) > MAX_REQUEST_BYTES:
            raise InvalidRequest(WHOLE_REQUEST, TOO_LARGE)
        suspect = _SURROGATE_ESCAPE_BYTES.search(text) is not None
        try:
            text = bytes(text).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InvalidRequest(WHOLE_REQUEST, "not valid JSON: the text is not UTF-8") from None
    else:
        if len(text) > MAX_REQUEST_BYTES:
            raise InvalidRequest(WHOLE_REQUEST, TOO_LARGE)
        if text.startswith("\ufeff"):
            text = text[1:]
        suspect = _SURROGATE_ESCAPE.search(text) is not None or (not text.isascii() and _not_unicode(text))
    try:
        try:
            obj = json.loads(text, parse_constant=_no_constants, object_pairs_hook=_no_duplicates,
                             parse_float=_finite_float)
        except _Overflow:  # rare: parse as it is, and let the check name the field
            suspect = True
            obj = _parse_hostile(text)
        except (json.JSONDecodeError, InvalidRequest):
            raise
        except ValueError:  # NaN, or an integer of 4,301 digits or more (Python refuses to read it)
            suspect = True
            obj = _parse_hostile(text)
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
    if not isinstance(obj, dict):
        raise InvalidRequest(WHOLE_REQUEST, "must be a JSON object")
    if suspect:
        return _slow_check(obj)
    return _check_plain(obj)
