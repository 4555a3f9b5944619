"""Batch: many requests in, one row out per request, streamed, in parallel, resumable.

Input is JSON Lines (a file or standard input, one request a line) or a folder of `.json` files
(`records`); a record may be contract v1 or a FHIR R4 Bundle (FHIR NDJSON: one Bundle a line),
recognised by its `resourceType`. Each record becomes one row of OUTPUT, in input order: a
determination (contract v1; `Format.fhir`: a PAS response Bundle), or an error row naming the record
and the field (an OperationOutcome in FHIR) (`rows`); nothing a record holds can stop a batch.

Memory stays flat whatever the input size: records are read lazily (no line held beyond the contract's
size limit), at most `window` chunks are in flight between the reader and the worker processes (each
worker builds its Reasoner once), and rows are written as each chunk comes back, so a crash loses at
most the rows in flight. OUTPUT is locked for the run, refused when it is INPUT, created 0600
(`output`).

`resume=True` reads OUTPUT back and matches its rows to INPUT's records *by position* (the line
number or file name each row carries), never by the caller's id, which may repeat: it cuts a torn
last row, keeps every determination, evaluates again every record whose row is an error row (the new
row takes its place: OUTPUT is rewritten beside and swapped in) and every record not yet in OUTPUT.
The summary's exit status then describes OUTPUT as it stands: 1 while any error row remains.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from reasoner.pipelines.output import (OldRow, OutputFile, OutputRefused, OutputWriteError, refuse_input,
                                       write_error)
from reasoner.pipelines.records import STDIN, BatchInputError, Record, read_records
from reasoner.pipelines.rows import CSV_COLUMNS, Format, Row, csv_line, evaluate_record, peek_id

__all__ = ["STDIN", "BatchInputError", "Format", "OutputRefused", "OutputWriteError", "Record", "Row",
           "Summary", "evaluate_record", "peek_id", "read_records", "run_batch"]


@dataclass
class Summary:
    """What a batch did: new rows by decision, error rows, rows kept and retried on resume, time taken."""

    decisions: Counter = field(default_factory=Counter)
    errors: int = 0
    internal: int = 0  # error rows for an exception of the engine (among `errors`)
    skipped: int = 0  # determinations already in OUTPUT, kept
    retried: int = 0  # error rows of OUTPUT whose record was evaluated again
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(self.decisions.values()) + self.errors

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    @property
    def exit_code(self) -> int:
        """0: every row of OUTPUT is a determination; 1: some are error rows."""
        return 1 if self.errors else 0

    def add(self, row: tuple) -> None:
        _text, _id, decision, internal = row[:4]
        if decision is None:
            self.errors += 1
            self.internal += bool(internal)
        else:
            self.decisions[decision] += 1

    def text(self) -> str:
        decisions = ", ".join(f"{k} {v}" for k, v in sorted(self.decisions.items())) or "none"
        lines = [f"batch: {self.rows} rows in {self.seconds:.1f} s ({self.rate:.0f} requests/s)",
                 f"  decisions: {decisions}", f"  error rows: {self.errors}"]
        if self.internal:
            lines.append(f"  of which internal errors: {self.internal} (please report them)")
        if self.skipped:
            lines.append(f"  skipped (already in output): {self.skipped}")
        if self.retried:
            lines.append(f"  error rows retried: {self.retried}")
        return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# The work: each record of INPUT once, in order
# ---------------------------------------------------------------------------------------------

EVAL, KEEP, OLD_END, MISMATCH = "eval", "keep", "old-end", "mismatch"
_os_write = os.write  # every byte of OUTPUT goes through here (tests put a full disk in its place)


def _where(position: tuple[str, int | str]) -> str:
    return f"{position[0]} {position[1]}"


def _plan(records: Iterable[Record], old_rows: Iterable[OldRow], rewrite: bool, kept: deque,
          summary: Summary) -> Iterator[tuple]:
    """Work items in input order: evaluate a record (EVAL), or keep its row of OUTPUT (KEEP, its bytes
    queued in `kept`, only when OUTPUT is rewritten); OLD_END once OUTPUT's rows are all matched;
    MISMATCH (and nothing after it) when OUTPUT does not come from this INPUT."""
    old = iter(old_rows)
    remaining = True
    number = 0
    for record in records:
        row = next(old, None) if remaining else None
        if row is None:
            if remaining:
                remaining = False
                if rewrite:
                    yield (OLD_END,)
            yield (EVAL, tuple(record))
            continue
        number += 1
        if row.position is not None and row.position != record.position:
            yield (MISMATCH, f"row {number} of OUTPUT is for {_where(row.position)}, but record {number} of "
                             f"INPUT is {_where(record.position)}: OUTPUT was not made from this INPUT; "
                             "run without --resume to replace it")
            return
        if row.error:
            summary.retried += 1
            yield (EVAL, tuple(record))
        else:
            summary.skipped += 1
            if rewrite:
                kept.append(row.raw)
                yield (KEEP,)
    if remaining:
        if next(old, None) is not None:
            yield (MISMATCH, f"OUTPUT holds more rows than INPUT has records ({number}): OUTPUT was not "
                             "made from this INPUT; run without --resume to replace it")
            return
        if rewrite:
            yield (OLD_END,)


CHUNK_BYTES = 4 << 20  # a chunk closes at `chunk_size` records or this many bytes of them


def _chunks(items: Iterator[tuple], size: int, gate: threading.Semaphore | None) -> Iterator[list[tuple]]:
    """Chunks of work items; with the window, at most `window` * CHUNK_BYTES of records are in flight
    (128 requests of 1 MiB each would otherwise be 128 MiB a chunk)."""
    chunk: list[tuple] = []
    held = 0
    for item in items:
        chunk.append(item)
        if item[0] == EVAL:
            held += len(item[1][2])
        if len(chunk) >= size or held >= CHUNK_BYTES or item[0] == MISMATCH:
            held = 0
            if gate is not None:
                gate.acquire()  # at most `window` chunks between reader and writer
            yield chunk
            chunk = []
    if chunk:
        if gate is not None:
            gate.acquire()
        yield chunk


# ---------------------------------------------------------------------------------------------
# Evaluating (in the worker processes)
# ---------------------------------------------------------------------------------------------

_REASONER: Any = None
_BUILT_FOR: tuple | None = None
_FORMAT: Format = Format.jsonl
_STORE = False  # rows carry the store's N-Quads too (`batch --store`)


def _init_worker(fmt: str, extra_kb: tuple[str, ...], engine: str, store: bool = False) -> None:
    """Build the worker's Reasoner once; every chunk it gets reuses it (a forked worker inherits the
    one `run_batch` built, and with it the proof that the knowledge base loads)."""
    global _REASONER, _FORMAT, _BUILT_FOR, _STORE
    from reasoner.flow.engine import Reasoner, default_reasoner

    _FORMAT = Format(fmt)
    _STORE = store
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


def _store_arg(store: bool) -> tuple:
    """`_init_worker`'s store argument, given only when the batch stores (its default otherwise)."""
    return (True,) if store else ()


def _run_chunk(chunk: list[tuple]) -> list[tuple]:
    """A chunk of work items (plain tuples both ways: cheap to pickle between processes). With
    `--store`, a chunk is one transaction: the report's shape copies are written once in it."""
    store: bool | set[str] = set() if _STORE else False
    return [(EVAL, *evaluate_record(_REASONER, Record(*item[1]), _FORMAT, store)) if item[0] == EVAL else item
            for item in chunk]


# ---------------------------------------------------------------------------------------------
# Writing (in this process, in input order)
# ---------------------------------------------------------------------------------------------

class _Writer:
    """Writes the rows of each chunk as it comes back: into OUTPUT, or, while OUTPUT's error rows are
    retried, into the file that replaces it (swapped in at OLD_END)."""

    def __init__(self, out: OutputFile, fmt: Format, rewrite: bool, truncate: bool, kept: deque,
                 summary: Summary, progress: Callable[[int], None] | None, store: Any = None) -> None:
        self.out, self.kept, self.summary, self.progress = out, kept, summary, progress
        self.store = store  # `batch --store`: each chunk's determinations are stored before its rows are written
        self.rewriting = rewrite
        self.fd = out.open_temp() if rewrite else out.open_append(truncate=truncate)
        if fmt is Format.csv and (rewrite or os.fstat(self.fd).st_size == 0):
            self._write([csv_line({c: c for c in CSV_COLUMNS}).encode()])

    def handle(self, results: list[tuple]) -> None:
        if self.store is not None:
            stored = [item[5] for item in results if item[0] == EVAL and len(item) > 5 and item[5]]
            if stored:
                try:
                    self.store.add_nquads([], stored)  # one transaction: the chunk's determinations
                except Exception:
                    self.abort()
                    raise
        out: list[bytes] = []
        new = 0
        for item in results:
            kind = item[0]
            if kind == EVAL:
                out.append(item[1].encode("utf-8"))
                self.summary.add(item[1:])
                new += 1
            elif kind == KEEP:
                out.append(self.kept.popleft())
            elif kind == OLD_END:
                self._write(out)
                out = []
                self._swap()
            else:  # MISMATCH: nothing of OUTPUT has changed yet (see _plan)
                self.abort()
                raise OutputRefused(item[1])
        self._write(out)
        if self.progress is not None and new:
            self.progress(new)

    def _write(self, parts: list[bytes]) -> None:
        data = memoryview(b"".join(parts))
        try:
            while data:
                data = data[_os_write(self.fd, data):]
        except OSError as exc:
            self.abort()
            raise write_error(self.out.path, exc) from None

    def _swap(self) -> None:
        self.out.replace_with_temp(self.fd)
        self.rewriting = False
        self.fd = self.out.open_append()

    def close(self) -> None:
        if self.rewriting:  # OLD_END always comes before the end; this is a safeguard
            self.abort()
            raise OutputRefused("the resumed run ended before OUTPUT was rewritten: OUTPUT is unchanged")
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def abort(self) -> None:
        if self.fd >= 0:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = -1
        if self.rewriting:
            self.out.discard_temp()  # OUTPUT itself was not touched
            self.rewriting = False


# ---------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------

def run_batch(source: str | Path, output: str | Path, fmt: Format = Format.jsonl, workers: int | None = None,
              resume: bool = False, extra_kb: tuple[str, ...] = (), engine: str = "fast", chunk_size: int = 128,
              progress: Callable[[int], None] | None = None, stdin: BinaryIO | None = None,
              store: Any = None) -> Summary:
    """Evaluate every record of `source` into `output` (see the module doc); returns the summary.

    Raises BatchInputError when the input cannot be read at all and PolicyError when the knowledge
    base refuses to load (both before OUTPUT is touched), OutputRefused when OUTPUT cannot be used
    (it is INPUT, another run holds it, it was not made from INPUT), OutputWriteError when writing it
    fails (a full disk).

    `store` (a `reasoner.sparql.store` LocalStore or RemoteStore, open): every determination is also
    added to it, a chunk a transaction, before the chunk's rows are written (a row in OUTPUT is a
    determination in the store; a kill between the two stores the chunk again on --resume, under
    new UUIDs). A StoreError stops the batch.
    """
    fmt = Format(fmt)
    workers = workers or os.cpu_count() or 1
    records = read_records(source, stdin=stdin)
    _init_worker(fmt.value, tuple(extra_kb), engine, *_store_arg(store is not None))  # here, once: a broken policy stops the batch now
    out = OutputFile(output, fmt)
    refuse_input(source, out.path, stdin)
    summary = Summary()
    started = time.perf_counter()
    with out.locked():
        scan = out.scan() if resume else None
        rewrite = bool(scan and scan.errors)
        kept: deque = deque()
        writer = _Writer(out, fmt, rewrite, not resume, kept, summary, progress, store)
        try:
            items = _plan(records, out.old_rows() if scan and scan.rows else (), rewrite, kept, summary)
            _evaluate(items, writer, fmt, workers, tuple(extra_kb), engine, chunk_size, store is not None)
            writer.close()
        except BaseException:
            writer.abort()
            raise
    summary.seconds = time.perf_counter() - started
    return summary


def _evaluate(items: Iterator[tuple], writer: _Writer, fmt: Format, workers: int, extra_kb: tuple[str, ...],
              engine: str, chunk_size: int, store: bool = False) -> None:
    if workers <= 1:
        _init_worker(fmt.value, extra_kb, engine, *_store_arg(store))
        for chunk in _chunks(items, chunk_size, None):
            writer.handle(_run_chunk(chunk))
        return
    window = threading.Semaphore(workers * 4)
    ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    with ctx.Pool(workers, initializer=_init_worker, initargs=(fmt.value, extra_kb, engine, *_store_arg(store))) as pool:
        try:
            for results in pool.imap(_run_chunk, _chunks(items, chunk_size, window)):
                writer.handle(results)
                window.release()
        except BaseException:
            for _ in range(workers * 4 + 2):  # unblock the feeder so the pool can stop
                window.release()
            raise
