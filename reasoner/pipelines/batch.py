"""Batch: many requests in, one row out per request, streamed, in parallel, resumable.

Input is JSON Lines (a file or standard input, one request a line) or a folder of `.json` files; a
record may be contract v1 or a FHIR R4 Bundle (FHIR NDJSON: one Bundle a line), recognised by its
`resourceType`. `Format.fhir` writes NDJSON of PAS response Bundles (error rows: OperationOutcomes).
Each record becomes one row of OUTPUT, in input order: a determination (contract v1), or an error row
naming the record (line number or file name) and the field, so one bad record never stops a batch.

Memory stays flat whatever the input size: records are read lazily and at most `window` chunks are in
flight between the reader and the worker processes (each worker builds its Reasoner once). Every
row is appended and flushed as soon as it is known, so a crash loses at most the rows in flight;
`resume=True` reads OUTPUT back, drops a torn last line, and skips the records already there.
"""

from __future__ import annotations

import csv
import gc
import io
import json
import multiprocessing
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

__all__ = ["BatchInputError", "Format", "Record", "Summary", "read_records", "run_batch"]

STDIN = "-"
NQ_MARK = "# blincyto-batch "  # N-Quads: a comment line closing every record (rows there span lines)
CSV_COLUMNS = ["id", "decision", "months", "pathways", "failed", "referral", "error", "source"]


class Format(str, Enum):
    jsonl = "jsonl"
    csv = "csv"
    nq = "nq"
    fhir = "fhir"


class BatchInputError(OSError):
    """The input as a whole cannot be read (missing, not a file or folder, no permission)."""


class Record(NamedTuple):
    """One request as read: where it came from (`line` number or `file` name) and its raw bytes.

    A tuple, so that sending it to a worker process costs little.
    """

    where: str  # "line" or "file"
    at: int | str
    data: bytes

    @property
    def source(self) -> dict[str, int | str]:
        return {self.where: self.at}


class Row(NamedTuple):
    """One output row, already formatted, and what the summary and resume need to know of it."""

    text: str
    id: str | None
    decision: str | None  # None for an error row


@dataclass
class Summary:
    """What a batch did: rows by decision, error rows, records skipped on resume, time taken."""

    decisions: Counter = field(default_factory=Counter)
    errors: int = 0
    skipped: int = 0
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(self.decisions.values()) + self.errors

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    @property
    def exit_code(self) -> int:
        return 1 if self.errors else 0

    def text(self) -> str:
        decisions = ", ".join(f"{k} {v}" for k, v in sorted(self.decisions.items())) or "none"
        lines = [f"batch: {self.rows} rows in {self.seconds:.1f} s ({self.rate:.0f} requests/s)",
                 f"  decisions: {decisions}", f"  error rows: {self.errors}"]
        if self.skipped:
            lines.append(f"  skipped (already in output): {self.skipped}")
        return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------

def read_records(source: str | Path, stdin: BinaryIO | None = None) -> Iterator[Record]:
    """The records of a JSON Lines file, a folder of .json files, or `-` (standard input), lazily.

    Raises BatchInputError at once when the input cannot be read at all.
    """
    if str(source) == STDIN:
        stream = stdin if stdin is not None else sys.stdin.buffer
        return _lines(stream, close=False)
    path = Path(source)
    if path.is_dir():
        try:
            files = sorted(p for p in path.iterdir() if p.suffix == ".json" and p.is_file())
        except OSError as exc:
            raise BatchInputError(f"cannot read the folder {path}: {exc.strerror or exc}") from None
        return _files(files)
    try:
        stream = path.open("rb")
    except OSError as exc:
        raise BatchInputError(f"cannot read {path}: {exc.strerror or exc}") from None
    return _lines(stream, close=True)


def _lines(stream: BinaryIO, close: bool) -> Iterator[Record]:
    try:
        for number, line in enumerate(stream, start=1):
            if line.strip():
                yield Record("line", number, line)
    finally:
        if close:
            stream.close()


def _files(files: list[Path]) -> Iterator[Record]:
    for path in files:
        try:
            data = path.read_bytes()
        except OSError as exc:  # one unreadable file is one error row, not a failed batch
            data = b"\0" + (exc.strerror or str(exc)).encode()
        yield Record("file", path.name, data)


# ---------------------------------------------------------------------------------------------
# Evaluating (in the worker processes)
# ---------------------------------------------------------------------------------------------

_REASONER: Any = None
_BUILT_FOR: tuple | None = None
_FORMAT: Format = Format.jsonl


def _init_worker(fmt: str, extra_kb: tuple[str, ...], engine: str) -> None:
    """Build the worker's Reasoner once; every chunk it gets reuses it (a forked worker inherits the
    one `run_batch` built, and with it the proof that the knowledge base loads)."""
    global _REASONER, _FORMAT, _BUILT_FOR
    from reasoner.flow.engine import Reasoner, default_reasoner

    _FORMAT = Format(fmt)
    if _BUILT_FOR == (extra_kb, engine):
        return
    if extra_kb or engine != "fast":
        _REASONER = Reasoner(extra_kb, engine=engine)  # type: ignore[arg-type]
    else:
        _REASONER = default_reasoner()
    _BUILT_FOR = (extra_kb, engine)
    # The knowledge base lives as long as the worker: keep its objects out of the collector's way
    # (each request graph is freed by the young-generation collections alone).
    gc.freeze()


def _run_chunk(chunk: list[tuple]) -> list[tuple]:
    """A chunk of records (plain tuples both ways: cheap to pickle between processes)."""
    return [tuple(evaluate_record(_REASONER, Record(*record), _FORMAT)) for record in chunk]


def evaluate_record(engine: Any, record: Record, fmt: Format) -> Row:
    """One record to one formatted row; invalid input becomes an error row, never an exception."""
    from reasoner.fhir.evaluate import evaluate_text
    from reasoner.flow.check import WHOLE_REQUEST, InvalidRequest

    request_id: str | None = None
    try:
        if record.data.startswith(b"\0"):
            raise InvalidRequest(WHOLE_REQUEST, "cannot read the file: " + record.data[1:].decode())
        ev, extraction = evaluate_text(engine, record.data)  # contract v1 or a FHIR Bundle, checked
        if fmt is Format.nq:
            return Row(format_nq(ev, record), ev.determination["id"], ev.determination["decision"])
        if fmt is Format.fhir:
            return Row(format_fhir(ev, extraction, engine, record), ev.determination["id"], ev.determination["decision"])
        det = ev.determination
    except InvalidRequest as exc:
        if request_id is None:
            request_id = peek_id(record.data)
        return Row(format_error(fmt, request_id, exc.field, exc.reason, record), request_id, None)
    return Row(format_determination(fmt, det, record), det["id"], det["decision"])


def peek_id(data: bytes) -> str | None:
    """The id of a record that failed the contract, if it has a string one (for resume)."""
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    value = obj.get("id") if isinstance(obj, dict) and "resourceType" not in obj else None  # a Bundle's id is not the request's
    return value if isinstance(value, str) else None


# ---------------------------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------------------------

def _fhir_source(record: Record) -> str:
    return f"urn:blincyto:batch:{record.where}:{record.at}"


def format_fhir(ev: Any, extraction: Any, engine: Any, record: Record) -> str:
    """A PAS response Bundle, one line; meta.source names the input record (for resume)."""
    from reasoner.fhir.response import dumps, response_for

    bundle = response_for(ev, engine.kb, extraction)
    bundle["meta"] = {"source": _fhir_source(record)}
    return dumps(bundle) + "\n"


def format_determination(fmt: Format, det: dict[str, Any], record: Record) -> str:
    if fmt is Format.jsonl:
        return json.dumps(det, ensure_ascii=False) + "\n"
    if fmt is Format.csv:
        return csv_line(csv_fields(det))
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
                         "source": f"{record.where} {record.at}"})
    return NQ_MARK + json.dumps({"id": request_id, "error": error, **record.source}, ensure_ascii=False) + "\n"


def format_nq(ev: Any, record: Record) -> str:
    from reasoner.flow.provenance import determination_graph

    quads = determination_graph(ev).serialize(format="nquads")
    if not quads.endswith("\n"):
        quads += "\n"
    mark = {"id": ev.determination["id"], "decision": ev.determination["decision"], **record.source}
    return quads + NQ_MARK + json.dumps(mark, ensure_ascii=False) + "\n"


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


def csv_line(fields: dict[str, str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow([fields.get(c, "") for c in CSV_COLUMNS])
    return out.getvalue()


# ---------------------------------------------------------------------------------------------
# Resuming
# ---------------------------------------------------------------------------------------------

@dataclass
class Done:
    """What OUTPUT already holds: request ids, and sources of rows that have no id."""

    ids: set[str] = field(default_factory=set)
    sources: set[tuple[str, int | str]] = field(default_factory=set)

    def has(self, record: Record) -> bool:
        if (record.where, record.at) in self.sources:
            return True
        if not self.ids:
            return False
        request_id = peek_id(record.data)
        return request_id is not None and request_id in self.ids


def prepare_output(path: Path, fmt: Format, resume: bool) -> Done:
    """Make OUTPUT ready to append to: with `resume`, cut a torn tail and list what is done."""
    done = Done()
    if not resume or not path.exists():
        if not resume and path.exists():
            path.write_bytes(b"")
        return done
    with path.open("rb+") as f:
        data = f.read()
        keep = _complete_prefix(data, fmt)
        if keep < len(data):
            f.truncate(keep)
    text = data[:keep].decode("utf-8", errors="replace")
    if fmt in (Format.jsonl, Format.fhir):
        for line in text.splitlines():
            _note(done, json.loads(line))
    elif fmt is Format.csv:
        for row in csv.DictReader(io.StringIO(text), fieldnames=CSV_COLUMNS):
            if row["id"] == "id" and row["decision"] == "decision":
                continue  # the header
            if row["id"]:
                done.ids.add(row["id"])
            elif row["source"]:
                where, _, at = row["source"].partition(" ")
                done.sources.add((where, int(at) if where == "line" else at))
    else:
        for line in text.splitlines():
            if line.startswith(NQ_MARK):
                _note(done, json.loads(line[len(NQ_MARK):]))
    return done


def _note(done: Done, row: dict[str, Any]) -> None:
    source = (row.get("meta") or {}).get("source") if "resourceType" in row else None
    if isinstance(source, str) and source.startswith("urn:blincyto:batch:"):  # a FHIR row
        where, _, at = source[len("urn:blincyto:batch:"):].partition(":")
        done.sources.add((where, int(at) if where == "line" else at))
        return
    if isinstance(row.get("id"), str):
        done.ids.add(row["id"])
    for where in ("line", "file"):
        if where in row:
            done.sources.add((where, row[where]))


def _complete_prefix(data: bytes, fmt: Format) -> int:
    """Length of the part of OUTPUT made of whole rows (a row torn by a crash is dropped)."""
    end = data.rfind(b"\n") + 1  # a torn last line has no newline yet
    if fmt in (Format.jsonl, Format.fhir):
        while end > 0:  # a last line that is whole but not JSON was torn too
            start = data.rfind(b"\n", 0, end - 1) + 1
            try:
                json.loads(data[start:end])
                break
            except ValueError:
                end = start
    elif fmt is Format.nq:  # a record's quads count only once its closing mark is written
        mark = data.rfind(b"\n" + NQ_MARK.encode(), 0, end)
        start_of_mark = mark + 1 if mark >= 0 else (0 if data.startswith(NQ_MARK.encode()) else -1)
        end = data.find(b"\n", start_of_mark) + 1 if start_of_mark >= 0 else 0
    return end


# ---------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------

def _chunks(records: Iterator[Record], done: Done, size: int, summary: Summary,
            gate: threading.Semaphore | None) -> Iterator[list[tuple]]:
    chunk: list[tuple] = []
    for record in records:
        if done.has(record):
            summary.skipped += 1
            continue
        chunk.append(tuple(record))
        if len(chunk) >= size:
            if gate is not None:
                gate.acquire()  # at most `window` chunks between reader and writer
            yield chunk
            chunk = []
    if chunk:
        if gate is not None:
            gate.acquire()
        yield chunk


def run_batch(source: str | Path, output: str | Path, fmt: Format = Format.jsonl, workers: int | None = None,
              resume: bool = False, extra_kb: tuple[str, ...] = (), engine: str = "fast", chunk_size: int = 128,
              progress: Callable[[int], None] | None = None, stdin: BinaryIO | None = None) -> Summary:
    """Evaluate every record of `source` into `output` (see the module doc); returns the summary.

    Raises BatchInputError when the input cannot be read at all, and PolicyError when the knowledge
    base refuses to load (both before OUTPUT is touched).
    """
    fmt = Format(fmt)
    workers = workers or os.cpu_count() or 1
    records = read_records(source, stdin=stdin)
    _init_worker(fmt.value, tuple(extra_kb), engine)  # here, once: a broken policy stops the batch now
    out_path = Path(output)
    done = prepare_output(out_path, fmt, resume)
    summary = Summary()
    started = time.perf_counter()
    with out_path.open("a", encoding="utf-8", newline="") as out:
        if fmt is Format.csv and out.tell() == 0:
            out.write(csv_line({c: c for c in CSV_COLUMNS}))
            out.flush()

        def write(rows: list[tuple]) -> None:
            for text, _id, decision in rows:
                out.write(text)
                out.flush()  # a row is in the file (the OS's cache) as soon as it is known
                if decision is None:
                    summary.errors += 1
                else:
                    summary.decisions[decision] += 1
            if progress is not None:
                progress(len(rows))

        if workers <= 1:
            for chunk in _chunks(records, done, chunk_size, summary, None):
                write(_run_chunk(chunk))
        else:
            window = threading.Semaphore(workers * 4)
            ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
            with ctx.Pool(workers, initializer=_init_worker, initargs=(fmt.value, tuple(extra_kb), engine)) as pool:
                try:
                    for rows in pool.imap(_run_chunk, _chunks(records, done, chunk_size, summary, window)):
                        write(rows)
                        window.release()
                except BaseException:
                    for _ in range(workers * 4 + 2):  # unblock the feeder so the pool can stop
                        window.release()
                    raise
    summary.seconds = time.perf_counter() - started
    return summary
