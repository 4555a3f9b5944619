"""One record to one row of OUTPUT, whatever the record holds.

A determination, or an error row naming the record (line number or file name) and the field; *any*
exception while a record is evaluated becomes an error row too (an internal error, named by its type
only: messages may quote values), so no record can stop a batch. Every row says which record it
is for (`line` / `file`, the CSV `source` column, the N-Quads mark, a FHIR row's `meta.source`
`urn:blincyto:batch:line:N`): resume matches rows to records
by that position, never by the caller's id, which may repeat.

Rows are safe to open: JSON escapes every control character, CSV cells that a spreadsheet would
run as a formula (`= + - @`, tab, carriage return first) get a leading `'`, and no row holds a number
that is not finite (JSON has none; such a determination becomes an error row).
"""

from __future__ import annotations

import csv
import io
import json
from enum import Enum
from typing import Any, NamedTuple

from reasoner.pipelines.records import Record

__all__ = ["CSV_COLUMNS", "Format", "NQ_MARK", "Row", "csv_cell", "csv_line", "evaluate_record",
           "format_error", "peek_id"]

NQ_MARK = "# blincyto-batch "  # N-Quads: a comment line closing every record (rows there span lines)
CSV_COLUMNS = ["id", "decision", "months", "pathways", "failed", "referral", "error", "source"]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NOT_FINITE = "the determination holds a number that is not finite (not written)"


class Format(str, Enum):
    jsonl = "jsonl"
    csv = "csv"
    nq = "nq"
    fhir = "fhir"  # NDJSON of PAS response Bundles; error rows are OperationOutcomes


FHIR_SOURCE = "urn:blincyto:batch:"  # meta.source of a FHIR row: urn:blincyto:batch:line:12


class Row(NamedTuple):
    """One output row, already formatted, and what the summary needs to know of it."""

    text: str
    id: str | None
    decision: str | None  # None for an error row
    internal: bool = False  # an error row for an exception of the engine, not for bad input
    quads: str = ""  # `batch --store`: the determination in the store's named graphs, as N-Quads


class _NotFinite(Exception):
    pass


def evaluate_record(engine: Any, record: Record, fmt: Format, store: bool | set[str] = False) -> Row:
    """One record to one formatted row; never raises for anything a record may hold. `store`: the row
    also carries the determination as the store's N-Quads (`reasoner.sparql.store` layout); a set: the
    shape copies already written in the rows stored with it (`store.determination_nquads`)."""
    from reasoner.fhir.evaluate import evaluate_text
    from reasoner.flow.check import WHOLE_REQUEST, InvalidRequest

    request_id: str | None = None
    try:
        if record.problem:
            raise InvalidRequest(WHOLE_REQUEST, record.problem)
        ev, extraction = evaluate_text(engine, record.data)  # contract v1 or a FHIR Bundle, checked
        det = ev.determination
        request_id = det["id"]
        if fmt is Format.nq:
            text = format_nq(ev, record)
        elif fmt is Format.fhir:
            text = format_fhir(ev, extraction, engine, record)
        else:
            text = format_determination(fmt, det, record)
        quads = ""
        if store is not False:  # True, or the set of a chunk's shape copies (empty at first)
            from reasoner.sparql.store import determination_nquads

            _json(det)
            quads = determination_nquads(ev, None if store is True else store)[1]
        return Row(text, det["id"], det["decision"], False, quads)
    except InvalidRequest as exc:
        if request_id is None:
            request_id = peek_id(record.data)
        return Row(format_error(fmt, request_id, exc.field, exc.reason, record), request_id, None)
    except _NotFinite:
        return Row(format_error(fmt, request_id, WHOLE_REQUEST, NOT_FINITE, record), request_id, None, True)
    except Exception as exc:  # noqa: BLE001 - a poison record is an error row, never the end of a batch
        reason = f"could not be evaluated: internal error ({type(exc).__name__}); please report it"
        if request_id is None:
            request_id = peek_id(record.data)
        return Row(format_error(fmt, request_id, WHOLE_REQUEST, reason, record), request_id, None, True)


def peek_id(data: bytes) -> str | None:
    """The id of a record that failed the contract, when it is one the contract would accept."""
    if not data:
        return None
    try:
        obj = json.loads(data)
    except Exception:  # noqa: BLE001 - ValueError, RecursionError, MemoryError: no id then
        return None
    value = obj.get("id") if isinstance(obj, dict) and "resourceType" not in obj else None  # a Bundle's id is not the request's
    return value if _valid_id(value) else None


def _valid_id(value: Any) -> bool:
    from reasoner.flow.check import request_schema

    if not isinstance(value, str) or not 0 < len(value) <= request_schema()["properties"]["id"]["maxLength"]:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------------------------

def _json(obj: dict[str, Any]) -> str:
    try:
        return json.dumps(obj, ensure_ascii=False, allow_nan=False)
    except ValueError:
        raise _NotFinite from None


def _fhir_source(record: Record) -> str:
    return f"{FHIR_SOURCE}{record.where}:{record.at}"


def format_fhir(ev: Any, extraction: Any, engine: Any, record: Record) -> str:
    """A PAS response Bundle, one line; meta.source names the input record (for resume)."""
    from reasoner.fhir.response import dumps, response_for

    _json(ev.determination)
    bundle = response_for(ev, engine.kb, extraction)
    bundle["meta"] = {"source": _fhir_source(record)}
    try:
        return dumps(bundle, allow_nan=False) + "\n"
    except ValueError:
        raise _NotFinite from None


def format_determination(fmt: Format, det: dict[str, Any], record: Record) -> str:
    if fmt is Format.jsonl:
        return _json({**det, **record.source}) + "\n"
    if fmt is Format.csv:
        _json(det)  # the same check as the other formats: no non-finite number in a row
        return csv_line({**csv_fields(det), "source": _source_cell(record)})
    raise ValueError(fmt)


def format_error(fmt: Format, request_id: str | None, field_: str, reason: str, record: Record) -> str:
    error = {"field": field_, "reason": reason}
    if fmt is Format.fhir:
        from reasoner.fhir.errors import operation_outcome

        outcome = operation_outcome([(field_, reason, "invalid")])
        outcome["meta"] = {"source": _fhir_source(record)}
        return json.dumps(outcome, ensure_ascii=False) + "\n"
    if fmt is Format.jsonl:
        return json.dumps({"id": request_id, "error": error, **record.source}, ensure_ascii=False) + "\n"
    if fmt is Format.csv:
        return csv_line({"id": request_id or "", "decision": "error", "error": f"{field_}: {reason}",
                         "source": _source_cell(record)})
    return NQ_MARK + json.dumps({"id": request_id, "error": error, **record.source}, ensure_ascii=False) + "\n"


def format_nq(ev: Any, record: Record) -> str:
    """The determination's dataset as N-Quads (written directly: `provenance.determination_nquads`),
    then the mark line that names the record."""
    from reasoner.flow.provenance import determination_nquads

    _json(ev.determination)  # every number of the graph that is not the request's own is in it
    _, quads = determination_nquads(ev)
    mark = {"id": ev.determination["id"], "decision": ev.determination["decision"], **record.source}
    return quads + NQ_MARK + json.dumps(mark, ensure_ascii=False) + "\n"


def _source_cell(record: Record) -> str:
    return f"{record.where} {record.at}"


def csv_fields(det: dict[str, Any]) -> dict[str, str]:
    """The CSV columns of a determination: one cell each, lists joined with `;`."""
    referral = det.get("referral") or {}
    return {
        "id": det["id"],
        "decision": det["decision"],
        "months": "" if det.get("approval_months") is None else str(det["approval_months"]),
        "pathways": ";".join(det.get("pathways") or []),
        "failed": ";".join(f"{f['criterion']}:{f['kind']}" for f in det.get("failed") or []),
        "referral": " ".join(x for x in (referral.get("policy"), referral.get("section")) if x),
        "error": "", "source": "",
    }


def csv_cell(value: str) -> str:
    """A cell a spreadsheet shows as text: a leading formula character is quoted away with `'`."""
    return "'" + value if value.startswith(FORMULA_START) else value


def csv_line(fields: dict[str, str]) -> str:
    """One CSV record ending in `\n`. A cell with a carriage return is quoted too (the csv module
    quotes only the characters of its line terminator), so no reader takes it for the end of a row."""
    cells = [csv_cell(fields.get(c, "")) for c in CSV_COLUMNS]
    quoting = csv.QUOTE_ALL if any("\r" in cell for cell in cells) else csv.QUOTE_MINIMAL
    out = io.StringIO()
    csv.writer(out, lineterminator="\n", quoting=quoting).writerow(cells)
    return out.getvalue()

