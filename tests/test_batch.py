"""`blincyto batch`: formats, error rows, exit codes, folder and standard input, resume, and a batch
killed with SIGKILL halfway that resumes with every request exactly once and no torn line."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rdflib import Dataset, Literal, URIRef
from rdflib.namespace import RDF
from typer.testing import CliRunner

from reasoner.cli import app
from requestgen import requests

ROOT = Path(__file__).resolve().parent.parent
BX = "https://w3id.org/blincyto-pa/ontology#"
runner = CliRunner()


def run(*args: str, input: bytes | str | None = None):
    return runner.invoke(app, ["batch", *args], input=input)


def _write_jsonl(path: Path, rows: list, bad: list[str] = ()) -> Path:
    with path.open("w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
        for line in bad:
            f.write(line + "\n")
    return path


@pytest.fixture(scope="module")
def sample() -> list[dict]:
    return list(requests(40, seed=11))


@pytest.fixture(scope="module")
def expected(sample) -> dict[str, dict]:
    import reasoner

    return {r["id"]: reasoner.evaluate(r) for r in sample}


def _lines(path: Path) -> list[dict]:
    text = path.read_text()
    assert text == "" or text.endswith("\n"), "a torn last line"
    return [json.loads(line) for line in text.splitlines()]


def _det(row: dict) -> dict:
    """A determination row without the position of its record (`line` / `file`), which every row carries."""
    return {k: v for k, v in row.items() if k not in ("line", "file")}


def test_jsonl_determinations_and_error_rows(tmp_path, sample, expected):
    bad = ["{not json", json.dumps({"id": "no-date", "request_type": "initial"}),
           json.dumps({**sample[0], "id": "neg", "member": {**sample[0]["member"], "weight_kg": -3}})]
    src = _write_jsonl(tmp_path / "in.jsonl", sample, bad)
    result = run(str(src), "-o", str(tmp_path / "out.jsonl"), "--workers", "1")
    assert result.exit_code == 1, result.output
    rows = _lines(tmp_path / "out.jsonl")
    assert len(rows) == len(sample) + 3
    for number, row in enumerate(rows[:len(sample)], start=1):
        assert _det(row) == expected[row["id"]] and row["line"] == number
    errors = rows[len(sample):]
    assert [e["line"] for e in errors] == [41, 42, 43]
    assert [e["error"]["field"] for e in errors] == ["(request)", "request_date", "member.weight_kg"]
    assert [e["id"] for e in errors] == [None, "no-date", "neg"]
    assert "error rows: 3" in result.stderr


def test_all_good_exits_0_and_parallel_keeps_input_order(tmp_path, sample, expected):
    src = _write_jsonl(tmp_path / "in.jsonl", sample)
    result = run(str(src), "-o", str(tmp_path / "out.jsonl"), "--workers", "2")
    assert result.exit_code == 0, result.output
    rows = _lines(tmp_path / "out.jsonl")
    assert [r["id"] for r in rows] == [r["id"] for r in sample]
    assert all(_det(r) == expected[r["id"]] for r in rows)


def test_csv(tmp_path, sample, expected):
    src = _write_jsonl(tmp_path / "in.jsonl", sample[:10], ["[]"])
    result = run(str(src), "-o", str(tmp_path / "out.csv"), "--format", "csv", "--workers", "1")
    assert result.exit_code == 1
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out.csv").read_text())))
    assert list(rows[0]) == ["id", "decision", "months", "pathways", "failed", "referral", "error", "source"]
    for row in rows[:10]:
        det = expected[row["id"]]
        assert row["decision"] == det["decision"]
        assert row["months"] == ("" if det["approval_months"] is None else str(det["approval_months"]))
        assert row["pathways"].split(";") == (det["pathways"] or [""])
        assert row["failed"] == ";".join(f"{f['criterion']}:{f['kind']}" for f in det["failed"])
        if det["referral"]:
            assert row["referral"] == f"{det['referral']['policy']} {det['referral']['section']}"
    assert rows[10]["decision"] == "error" and rows[10]["source"] == "line 11"
    assert rows[10]["error"].startswith("(request): ")


def test_nquads(tmp_path, sample, expected):
    src = _write_jsonl(tmp_path / "in.jsonl", sample[:5], ["nope"])
    result = run(str(src), "-o", str(tmp_path / "out.nq"), "--format", "nq", "--workers", "1")
    assert result.exit_code == 1
    ds = Dataset()
    ds.parse(data=(tmp_path / "out.nq").read_text(), format="nquads")
    results = set(ds.subjects(RDF.type, URIRef(BX + "Determination")))
    assert len(results) == 5
    decided = {str(ds.value(r, URIRef(BX + "requestId"))): str(ds.value(r, URIRef(BX + "decision"))) for r in results}
    assert decided == {r["id"]: expected[r["id"]]["decision"] for r in sample[:5]}
    assert len(list(ds.graphs())) > 5  # request graphs and validation reports as named graphs
    assert '"line": 6' in (tmp_path / "out.nq").read_text().splitlines()[-1]


def test_folder_input_names_the_bad_file(tmp_path, sample, expected):
    folder = tmp_path / "requests"
    folder.mkdir()
    for r in sample[:3]:
        (folder / f"{r['id']}.json").write_text(json.dumps(r))
    (folder / "broken.json").write_text("{")
    (folder / "notes.txt").write_text("ignored")
    result = run(str(folder), "-o", str(tmp_path / "out.jsonl"), "--workers", "1")
    assert result.exit_code == 1
    rows = _lines(tmp_path / "out.jsonl")
    assert len(rows) == 4
    error = next(r for r in rows if "error" in r)
    assert error["file"] == "broken.json" and error["error"]["field"] == "(request)"
    assert {r["id"] for r in rows if "error" not in r} == {r["id"] for r in sample[:3]}


def test_standard_input(tmp_path, sample, expected):
    data = "".join(json.dumps(r) + "\n" for r in sample[:4])
    result = subprocess.run([sys.executable, "-m", "reasoner.cli", "batch", "-", "-o", str(tmp_path / "out.jsonl")],
                            input=data, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    assert [r["id"] for r in _lines(tmp_path / "out.jsonl")] == [r["id"] for r in sample[:4]]
    assert "requests/s" in result.stderr and "decisions:" in result.stderr
    assert "\x1b[" not in result.stderr  # no progress bar when piped


def test_unreadable_input_exits_2_and_leaves_output_alone(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text('{"kept": true}\n')
    result = run(str(tmp_path / "missing.jsonl"), "-o", str(out))
    assert result.exit_code == 2
    assert out.read_text() == '{"kept": true}\n'


def test_resume_cuts_a_torn_line_and_skips_done_ids(tmp_path, sample, expected):
    src = _write_jsonl(tmp_path / "in.jsonl", sample, ["{bad"])
    out = tmp_path / "out.jsonl"
    first = "".join(json.dumps(expected[r["id"]]) + "\n" for r in sample[:15])
    out.write_text(first + json.dumps(expected[sample[15]["id"]])[:40])  # torn by a crash
    result = run(str(src), "-o", str(out), "--resume", "--workers", "1")
    assert result.exit_code == 1
    rows = _lines(out)
    ids = [r["id"] for r in rows if "error" not in r]
    assert ids == [r["id"] for r in sample]  # each exactly once, in order
    assert sum("error" in r for r in rows) == 1
    again = run(str(src), "-o", str(out), "--resume", "--workers", "1")  # only the error row is retried
    assert again.exit_code == 1 and _lines(out) == rows  # it still fails: the status says so
    assert "error rows retried: 1" in again.stderr


@pytest.mark.parametrize("fmt", ["csv", "nq"])
def test_resume_other_formats(tmp_path, sample, fmt):
    src = _write_jsonl(tmp_path / "in.jsonl", sample[:12], ["{bad"])
    out = tmp_path / f"out.{fmt}"
    assert run(str(src), "-o", str(out), "--format", fmt, "--workers", "1").exit_code == 1
    whole = out.read_bytes()
    cut = whole[: len(whole) * 2 // 3 - 7]  # a crash partway through a row
    out.write_bytes(cut)
    assert run(str(src), "-o", str(out), "--format", fmt, "--resume", "--workers", "1").exit_code == 1
    text = out.read_text()
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        assert sorted(r["id"] for r in rows if r["id"]) == sorted(r["id"] for r in sample[:12])
        assert sum(r["decision"] == "error" for r in rows) == 1
    else:
        marks = [json.loads(line.split(" ", 2)[2]) for line in text.splitlines() if line.startswith("# blincyto-batch")]
        assert sorted(m["id"] for m in marks if m["id"]) == sorted(r["id"] for r in sample[:12])
        ds = Dataset()
        ds.parse(data=text, format="nquads")
        ids = [str(o) for o in ds.objects(None, URIRef(BX + "requestId")) if isinstance(o, Literal)]
        assert sorted(ids) == sorted(r["id"] for r in sample[:12])


def test_sigkill_halfway_then_resume_loses_nothing(tmp_path):
    reqs = list(requests(3000, seed=5))
    src = _write_jsonl(tmp_path / "in.jsonl", reqs)
    out = tmp_path / "out.jsonl"
    cmd = [sys.executable, "-m", "reasoner.cli", "batch", str(src), "-o", str(out), "--workers", "2"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if out.exists() and out.read_bytes().count(b"\n") >= 200:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the batch ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # its worker processes
        except ProcessLookupError:
            pass
    written = out.read_bytes().count(b"\n")
    assert 200 <= written < len(reqs)
    resumed = subprocess.run(cmd + ["--resume"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert "skipped (already in output)" in resumed.stderr
    rows = _lines(out)
    ids = [r["id"] for r in rows]
    assert sorted(ids) == sorted(r["id"] for r in reqs)
    assert len(ids) == len(set(ids)) == len(reqs)
