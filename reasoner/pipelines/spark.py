"""Apache Spark: the same determinations as `blincyto batch`, on as many executors as a cluster has.

Needs the optional extra `[spark]` (pyspark). Each Python worker loads the knowledge base and
compiles the shapes once (`default_reasoner()`, kept across partitions as Spark reuses its
Python workers); every partition then only evaluates. Rows are made by `reasoner.pipelines.batch`, so a bad
request becomes the same error row as in a local batch.

- `determinations(df, column="request")`: a DataFrame of request JSON strings (contract v1, or FHIR
  R4 Bundles: a column of Bundles) in, a DataFrame of determinations out (one row per input row; `error_field` / `error_reason` set on an error row).
- `run_batch_spark(...)`: `blincyto batch --spark` on a local session (`local[workers]`).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from reasoner.pipelines.batch import (CSV_COLUMNS, STDIN, BatchInputError, Format, Record, Row, Summary, csv_line, evaluate_record,
                    peek_id, prepare_output)

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

    engine = _reasoner()
    for text in texts:
        request_id = None
        try:
            if text is None:
                raise InvalidRequest("(request)", "is missing (null)")
            det = evaluate_text(engine, text)[0].determination  # contract v1 or a FHIR Bundle
            request_id = det["id"]
        except InvalidRequest as exc:
            if request_id is None and isinstance(text, (str, bytes)):
                request_id = peek_id(text.encode() if isinstance(text, str) else text)
            yield (request_id, None, None, None, None, None, None, exc.field, exc.reason)
            continue
        referral = det.get("referral") or {}
        yield (det["id"], det["decision"], det.get("approval_months"), list(det.get("pathways") or []),
               [f"{f['criterion']}:{f['kind']}" for f in det.get("failed") or []],
               " ".join(x for x in (referral.get("policy"), referral.get("section")) if x) or None,
               json.dumps(det, ensure_ascii=False), None, None)


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

def local_session(workers: int | None = None) -> Any:
    """A local Spark session whose Python workers run this interpreter and can import `reasoner`."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    package_parent = str(Path(__file__).resolve().parent.parent)
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if package_parent not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([package_parent, *paths])
    spark = (SparkSession.builder.master(f"local[{workers or os.cpu_count() or 1}]")
             .appName("blincyto-batch")
             .config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")  # the batch prints its own summary
             .config("spark.sql.shuffle.partitions", str(max(2, (workers or 2) * 2)))
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _rows(records: Iterable[tuple[str, Any, str]], fmt_value: str, done: tuple[frozenset, frozenset]) -> Iterator[tuple[str, str | None, str | None]]:
    """One partition of (where, at, text): formatted batch rows, records already done left out."""
    fmt = Format(fmt_value)
    ids, sources = done
    engine = _reasoner()
    for where, at, text in records:
        data = text.encode("utf-8") if isinstance(text, str) else text
        record = Record(where, at, data)
        if (where, at) in sources:
            continue
        if ids and peek_id(data) in ids:
            continue
        row: Row = evaluate_record(engine, record, fmt)
        yield row.text, row.id, row.decision


def run_batch_spark(source: str | Path, output: str | Path, fmt: Format = Format.jsonl, resume: bool = False,
                    workers: int | None = None, spark: Any = None) -> Summary:
    """`blincyto batch --spark`: the input read by Spark, rows written in input order to OUTPUT."""
    fmt = Format(fmt)
    temp: Path | None = None
    path = Path(str(source))
    if str(source) == STDIN:
        fd, name = tempfile.mkstemp(suffix=".jsonl")
        with os.fdopen(fd, "wb") as f:
            f.write(sys.stdin.buffer.read())
        temp = path = Path(name)
    elif not path.exists() or not (path.is_dir() or path.is_file()) or not os.access(path, os.R_OK):
        raise BatchInputError(f"cannot read {path}")
    try:
        done = prepare_output(Path(output), fmt, resume)
        session = spark or local_session(workers)
        sc = session.sparkContext
        if path.is_dir():
            files = sorted(str(p) for p in path.iterdir() if p.suffix == ".json" and p.is_file())
            records = sc.parallelize(files, max(1, min(len(files), sc.defaultParallelism * 4))).map(
                lambda f: ("file", Path(f).name, Path(f).read_bytes()))
        else:
            lines = sc.textFile(str(path.resolve()))
            records = lines.zipWithIndex().filter(lambda li: li[0].strip()).map(
                lambda li: ("line", li[1] + 1, li[0]))
        frozen = (frozenset(done.ids), frozenset(done.sources))
        total_before = len(frozen[0]) + len(frozen[1])
        fmt_value = fmt.value
        rows = records.mapPartitions(lambda part: _rows(part, fmt_value, frozen))
        summary = Summary()
        started = time.perf_counter()
        with Path(output).open("a", encoding="utf-8", newline="") as out:
            if fmt is Format.csv and out.tell() == 0:
                out.write(csv_line({c: c for c in CSV_COLUMNS}))
            for text, _id, decision in rows.toLocalIterator():
                out.write(text)
                out.flush()
                if decision is None:
                    summary.errors += 1
                else:
                    summary.decisions[decision] += 1
        summary.seconds = time.perf_counter() - started
        summary.skipped = total_before and _count_skipped(records, frozen)
        return summary
    finally:
        if temp is not None:
            temp.unlink(missing_ok=True)


def _count_skipped(records: Any, done: tuple[frozenset, frozenset]) -> int:
    """How many input records were already in OUTPUT (for the summary of a resumed batch)."""
    def skipped(part: Iterable[tuple[str, Any, Any]]) -> Iterator[int]:
        ids, sources = done
        n = 0
        for where, at, text in part:
            data = text.encode("utf-8") if isinstance(text, str) else text
            if (where, at) in sources or (ids and peek_id(data) in ids):
                n += 1
        yield n
    return sum(records.mapPartitions(skipped).collect())
