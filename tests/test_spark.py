"""reasoner.spark on a local[2] session: the same results as `blincyto batch`, error rows included.

The session is the run's one (`spark` in conftest.py), and these tests run on one pytest-xdist worker
with it: one JVM a run.

Skipped only when pyspark is not importable (CI installs the [spark] extra, and Java).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("pyspark")

from reasoner.pipelines.batch import Format, run_batch  # noqa: E402
from requestgen import requests  # noqa: E402

N = 300
BAD = ["{not json", json.dumps({"id": "spark-bad", "request_type": "initial"})]


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("spark") / "in.jsonl"
    with path.open("w") as f:
        for r in requests(N, seed=21):
            f.write(json.dumps(r) + "\n")
        for line in BAD:
            f.write(line + "\n")
    return path


@pytest.fixture(scope="module")
def local_rows(source, tmp_path_factory) -> list[dict]:
    out = tmp_path_factory.mktemp("local") / "out.jsonl"
    summary = run_batch(source, out, Format.jsonl, workers=1)
    assert summary.errors == len(BAD)
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_determinations_dataframe_matches_batch(spark, source, local_rows):
    from reasoner.pipelines.spark import determinations

    df = spark.createDataFrame([(line,) for line in source.read_text().splitlines()], "request string")
    out = determinations(df.repartition(4)).collect()
    assert len(out) == N + len(BAD)
    by_id = {r["id"]: {k: v for k, v in r.items() if k != "line"} for r in local_rows if "error" not in r}
    decided = [row for row in out if row["decision"] is not None]
    assert len(decided) == N
    for row in decided:
        det = json.loads(row["determination"])
        assert det == by_id[row["id"]]
        assert row["decision"] == det["decision"] and list(row["pathways"]) == det["pathways"]
        assert row["approval_months"] == det["approval_months"]
    errors = sorted((row["id"] or "", row["error_field"]) for row in out if row["decision"] is None)
    assert errors == [("", "(request)"), ("spark-bad", "request_date")]


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_batch_spark_writes_the_same_rows(spark, source, tmp_path, local_rows, fmt):
    from reasoner.pipelines.spark import run_batch_spark

    out = tmp_path / f"out.{fmt}"
    summary = run_batch_spark(source, out, Format(fmt), spark=spark)
    assert summary.errors == len(BAD) and summary.rows == N + len(BAD)
    if fmt == "jsonl":
        assert [json.loads(line) for line in out.read_text().splitlines()] == local_rows  # same order too
    else:
        local_csv = tmp_path / "local.csv"
        run_batch(source, local_csv, Format.csv, workers=1)
        assert out.read_text() == local_csv.read_text()


def test_batch_spark_resume_skips_what_is_done(spark, source, tmp_path, local_rows):
    from reasoner.pipelines.spark import run_batch_spark

    out = tmp_path / "out.jsonl"
    lines = [json.dumps(r, ensure_ascii=False) for r in local_rows]
    out.write_text("\n".join(lines[:100]) + "\n" + lines[100][:25])  # a torn row
    summary = run_batch_spark(source, out, Format.jsonl, resume=True, spark=spark)
    assert summary.skipped == 100
    assert [json.loads(line) for line in out.read_text().splitlines()] == local_rows


def test_batch_spark_resume_retries_error_rows_and_honours_the_lock(spark, source, tmp_path, local_rows):
    """Papercut 2 and issue 13 with --spark: an error row is evaluated again and replaced in place; a
    locked OUTPUT is refused."""
    from reasoner.pipelines.output import OutputFile, OutputRefused
    from reasoner.pipelines.spark import run_batch_spark

    out = tmp_path / "out.jsonl"
    lines = [json.dumps(r, ensure_ascii=False) for r in local_rows[:50]]
    lines[4] = json.dumps({"id": local_rows[4]["id"], "line": 5,
                           "error": {"field": "(request)", "reason": "could not be evaluated: internal error"}})
    out.write_text("\n".join(lines) + "\n")
    summary = run_batch_spark(source, out, Format.jsonl, resume=True, spark=spark)
    assert (summary.retried, summary.skipped, summary.errors) == (1, 49, len(BAD))
    assert [json.loads(line) for line in out.read_text().splitlines()] == local_rows
    with OutputFile(out, Format.jsonl).locked():
        with pytest.raises(OutputRefused, match="another batch"):
            run_batch_spark(source, out, Format.jsonl, resume=True, spark=spark)


def test_determinations_of_the_issues_triggers_are_error_rows(spark):
    from reasoner.pipelines.spark import determinations

    base = next(iter(requests(1, seed=3)))
    texts = ['{"id": "\\ud800"' + json.dumps({k: v for k, v in base.items() if k != "id"})[1:].join([", ", ""]),
             json.dumps({**base, "request_date": "0001-01-15"}),
             json.dumps({**base, "member": {"birth_date": "1990-01-01", "weight_kg": 1e308}}),
             json.dumps(base).replace('"member": {', '"member": {"bsa_m2": 1' + "0" * 400 + ", ", 1)]
    df = spark.createDataFrame([(t,) for t in texts], "request string")
    fields = [row["error_field"] for row in determinations(df).collect()]
    assert fields == ["id", "request_date", "member.weight_kg", "member.bsa_m2"]
