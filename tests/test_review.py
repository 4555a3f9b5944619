"""`blincyto review`: the criteria tree rendered as the policy's outline, matched to the policy text.

The text is the shared policy document (an input, passed by path); edits of it and of the graphs
must show up as flags. Coverage is read by evaluating tests/cases.
"""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from authoring_util import CASES, POLICY_TEXT

import reasoner
from reasoner.cli import app
from reasoner.authoring.coverage import coverage_rows, evaluate_cases
from reasoner.authoring.outline import criteria_items, parse_outline
from reasoner.authoring.review import DIFFERS, NO_LINE, NO_SHAPE, RENUMBERED, render
from reasoner.authoring.witness import all_pathways

pytestmark = pytest.mark.skipif(not POLICY_TEXT.is_file(), reason="the shared policy text is not beside the checkout")


@pytest.fixture(scope="module")
def text() -> str:
    return POLICY_TEXT.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def kb():
    return reasoner.default_reasoner().kb


def flags(kb, text):
    return {(f.kind, f.number) for f in render(kb, text).flags}


def test_the_outline_parser_reads_the_policys_numbering(text, kb):
    items = {i.number: i for i in criteria_items(parse_outline(text))}
    numbered = {c.number for c in kb.criteria.values()}
    # every criterion of the graph but one (Section III's single part, see below) is a line number
    assert numbered - set(items) <= {"III"}
    e = items["I.A.4.e"]
    assert [c.number for c in e.children] == ["I.A.4.e.i", "I.A.4.e.ii"]
    assert [c.number for c in items["I.A.4.c"].children][-1] == "I.A.4.c.iv"
    assert items["I.A.4.b"].text.endswith("(i or ii):")  # wrapped over a blank line
    assert any(n.startswith("*Prescribed regimen") for n in items["I.A.5"].notes)


def test_outline_markers_that_could_be_letters_or_numerals():
    text = "I. Section\nA. Part\n1. One\nh. eighth\ni. ninth letter\nj. tenth\n" \
           "2. Two\na. first\ni. roman one\nii. roman two\niv. gap\nv. roman five\nb. second\nII. Next\nA. Part\n"
    numbers = [i.number for i in criteria_items(parse_outline(text))]
    assert numbers == ["I", "I.A", "I.A.1", "I.A.1.h", "I.A.1.i", "I.A.1.j", "I.A.2", "I.A.2.a", "I.A.2.a.i",
                       "I.A.2.a.ii", "I.A.2.a.iv", "I.A.2.a.v", "I.A.2.b", "II", "II.A"]


def test_the_shipped_graphs_match_the_policy_text(kb, text):
    r = render(kb, text, str(POLICY_TEXT))
    assert all(row.match in ("same", RENUMBERED) for row in r.rows), [(row.number, row.match) for row in r.rows]
    # Section III: the graph calls its one part "III", the text numbers it III.A; shown, not hidden
    assert flags(kb, text) == {(RENUMBERED, "III")}
    rows = {row.number: row for row in r.rows}
    assert rows["I.A"].combination == "must meet all" and rows["I.A.4"].combination == "one of"
    assert rows["I.A.4.c.iii"].pathway and rows["I.A.4.c.iii"].shape == "shp:I.A.4.c.iii"
    assert rows["I.A.4.c.iii"].message and "Phase-maintenance" in rows["I.A.4.c.iii"].checks
    assert rows["I.A.5.a"].line == next(i.line for i in criteria_items(parse_outline(text)) if i.number == "I.A.5.a")


def test_edits_of_the_text_are_flagged(kb, text):
    line_4d = next(i for i in criteria_items(parse_outline(text)) if i.number == "I.A.4.d")
    lines = text.splitlines()
    without_4d = "\n".join(lines[: line_4d.line - 1] + lines[line_4d.line + 1:])  # its two lines
    assert (NO_LINE, "I.A.4.d") in flags(kb, without_4d)
    added = text.replace("5. Request meets one of the following", "f. A new use of Blincyto;\n5. Request meets one of the following", 1)
    assert (NO_SHAPE, "I.A.4.f") in flags(kb, added)
    changed = text.replace("Dose does not exceed 28 mcg per day;", "Dose does not exceed 35 mcg per day;", 1)
    assert flags(kb, changed) - flags(kb, text) == {(DIFFERS, "I.A.5.a")}


def test_a_draft_beside_the_current_text_shows_what_the_text_must_say(text):
    draft = reasoner.Reasoner(version="draft-2025").kb
    assert {(DIFFERS, "I.A.5.a"), (DIFFERS, "II.A.3.a")} <= flags(draft, text)


def test_coverage_shows_every_pathway_passing_in_the_cases(kb):
    engine = reasoner.default_reasoner()
    cache: dict = {}

    def engines(extra=()):
        if extra not in cache:
            cache[extra] = engine if not extra else reasoner.Reasoner(extra_kb=extra)
        return cache[extra]

    cov = evaluate_cases(CASES, engines)
    assert not cov.errors and len(cov.cases) == len(list(CASES.glob("*.json")))
    rows = {r["criterion"]: r for r in coverage_rows(kb, cov)}
    for _, pathway, _ in all_pathways(engine):
        assert rows[pathway.number]["passing"], pathway.number
    # the statuses are the engine's: each case's expected pathways are met in its coverage record
    for case in cov.cases:
        expected = json.loads((CASES / f"{case.name}.json").read_text())["expect"]
        for number in expected.get("pathways") or []:
            assert case.pathways[number].value == "met", (case.name, number)
    assert all(r["counts"]["met"] + r["counts"]["not-met"] + r["counts"]["missing"] > 0 for r in rows.values())


def test_cli_review_prints_the_outline_flags_and_coverage(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["review", "--policy-text", str(POLICY_TEXT), "--no-witnesses", "--no-lint"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "I.A.4.c.iii [pathway]  [line" in out and "policy:  For adult disease only" in out
    assert "Flags: 1" in out and "renumbered III" in out
    assert f"Coverage: {len(list(CASES.glob('*.json')))} cases" in out
    missing = runner.invoke(app, ["review", "--policy-text", str(tmp_path / "nope.txt")])
    assert missing.exit_code == 2
