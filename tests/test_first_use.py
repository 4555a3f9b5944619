"""What a first-time user hit (issue 11, section 3), each held by a test.

Run as a new user would: the `blincyto` command on the bundled examples and the test cases, in a
temporary folder where a file is written. Each test names its papercut.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict
from datetime import date
from pathlib import Path

import pytest

from typer_runner import Runner

import reasoner
from reasoner.authoring.witness import find_witnesses
from reasoner.cli import app

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
CASES = ROOT / "tests" / "cases"
runner = Runner()  # typer's CliRunner, the click command made once


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def evaluate(name: str) -> dict:
    result = run("check", EXAMPLES / name, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# -- 1. review without policy text ---------------------------------------------------------------

def test_review_without_policy_text_says_so_and_exits_non_zero(tmp_path, monkeypatch):
    """A checkout without ../shared beside it: say the text was not found, how to pass it; exit 1."""
    from reasoner.authoring import review

    monkeypatch.setattr(review, "_policy_folder", lambda: tmp_path / "shared" / "policy")
    result = run("review", "--no-witnesses", "--no-lint", "--cases", tmp_path)
    assert result.exit_code == 1, result.output
    assert "no policy text found" in result.stderr and "--policy-text PATH" in result.stderr
    assert str(tmp_path / "shared" / "policy") in result.stderr  # where it looked
    assert "Flags: not checked: no policy text found" in result.stdout
    assert "Flags: 0" not in result.stdout


def test_review_with_an_unreadable_policy_text_names_the_option(tmp_path):
    result = run("review", "--policy-text", tmp_path / "nowhere.txt", "--no-witnesses", "--no-lint")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --policy-text: cannot read")


# -- 3. schedule for a diagnosis that is not a Section V indication ---------------------------

def test_schedule_for_t_all_says_no_section_v_row_applies_and_why():
    result = run("schedule", EXAMPLES / "refer-initial-t-all-him.json")
    assert result.exit_code == 0, result.output
    assert "No Section V row fits this request" in result.stdout
    assert "diagnosis.condition" in result.stdout and "B-ALL" in result.stdout
    assert "Cycle" not in result.stdout and "induction" not in result.stdout  # no B-ALL plan
    plan = json.loads(run("schedule", EXAMPLES / "refer-initial-t-all-him.json", "--format", "json").stdout)
    assert plan["indication"] is None and plan["cycles"] == [] and plan["missing"] == []
    assert {r["field"] for r in plan["ruled_out"]} == {"diagnosis.condition"}
    units = run("units", EXAMPLES / "refer-initial-t-all-him.json", "--units-billed", "10", "--cycle", "1")
    assert units.exit_code == 0 and "No Section V row fits" in units.stdout


def test_a_t_all_request_gets_no_section_v_dose_warnings():
    """The dose checks compare with the label's B-ALL dosing: not for another disease."""
    request = json.loads((EXAMPLES / "refer-initial-t-all-him.json").read_text())
    request["regimen"] |= {"cycle": 1, "day": 1}
    request["units_billed"] = 5000
    import reasoner

    det = reasoner.evaluate(request)
    codes = {w["code"] for w in det["warnings"]}
    assert not codes & {"dose-differs-from-label", "step-up-missing", "units-exceed-label", "cycle-beyond-course"}


# -- 4. needs-info leads with what would decide it ---------------------------------------------

def test_needs_info_lists_only_open_pathways_closest_first():
    """An adult's request missing MRD: the infant-ALL pathway (ruled out by what was sent) is not asked for."""
    det = evaluate("needs-info-initial-missing-mrd-medicaid.json")
    assert det["decision"] == "needs-info"
    assert det["needs"] == [
        {"pathway": "I.A.4.a", "missing": ["I.A.4.a"], "send": ["diagnosis.mrd.status"]},
        {"pathway": "I.A.4.c.iii", "missing": ["I.A.4.c.iii"], "send": ["diagnosis.mrd.status"]},
    ]
    asked = {f for item in det["needs"] for f in item["send"]}
    assert "diagnosis.diagnosis_date" not in asked and "diagnosis.kmt2a_rearranged" not in asked
    # the contract's `failed` keeps every criterion, the infant-ALL ones included
    assert {"I.A.4.e", "I.A.4.e.i"} <= {f["criterion"] for f in det["failed"]}


def test_needs_ranks_fewer_missing_criteria_first():
    det = evaluate("needs-info-initial-dose-above-maximum-him.json")
    assert [n["pathway"] for n in det["needs"]] == ["I.A.4.c.ii", "I.A.4.c.i"]
    assert det["needs"][0]["send"] == ["dose.supporting_evidence"]
    assert det["needs"][1]["send"] == ["dose.supporting_evidence", "regimen.phase"]


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.json")))
def test_needs_is_empty_unless_needs_info(name):
    det = evaluate(name)
    assert (det["needs"] != []) == (det["decision"] == "needs-info"), det["needs"]


def test_text_output_leads_with_the_fields_to_send():
    out = run("check", EXAMPLES / "needs-info-initial-missing-mrd-medicaid.json").stdout
    lines = out.splitlines()
    first = lines.index("To decide, send:")
    assert lines[first + 1].strip().startswith("diagnosis.mrd.status")
    assert "closest pathways: I.A.4.a, I.A.4.c.iii" in lines[first + 1]
    assert first < lines.index("Every criterion not met or missing, all pathways:")
    assert "I.A.4.e: missing" not in out  # not among the open pathways


# -- 5. review --html into a folder that does not exist ---------------------------------------

def test_review_html_into_a_missing_folder_is_a_one_line_error(tmp_path):
    result = run("review", "--html", tmp_path / "no" / "such" / "review.html", "--no-witnesses", "--no-lint")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --html: no folder") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.output


# -- 7. query: --bind, error positions, updates ------------------------------------------------

def test_query_bind_of_a_variable_the_query_lacks_is_an_error():
    result = run("query", "tkis", "--bind", "nope=kb:imatinib")
    assert result.exit_code == 1
    assert result.stderr == "error: --bind: the query has no variable ?nope\n"
    assert run("query", "tkis", "--bind", "agent=kb:imatinib").exit_code == 0


def test_sparql_error_positions_are_in_the_users_text():
    text = "SELECT ?x WHERE {\n  ?x a bx:Drug .\n  FILTER( }"  # line 3, after the prefixes the tool adds
    result = run("query", text)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: SPARQL syntax error at line 3, column ")


@pytest.mark.parametrize("update", ["DELETE WHERE { ?s ?p ?o }", "PREFIX x: <urn:x:> INSERT DATA { x:a x:b x:c }",
                                    "# a comment first\nDROP ALL", "CLEAR DEFAULT"])
def test_an_update_is_refused_as_an_update(update):
    result = run("query", update)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: updates are refused")


def test_a_saved_query_file_holding_an_update_is_refused(tmp_path):
    path = tmp_path / "wipe.rq"
    path.write_text("DELETE { ?s ?p ?o } WHERE { ?s ?p ?o }")
    result = run("query", path)
    assert result.exit_code == 1 and result.stderr.startswith("error: updates are refused")


# -- 8. units names its options ------------------------------------------------------------------

def test_units_without_the_figures_names_the_options():
    path = EXAMPLES / "approve-initial-mrd-positive-pediatric-medicaid.json"
    no_units = run("units", path)
    assert no_units.exit_code == 2 and no_units.stderr.startswith("error: --units-billed: required")
    no_cycle = run("units", path, "--units-billed", "400")
    assert no_cycle.exit_code == 2 and no_cycle.stderr.startswith("error: --cycle: required")
    negative = run("units", path, "--units-billed", "-1", "--cycle", "1")
    assert negative.exit_code == 2 and "--units-billed" in negative.output


# -- 9. impact --requests STORE and bad lines -----------------------------------------------------

def test_impact_over_a_store_lists_request_ids_once_each(tmp_path):
    store = tmp_path / "store"
    case = json.loads((CASES / "IA5a-dose-28-weight-45kg-fixed-dose-approve.json").read_text())["request"]
    path = tmp_path / "request.json"
    path.write_text(json.dumps(case))
    for _ in range(2):  # the same request checked twice
        assert run("check", path, "--store", store, "--format", "json").exit_code == 0
    result = run("impact", "2024-08", "draft-2025", "--requests", store)
    assert result.exit_code == 0, result.output
    assert "1 request evaluated" in result.stdout and "1 decision changes" in result.stdout
    assert f"  {case['id']}: approve -> needs-info" in result.stdout
    assert "urn:blincyto:determination" not in result.stdout


def test_impact_over_a_store_reads_the_latest_determination(tmp_path):
    store = tmp_path / "store"
    request = json.loads((EXAMPLES / "needs-info-continuation-missing-response-commercial.json").read_text())
    path = tmp_path / "request.json"
    path.write_text(json.dumps(request))
    assert run("check", path, "--store", store).exit_code == 0
    request["continuation"]["responding"] = False  # sent later: the latest determination is a deny
    path.write_text(json.dumps(request))
    assert run("check", path, "--store", store).exit_code == 0
    data = json.loads(run("impact", "2024-08", "draft-2025", "--requests", store, "--format", "json").stdout)
    assert data["evaluated"] == 1 and data["errors"] == {}
    from reasoner.authoring.diff import load_requests

    [(source, back, _)] = load_requests(store)
    assert source == request["id"] and back["continuation"]["responding"] is False


def test_impact_reports_a_non_json_line_and_goes_on(tmp_path):
    good = json.loads((CASES / "IA5a-dose-28-weight-45kg-fixed-dose-approve.json").read_text())["request"]
    lines = tmp_path / "requests.jsonl"
    lines.write_text(json.dumps(good) + "\n{not json, member: 1969-01-01\n" + json.dumps({**good, "id": "b"}) + "\n")
    result = run("impact", "2024-08", "draft-2025", "--requests", lines)
    assert result.exit_code == 1, result.output  # as batch: went on, and says some were left out
    assert "2 requests evaluated" in result.stdout and "1 request not evaluated" in result.stdout
    assert "requests.jsonl:2: not evaluated: (request): line 2 is not JSON" in result.stdout
    assert "1969" not in result.output  # the line is named, never quoted


# -- 10. witnesses are deterministic -------------------------------------------------------------

def test_the_same_version_gives_the_same_witnesses_in_every_process():
    """Hash seeds change the graphs' iteration order between processes; the witnesses must not change.
    This process and one with another hash seed search for them (this one never reads a kept result:
    `refresh`; that one, the command, parses the version's Turtle itself and keeps nothing)."""
    argv = ["witnesses", "--version", "draft-2025", "--request-date", "2026-11-01", "--format", "json"]
    found = find_witnesses(reasoner.Reasoner(version="draft-2025"), date(2026, 11, 1), refresh=True)
    here_json = json.dumps([asdict(w) for w in found], default=str)  # as the command writes it
    seed = "2" if os.environ.get("PYTHONHASHSEED") == "1" else "1"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": seed, "BLINCYTO_CACHE": "0"}
    there = subprocess.run([sys.executable, "-m", "reasoner.cli", *argv], capture_output=True, text=True,
                           env=env, timeout=300)
    assert there.returncode == 0, there.stderr
    strip = [[{k: v for k, v in w.items() if k != "evaluations"} for w in json.loads(out)]
             for out in (here_json, there.stdout)]
    assert strip[0] == strip[1]


# -- 11. plurals, --format and option errors -------------------------------------------------------

def test_counts_of_one_are_singular(tmp_path):
    case = CASES / "IA5a-dose-28-weight-45kg-fixed-dose-approve.json"
    out = run("impact", "2024-08", "draft-2025", "--requests", case).stdout
    assert "1 request evaluated" in out and "1 decision changes" in out
    assert "1 requests" not in out and "1 decisions" not in out
    plan = run("schedule", EXAMPLES / "approve-initial-ph-negative-consolidation-commercial.json").stdout
    assert "at most 1 cycle " in plan and "1 cycles" not in plan, plan  # the Ph-negative consolidation row
    assert "1 row\n" in run("query", "tkis", "--bind", "agent=kb:imatinib").stdout


@pytest.mark.parametrize("argv", [
    ["check", "examples/refer-initial-t-all-him.json"],
    ["schedule", "examples/refer-initial-t-all-him.json"],
    ["query", "tkis"],
    ["diff", "2024-08", "draft-2025"],
    ["witnesses"],
])
def test_an_unknown_format_is_answered_by_the_command(argv):
    result = run(*[ROOT / a if a.startswith("examples/") else a for a in argv], "--format", "xml2")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: --format: 'xml2' is not a choice of `")
    assert "use " in result.stderr and "Value error" not in result.output and "Input should" not in result.output


@pytest.mark.parametrize("command", [["witnesses"], ["review", "--no-witnesses", "--no-lint"]])
def test_a_bad_request_date_names_the_option(command):
    result = run(*command, "--request-date", "2026-13-01")
    assert result.exit_code == 2
    assert result.stderr == "error: --request-date: not a calendar date (YYYY-MM-DD)\n"
