"""`blincyto batch`: a whole file or folder of requests, streamed, parallel, resumable.

Imports nothing heavy at start-up (the engine is loaded only when the command runs), so `blincyto
check` stays quick to start.
"""

from __future__ import annotations

import os
import sys
from enum import Enum
from typing import Any, Optional

from reasoner.cli.exits import Exit
from reasoner.cli.table import Command, arg, opt

EXIT_UNREADABLE = 2  # INPUT cannot be read (or --spark without pyspark)
EXIT_REFUSED = 3  # OUTPUT refused: it is INPUT, another batch is writing it, or it was not made from INPUT
EXIT_WRITE_FAILED = 4  # writing OUTPUT failed: a full disk, an I/O error, no permission


class OutputFormat(str, Enum):
    jsonl = "jsonl"
    csv = "csv"
    nq = "nq"
    fhir = "fhir"


HELP = """Evaluate every request of INPUT; one row per request in OUTPUT, an error row for a bad one.

Exit 0 when every row of OUTPUT is a determination, 1 when some are error rows, 2 when INPUT
cannot be read, 3 when OUTPUT is refused (it is INPUT, another batch is writing it, or --resume
finds it was not made from INPUT), 4 when writing OUTPUT fails (a full disk). A summary goes to
standard error; OUTPUT is created readable by its owner only (it holds health information)."""

COMMANDS = (Command(("batch",), HELP, (
    arg("input", metavar="INPUT", required=True,
        help="JSON Lines file (contract v1 requests or FHIR NDJSON, one Bundle a line), folder of .json files, "
             "or - for standard input"),
    opt("output", "--output", "-o", required=True, help="file to append rows to (replaced unless --resume)"),
    opt("format", "--format", "-f", choices=OutputFormat, checked=False, default=OutputFormat.jsonl.value,
        help="jsonl (determinations), csv, nq (N-Quads of PROV-O determination graphs), or fhir (NDJSON of PAS "
             "response Bundles)"),
    opt("workers", "--workers", "-w", type="int", min=1, help="worker processes (default: the machine's cores)"),
    opt("resume", "--resume", type="bool", default=False,
        help="keep OUTPUT's determinations (matched to INPUT by line or file), retry its error rows, go on where "
             "it stopped"),
    opt("spark", "--spark", type="bool", default=False,
        help="run on a local Apache Spark session (needs pyspark: the spark extra)"),
    opt("store", "--store", metavar="DIR|URL",
        help="also add every determination to a SPARQL store (a directory, created if new, or an Update endpoint "
             "URL), a chunk a transaction, before its rows are written"),
), "reasoner.cli.batch:batch"),)


def batch(input: str, output: str, format: OutputFormat = OutputFormat.jsonl, workers: Optional[int] = None,
          resume: bool = False, spark: bool = False, store: Optional[str] = None) -> None:
    """The batch; its exit status as HELP says (raises Exit)."""
    from reasoner.pipelines.batch import BatchInputError, Format, OutputRefused, OutputWriteError, run_batch

    fmt = Format(format.value)
    if spark and store is not None:
        _error("--store is not available with --spark (store the OUTPUT of --format nq instead)")
        raise Exit(EXIT_UNREADABLE)
    if spark:
        from importlib.util import find_spec

        if find_spec("pyspark") is None:
            sys.stderr.write("error: --spark needs the spark extra (pip install 'blincyto-reasoner[spark]')\n")
            raise Exit(EXIT_UNREADABLE)
    try:
        if spark:
            from reasoner.pipelines.spark import run_batch_spark

            summary = run_batch_spark(input, output, fmt, resume=resume, workers=workers)
        else:
            with _progress() as advance, _store(store) as target:
                summary = run_batch(input, output, fmt, workers=workers or os.cpu_count() or 1,
                                    resume=resume, progress=advance, store=target)
    except BatchInputError as exc:
        _error(str(exc))
        raise Exit(EXIT_UNREADABLE) from None
    except OutputRefused as exc:
        _error(str(exc))
        raise Exit(EXIT_REFUSED) from None
    except OutputWriteError as exc:
        _error(str(exc))
        raise Exit(EXIT_WRITE_FAILED) from None
    except Exception as exc:
        from reasoner.sparql.store import StoreError

        if not isinstance(exc, StoreError):
            raise
        _error(f"--store: {exc} (the rows written so far are stored; run again with --resume)")
        raise Exit(EXIT_WRITE_FAILED) from None
    sys.stderr.write(summary.text())
    raise Exit(summary.exit_code)


class _store:
    """The store of `--store` (opened before the batch, closed after it), or None."""

    def __init__(self, target: str | None) -> None:
        self.target = target
        self.opened = None

    def __enter__(self):
        if self.target is None:
            return None
        from reasoner.sparql.store import open_store

        self.opened = open_store(self.target)
        return self.opened

    def __exit__(self, *exc) -> None:
        if self.opened is not None:
            self.opened.close()


def _error(message: str) -> None:
    """One line on standard error; a path of the caller's is shown with its control characters escaped."""
    from reasoner.cli.render import terminal_safe

    sys.stderr.write(f"error: {terminal_safe(message)}\n")


class _progress:
    """A rich progress counter on a terminal; nothing when standard error is piped or a file."""

    def __enter__(self):
        self._bar = None
        if not sys.stderr.isatty():
            return None
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._bar = Progress(SpinnerColumn(), TextColumn("{task.completed} requests"), TimeElapsedColumn(),
                             transient=True)
        self._bar.start()
        task = self._bar.add_task("batch", total=None)
        return lambda n: self._bar.advance(task, n)

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()


def register(app: Any) -> None:
    from reasoner.cli.typed import add

    for command in COMMANDS:
        add(app, command)
