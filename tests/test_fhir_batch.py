"""FHIR NDJSON (one Bundle a line) in batch and Spark: the same rows, streaming, error rows and resume
as for contract requests; `--format fhir` writes NDJSON of PAS response Bundles (error rows are
OperationOutcomes), each valid FHIR (fhir.resources R4B)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle as R4BBundle
from fhir.resources.R4B.operationoutcome import OperationOutcome

from reasoner.pipelines.batch import Format, run_batch

ROOT = Path(__file__).resolve().parents[1]
BUNDLES = sorted((ROOT / "examples" / "fhir").glob("*.bundle.json"))
BAD = '{"resourceType": "Bundle", "type": "collection", "entry": []}'


@pytest.fixture()
def ndjson(tmp_path) -> Path:
    path = tmp_path / "bundles.ndjson"
    lines = [json.dumps(json.loads(p.read_text())) for p in BUNDLES[:4]]
    lines.insert(2, BAD)
    lines.append(json.dumps(json.loads((ROOT / "examples" / "deny-initial-prescriber-commercial.json").read_text())))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_fhir_ndjson_in_jsonl_out(ndjson, tmp_path):
    out = tmp_path / "out.jsonl"
    summary = run_batch(ndjson, out, Format.jsonl, workers=1)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert summary.errors == 1 and len(rows) == 6
    assert rows[2]["error"]["field"] == "Bundle.entry.resource.ofType(Patient)" and rows[2]["line"] == 3
    assert all("sources" in r for i, r in enumerate(rows[:5]) if i != 2)  # FHIR rows carry their sources
    assert "sources" not in rows[5]  # the contract request in the same file


def test_fhir_out_and_resume(ndjson, tmp_path):
    out = tmp_path / "out.ndjson"
    run_batch(ndjson, out, Format.fhir, workers=1)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 6
    for row in rows:
        (OperationOutcome if row["resourceType"] == "OperationOutcome" else R4BBundle).model_validate(row)
        assert row["meta"]["source"].startswith("urn:blincyto:batch:line:")
    assert rows[2]["resourceType"] == "OperationOutcome"
    assert rows[0]["entry"][0]["resource"]["resourceType"] == "ClaimResponse"
    text = out.read_text()
    out.write_text(text[: text.rfind("\n", 0, len(text) - 1) + 1] + text.splitlines()[-1][:40])  # tear the last row
    summary = run_batch(ndjson, out, Format.fhir, workers=1, resume=True)
    # the torn row is evaluated again, and so is the error row (papercut 2 of issue 11): it fails again
    assert (summary.skipped, summary.retried, summary.rows, summary.errors) == (4, 1, 2, 1)
    again = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(again) == 6 and again[2]["resourceType"] == "OperationOutcome"
    assert [r["meta"]["source"] for r in again] == [r["meta"]["source"] for r in rows]


def test_spark_takes_a_column_of_bundles(spark):
    from reasoner.pipelines.spark import determinations

    df = spark.createDataFrame([(p.read_text(),) for p in BUNDLES[:2]] + [(BAD,)], "request string")
    rows = {r["id"]: r for r in determinations(df).collect()}
    bad = rows.pop(None)
    assert bad["error_field"] == "Bundle.entry.resource.ofType(Patient)"
    assert all(json.loads(r["determination"])["sources"] for r in rows.values())
