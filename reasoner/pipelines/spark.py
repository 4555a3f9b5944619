"""Apache Spark: the same determinations as `blincyto batch`, on as many executors as a cluster has.

Needs the optional extra `[spark]` (pyspark). Each Python worker loads the knowledge base and
compiles the shapes once (`default_reasoner()`, kept across partitions as Spark reuses its
Python workers); every partition then only evaluates. Rows are made by `reasoner.pipelines.rows`, so a bad
request becomes the same error row as in a local batch, and any failure of the engine an error row too.

- `determinations(df, column="request")`: a DataFrame of request JSON strings (contract v1, or FHIR
  R4 Bundles: a column of Bundles) in, a DataFrame of determinations out (one row per input row;
  `error_field` / `error_reason` set on an error row).
- `run_batch_spark(...)`: `blincyto batch --spark` on a local session (`local[workers]`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from reasoner.pipelines.batch import Summary
from reasoner.pipelines.output import OldRow, OutputFile, OutputRefused, refuse_input, write_error
from reasoner.pipelines.records import STDIN, BatchInputError, Record, display_name
from reasoner.pipelines.rows import CSV_COLUMNS, Format, csv_line, evaluate_record

__all__ = ["DETERMINATION_SCHEMA", "determinations", "local_session", "run_batch_spark"]

DETERMINATION_SCHEMA = (
    "id string, decision string, approval_months int, pathways array<string>, failed array<string>, "
    "referral string, determination string, error_field string, error_reason string"
)


def _reasoner() -> Any:
    from reasoner.flow.engine import default_reasoner

    return default_reasoner()  # once per Python worker process


def _determine(texts: Iterable[Any]) -> Iterator[tuple]:
    """One partition: request JSON strings to determination rows (error rows for bad ones)."""
    from reasoner.fhir.evaluate import evaluate_text
    from reasoner.flow.check import InvalidRequest
    from reasoner.pipelines.rows import peek_id

    engine = _reasoner()
    for text in texts:
        request_id = None
        try:
            if text is None:
                raise InvalidRequest("(request)", "is missing (null)")
            det = evaluate_text(engine, text)[0].determination  # contract v1 or a FHIR Bundle
            request_id = det["id"]
            whole = json.dumps(det, ensure_ascii=False, allow_nan=False)  # no Infinity in any output
        except InvalidRequest as exc:
            if request_id is None and isinstance(text, (str, bytes)):
                request_id = peek_id(text.encode("utf-8", "replace") if isinstance(text, str) else text)
            yield (request_id, None, None, None, None, None, None, exc.field, exc.reason)
            continue
        except Exception as exc:  # noqa: BLE001 - a poison row is an error row, as in a local batch
            yield (request_id, None, None, None, None, None, None, "(request)",
                   f"could not be evaluated: internal error ({type(exc).__name__}); please report it")
            continue
        referral = det.get("referral") or {}
        yield (det["id"], det["decision"], det.get("approval_months"), list(det.get("pathways") or []),
               [f"{f['criterion']}:{f['kind']}" for f in det.get("failed") or []],
               " ".join(x for x in (referral.get("policy"), referral.get("section")) if x) or None,
               whole, None, None)


def determinations(df: Any, column: str = "request") -> Any:
    """A DataFrame with a column of request JSON strings -> a DataFrame of determinations.

    Columns: DETERMINATION_SCHEMA; `determination` holds the whole contract-v1 determination as JSON.
    """
    spark = df.sparkSession
    rows = df.select(column).rdd.mapPartitions(lambda part: _determine(r[0] for r in part))
    return spark.createDataFrame(rows, DETERMINATION_SCHEMA)


# ---------------------------------------------------------------------------------------------
# blincyto batch --spark
# ---------------------------------------------------------------------------------------------

def local_session(workers: int | None = None, java_options: str | None = None) -> Any:
    """A local Spark session whose Python workers run this interpreter and can import `reasoner`.

    `java_options`: the driver JVM's flags (`spark.driver.extraJavaOptions`), e.g. the first JIT tier
    and one GC thread for a short job, where the JVM's start and its optimising compiler cost more
    than the job (the test suite's session: half the JVM's CPU)."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    package_parent = str(Path(__file__).resolve().parent.parent)
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if package_parent not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([package_parent, *paths])
    builder = (SparkSession.builder.master(f"local[{workers or os.cpu_count() or 1}]")
               .appName("blincyto-batch")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")  # the batch prints its own summary
               .config("spark.sql.shuffle.partitions", str(max(2, (workers or 2) * 2))))
    if java_options:
        builder = builder.config("spark.driver.extraJavaOptions", java_options)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _rows(records: Iterable[tuple[str, Any, Any]], fmt_value: str,
          done: frozenset) -> Iterator[tuple[Any, str, str | None, str | None, bool]]:
    """One partition of (where, at, text): (position, row text, id, decision, internal) for every record
    whose position is not among the determinations OUTPUT already holds."""
    fmt = Format(fmt_value)
    engine = _reasoner()
    for where, at, text in records:
        if (where, at) in done:
            continue
        data = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
        row = evaluate_record(engine, Record(where, at, data), fmt)
        yield (where, at), row.text, row.id, row.decision, row.internal


def _key(position: tuple[str, int | str]) -> int | str:
    """Input order: line numbers, or file names (the folder is read in sorted order)."""
    return position[1]


def run_batch_spark(source: str | Path, output: str | Path, fmt: Format = Format.jsonl, resume: bool = False,
                    workers: int | None = None, spark: Any = None) -> Summary:
    """`blincyto batch --spark`: the input read by Spark, rows written in input order to OUTPUT.

    The same rows, lock, refusals and exit statuses as a local batch. Resume keeps OUTPUT's
    determinations (by position), and evaluates its error rows again and the records not in it.
    Spark reads each line whole (Hadoop's line reader); a line over the contract's limit is then an
    error row, as it is in a local batch.
    """
    fmt = Format(fmt)
    out = OutputFile(output, fmt)
    refuse_input(source, out.path)
    temp: Path | None = None
    path = Path(str(source))
    if str(source) == STDIN:
        fd, name = tempfile.mkstemp(suffix=".jsonl")  # 0600
        with os.fdopen(fd, "wb") as f:
            shutil.copyfileobj(sys.stdin.buffer, f)  # in pieces: memory stays flat
        temp = path = Path(name)
    elif not path.exists() or not (path.is_dir() or path.is_file()) or not os.access(path, os.R_OK):
        raise BatchInputError(f"cannot read {path}")
    try:
        with out.locked():
            return _run(path, out, fmt, resume, workers, spark)
    finally:
        if temp is not None:
            temp.unlink(missing_ok=True)


def _run(path: Path, out: OutputFile, fmt: Format, resume: bool, workers: int | None, spark: Any) -> Summary:
    scan = out.scan() if resume else None
    old: list[OldRow] = []
    if scan and scan.rows:
        old = [OldRow(r.position, r.error, b"") for r in out.old_rows()]  # positions only
        if any(r.position is None for r in old):
            raise OutputRefused(f"{out.path} has rows that do not name their record (an earlier release): "
                                "resume it without --spark")
    done = frozenset(r.position for r in old if not r.error)
    retry = {r.position for r in old if r.error}
    rewrite = bool(retry)
    last_old = _key(old[-1].position) if old else None

    session = spark or local_session(workers)
    sc = session.sparkContext
    if path.is_dir():
        files = sorted(str(p) for p in path.iterdir() if p.suffix == ".json" and p.is_file())
        records = sc.parallelize(files, max(1, min(len(files), sc.defaultParallelism * 4))).map(
            lambda f: ("file", display_name(Path(f).name), _read_file(f)))
    else:
        lines = sc.textFile(str(path.resolve()))
        records = lines.zipWithIndex().filter(lambda li: li[0].strip()).map(
            lambda li: ("line", li[1] + 1, li[0]))
    fmt_value = fmt.value
    rows = records.mapPartitions(lambda part: _rows(part, fmt_value, done))
    summary = Summary(skipped=len(done))
    started = time.perf_counter()
    fd = out.open_temp() if rewrite else out.open_append(truncate=not resume)

    def write(text: str) -> None:
        data = memoryview(text.encode("utf-8"))
        try:
            while data:
                data = data[os.write(fd, data):]
        except OSError as exc:
            os.close(fd)
            if rewrite:
                out.discard_temp()
            raise write_error(out.path, exc) from None

    try:
        if fmt is Format.csv and (rewrite or os.fstat(fd).st_size == 0):
            write(csv_line({c: c for c in CSV_COLUMNS}))
        kept = iter(out.old_rows()) if rewrite else iter(())
        pending = next(kept, None)
        for position, text, _id, decision, internal in rows.toLocalIterator():
            if rewrite:
                while pending is not None and _key(pending.position) < _key(position):
                    if not pending.error:
                        write(pending.raw.decode("utf-8"))
                    pending = next(kept, None)
                if pending is not None and pending.position == position:
                    pending = next(kept, None)
                summary.retried += position in retry
            elif last_old is not None and _key(position) <= last_old:
                raise OutputRefused(f"{out.path} was not made from this INPUT ({position[0]} {position[1]} is "
                                    "before its last row): run without --resume to replace it")
            write(text)
            summary.add((text, _id, decision, internal))
        while pending is not None:
            if not pending.error:
                write(pending.raw.decode("utf-8"))
            pending = next(kept, None)
        if rewrite and summary.retried != len(retry):
            raise OutputRefused(f"{out.path} has error rows for records INPUT does not have: it was not made "
                                "from this INPUT; run without --resume to replace it")
    except BaseException:
        with contextlib.suppress(OSError):
            os.close(fd)
        if rewrite:
            out.discard_temp()
        raise
    if rewrite:
        out.replace_with_temp(fd)
    else:
        os.close(fd)
    summary.seconds = time.perf_counter() - started
    return summary


def _read_file(name: str) -> bytes:
    """A request file, read no further than one byte past the contract's limit."""
    from reasoner.flow.check import MAX_REQUEST_BYTES

    with open(name, "rb") as f:
        return f.read(MAX_REQUEST_BYTES + 1)
