"""The `blincyto` command line: every example in every format, invalid input, standard input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rdflib import Dataset, URIRef
from rdflib.namespace import PROV, RDF, SH

from typer_runner import Runner

from reasoner.cli import app

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))
BX = "https://w3id.org/blincyto-pa/ontology#"
DECISIONS = ("approve", "needs-info", "refer", "deny")

runner = Runner()  # typer's CliRunner, the click command made once


def expected(path: Path) -> tuple[str, str]:
    """Decision and request type, from the example's name: <decision>-<initial|continuation>-..."""
    name = path.stem
    decision = next(d for d in DECISIONS if name.startswith(d + "-"))
    request_type = name[len(decision) + 1:].split("-")[0]
    return decision, request_type


def run(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input)


def plain_env() -> dict[str, str]:
    """The environment of a piped run: nothing that forces colour on."""
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE", "CLICOLOR_FORCE")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def run_process(*args: str, input: bytes | None = None, cwd: Path | None = None):
    return subprocess.run(
        [sys.executable, "-m", "reasoner.cli", *args],
        input=input, capture_output=True, cwd=cwd or ROOT, env=plain_env(), timeout=300,
    )


def test_examples_cover_every_decision_request_type_and_line_of_business():
    assert len(EXAMPLES) >= 8
    seen = {expected(p) for p in EXAMPLES}
    assert {d for d, _ in seen} == set(DECISIONS)
    assert {t for _, t in seen} == {"initial", "continuation"}
    lines = {(json.loads(p.read_text())["request_type"], json.loads(p.read_text())["line_of_business"]) for p in EXAMPLES}
    for request_type in ("initial", "continuation"):
        assert {lob for t, lob in lines if t == request_type} == {"commercial", "HIM", "medicaid"}
    readme = (ROOT / "examples" / "README.md").read_text()
    for path in EXAMPLES:
        assert path.name in readme, f"examples/README.md does not describe {path.name}"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_json_format(path):
    result = run("check", str(path), "--format", "json")
    assert result.exit_code == 0, result.stderr
    det = json.loads(result.stdout)
    decision, request_type = expected(path)
    assert det["id"] == json.loads(path.read_text())["id"]
    assert det["decision"] == decision, json.dumps(det, indent=2)
    assert det["request_type"] == request_type
    if decision == "approve":
        assert det["approval_months"] in (6, 12)
        assert det["pathways"] and not det["failed"]
    else:
        assert det["approval_months"] is None
        assert det["failed"]
    assert (det["referral"] is not None) == (decision == "refer")


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_text_format(path):
    result = run("check", str(path))  # text is the default
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    decision, _ = expected(path)
    assert f"Decision: {decision.upper()}" in out
    assert "\x1b[" not in out  # no ANSI codes when not on a terminal
    det = json.loads(run("check", str(path), "--format", "json").stdout)
    if det["approval_months"]:
        assert f"Approval period: {det['approval_months']} months" in out
    for pathway in det["pathways"]:
        assert pathway in out
    for item in det["failed"]:
        assert item["criterion"] in out
        assert item["message"] in out
    if det["referral"]:
        assert det["referral"]["policy"] in out
    for warning in det["warnings"]:
        assert warning["message"] in out
    assert "Derived facts:" in out


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_ttl_format(path):
    result = run("check", str(path), "--format", "ttl")
    assert result.exit_code == 0, result.stderr
    ds = Dataset()
    ds.parse(data=result.stdout, format="trig")
    activities = list(ds.default_graph.subjects(RDF.type, PROV.Activity))
    assert len(activities) == 1
    activity = activities[0]
    assert str(activity).startswith("urn:blincyto:determination:")
    assert ds.default_graph.value(activity, PROV.startedAtTime) is not None
    assert ds.default_graph.value(activity, PROV.endedAtTime) is not None
    agent = ds.default_graph.value(activity, PROV.wasAssociatedWith)
    assert (agent, RDF.type, PROV.SoftwareAgent) in ds.default_graph
    result_node = ds.default_graph.value(activity, PROV.generated)
    assert (result_node, RDF.type, URIRef(BX + "Determination")) in ds.default_graph
    decision, _ = expected(path)
    assert str(ds.default_graph.value(result_node, URIRef(BX + "decision"))) == decision
    report = ds.default_graph.value(result_node, URIRef(BX + "validationReport"))
    named = [g for g in ds.graphs() if g.identifier != ds.default_graph.identifier]
    assert any((report, RDF.type, SH.ValidationReport) in g for g in named)
    request_iri = next(o for o in ds.default_graph.objects(activity, PROV.used) if str(o).startswith("urn:blincyto:request:"))
    assert any((request_iri, None, None) in g for g in named)


def test_invalid_input_exit_2_field_on_stderr_nothing_on_stdout(tmp_path):
    request = json.loads(EXAMPLES[0].read_text())
    request["member"]["birth_date"] = "2099-01-01"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(request))
    for fmt in ("text", "json", "ttl"):
        result = run("check", str(bad), "--format", fmt)
        assert result.exit_code == 2
        assert result.stdout == ""
        assert result.stderr.startswith("error: member.birth_date: ")
        assert "2099" not in result.stderr


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ("{not json", "(request)"),
        ("[1, 2]", "(request)"),
        ("", "(request)"),
        (json.dumps({"id": "x"}), "request_type"),
    ],
)
def test_invalid_input_cases(tmp_path, content, field):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    result = run("check", str(bad), "--format", "json")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {field}: ")


def test_missing_file_is_exit_2(tmp_path):
    result = run("check", str(tmp_path / "nope.json"))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: (request): cannot read")


def test_unknown_format_is_a_usage_error():
    result = run("check", str(EXAMPLES[0]), "--format", "xml")
    assert result.exit_code == 2
    assert result.stdout == ""


def test_stdin_dash():
    text = EXAMPLES[0].read_text()
    result = run("check", "-", "--format", "json", input=text)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["id"] == json.loads(text)["id"]


def test_version_command():
    result = run("version")
    assert result.exit_code == 0
    assert result.stdout.startswith("blincyto-reasoner ")


def test_real_process_stdin_pipe_and_exit_codes(tmp_path):
    """Outside the test runner: real pipes, real exit status, run from another folder."""
    example = next(p for p in EXAMPLES if p.name.startswith("approve-"))
    ok = run_process("check", "-", "--format", "json", input=example.read_bytes(), cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr.decode()
    assert json.loads(ok.stdout)["decision"] == "approve"

    text = run_process("check", str(example), cwd=tmp_path)
    assert text.returncode == 0, text.stderr.decode()
    assert b"Decision: APPROVE" in text.stdout
    assert b"\x1b[" not in text.stdout

    bad = run_process("check", "-", input=b'{"id": "x", "request_type": "initial"}', cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stdout == b""
    assert bad.stderr.decode().startswith("error: request_date: ")
