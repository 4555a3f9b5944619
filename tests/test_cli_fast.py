"""The fast start of `blincyto check` (issue 16, item 2) and the Typer command agree.

`reasoner.cli.app` answers `check` without importing typer when `reasoner.cli.check.parse` takes its
arguments; both ways read one options table and run the same `run`. Held here: the Typer command is
made from the table (every option, flag, metavar, help, default); `parse` takes what the Typer
command reads the same way and leaves the rest to typer; on every option and every error, both ways
print the same output and exit with the same status; a real `check` imports none of typer, click,
pydantic or rich; the plain text is what rich writes when its output is not a terminal.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from processes import checkout_copy

from typer_runner import Runner

import reasoner.cli
from reasoner.cli import app
from reasoner.cli.check import ARGUMENT, OPTIONS, Format, InputKind, parse, plain_output
from reasoner.cli.render import render_parts, render_text

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))
BUNDLES = sorted((ROOT / "examples" / "fhir").glob("*.bundle.json"))
EX = str(EXAMPLES[0])
ENTRY = "import sys; from reasoner.cli import app; sys.argv[0] = 'blincyto'; sys.exit(app())"
TYPER_ENTRY = "import sys; from reasoner.cli.commands import app; sys.argv[0] = 'blincyto'; sys.exit(app())"
runner = Runner()  # typer's CliRunner, the click command made once


def typer_command():
    import typer.main

    return typer.main.get_command(reasoner.cli.commands.app).commands["check"]  # type: ignore[attr-defined]


def test_the_typer_command_is_made_from_the_options_table():
    params = {p.name: p for p in typer_command().params}
    assert list(params) == [ARGUMENT.name, *(o.name for o in OPTIONS)]
    assert params["request"].metavar == ARGUMENT.metavar and params["request"].required
    for opt in OPTIONS:
        p = params[opt.name]
        assert tuple(p.opts) == opt.flags and p.metavar == opt.metavar and p.help == opt.help
        assert p.default == opt.default and not p.required


def test_the_defaults_are_the_typer_commands():
    assert parse([EX]) == {"request": EX, "format": Format.text, "store": None, "input": InputKind.auto}


@pytest.mark.parametrize("args, expected", [
    ([EX, "--format", "json"], {"format": Format.json}),
    (["--format=json", EX], {"format": Format.json}),
    (["-f", "ttl", EX, "-i", "contract"], {"format": Format.ttl, "input": InputKind.contract}),
    ([EX, "--input=fhir", "--store", "dir"], {"input": InputKind.fhir, "store": "dir"}),
    (["-", "--store=http://localhost:1/update"], {"request": "-", "store": "http://localhost:1/update"}),
    (["--store", "", EX], {"store": ""}),
])
def test_parse_takes_what_typer_reads_the_same_way(args, expected):
    parsed = parse(args)
    assert parsed is not None
    assert {k: parsed[k] for k in expected} == expected


@pytest.mark.parametrize("args", [
    [], ["--help"], [EX, "--help"], ["-h"], [EX, EX], ["--", EX], [EX, "--format"], [EX, "--format", "xml"],
    [EX, "--format=XML"], [EX, "-fjson"], [EX, "--format", "json", "--format", "text"], [EX, "--bogus"],
    [EX, "--store", "-"], [EX, "--store", "--format"], [EX, "--form", "json"], [EX, "-x", "json"],
    [EX, "--input", "bundle"],
])
def test_parse_leaves_anything_else_to_typer(args):
    assert parse(args) is None


def _fast(args: list[str], monkeypatch, capsys) -> tuple[str, str, int]:
    monkeypatch.setattr(sys, "argv", ["blincyto", "check", *args])
    assert parse(args) is not None  # this way really is the fast start
    with pytest.raises(SystemExit) as done:
        app()
    import gc

    assert gc.isenabled()  # the fast start collects nothing while it runs, then leaves the collector as it was
    gc.unfreeze()
    out, err = capsys.readouterr()
    return out, err, done.value.code


def _typer(args: list[str]) -> tuple[str, str, int]:
    result = runner.invoke(app, ["check", *args])
    return result.stdout, result.stderr, result.exit_code


_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")
_BLANK = re.compile(r"(_:|urn:uuid:|urn:blincyto:determination:)[0-9A-Za-z_-]+")


def _same(text: str) -> list[str]:
    """Times and fresh identifiers differ from run to run, whatever the way in (and so does the order
    of the TriG's blank nodes, written sorted by their labels)."""
    return sorted(_BLANK.sub(r"\1*", _STAMP.sub("*", text)).splitlines())


CASES = [([str(p), "-f", f], 0) for p in EXAMPLES for f in ("text", "json")] + [
    ([str(EXAMPLES[1]), "--format", "ttl"], 0),
    ([str(EXAMPLES[2]), "--format=fhir"], 0),
    ([str(BUNDLES[0]), "-i", "fhir"], 0),
    ([str(BUNDLES[1])], 0),
    ([str(BUNDLES[1]), "--input", "contract"], 2),  # a Bundle is not a contract request
    ([str(EXAMPLES[3]), "--input", "fhir", "-f", "fhir"], 2),  # nor a contract request a Bundle
]


@pytest.mark.parametrize("args, code", CASES, ids=lambda a: " ".join(Path(x).name for x in a) if isinstance(a, list) else "")
def test_both_ways_print_the_same_determination(args, code, monkeypatch, capsys):
    fast = _fast(args, monkeypatch, capsys)
    slow = _typer(args)
    assert fast[2] == slow[2] == code, (fast[1], slow[1])
    assert _same(fast[0]) == _same(slow[0]) and fast[1] == slow[1]


def _bad_requests(tmp: Path) -> list[list[str]]:
    (tmp / "empty.json").write_text("")
    (tmp / "list.json").write_text("[]")
    (tmp / "field.json").write_text(json.dumps({"id": "x", "request_type": "initial"}))
    (tmp / "big.json").write_bytes(b" " * (2 ** 21) + b"{}")
    (tmp / "dir").mkdir()
    return [[str(tmp / "empty.json")], [str(tmp / "list.json"), "-f", "json"], [str(tmp / "field.json")],
            [str(tmp / "field.json"), "-f", "fhir"], [str(tmp / "big.json")], [str(tmp / "nope.json")],
            [str(tmp / "dir")], [""], [str(tmp / "field.json"), "-i", "fhir"]]


def test_both_ways_word_every_invalid_request_alike(tmp_path, monkeypatch, capsys):
    for args in _bad_requests(tmp_path):
        fast = _fast(args, monkeypatch, capsys)
        slow = _typer(args)
        assert fast == slow, args
        assert fast[2] == 2 and fast[1].startswith("error: ") and fast[1].count("\n") == 1


def test_a_store_that_refuses_is_exit_1_both_ways(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a store")
    args = [EX, "--store", str(blocker / "sub")]
    fast = _fast(args, monkeypatch, capsys)
    assert fast == _typer(args) and fast[2] == 1 and fast[1].startswith("error: --store: ")


def test_a_store_directory_takes_the_determination_both_ways(tmp_path, monkeypatch, capsys):
    fast = _fast([EX, "-f", "json", "--store", str(tmp_path / "a")], monkeypatch, capsys)
    slow = _typer([EX, "-f", "json", "--store", str(tmp_path / "b")])
    assert fast == slow and fast[2] == 0
    from reasoner.sparql.store import open_store

    counts = []
    for name in ("a", "b"):
        with open_store(str(tmp_path / name), create=False) as store:
            counts.append(len(store.store))
    assert counts[0] == counts[1] > 0


def _process(entry: str, args: list[str], env: dict[str, str], cwd: Path, stdin: bytes | None = None):
    return subprocess.run([sys.executable, "-c", entry, *args], input=stdin, capture_output=True, env=env,
                          cwd=cwd, timeout=300)


def _env(path: Path = ROOT) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    env["PYTHONPATH"] = str(path)
    return env


@pytest.mark.parametrize("args", [
    ["check", "--format", "xml2", EX], ["check"], ["check", EX, EX], ["check", "--help"], ["check", EX, "-fjson"],
    ["check", "-", "-f", "json"], ["check", "-"],
])
def test_real_processes_agree_on_every_way_in(args, tmp_path):
    stdin = Path(EX).read_bytes()
    fast = _process(ENTRY, args, _env(), tmp_path, stdin)
    slow = _process(TYPER_ENTRY, args, _env(), tmp_path, stdin)
    assert (fast.returncode, fast.stdout, fast.stderr) == (slow.returncode, slow.stdout, slow.stderr)


def test_a_real_check_imports_no_command_line_library(tmp_path):
    probe = ("import sys; from reasoner.cli import app; sys.argv = ['blincyto', 'check', *sys.argv[1:]]\n"
             "try:\n    app()\nexcept SystemExit as done:\n"
             "    sys.stderr.write(repr((done.code, sorted({m.split('.')[0] for m in sys.modules} & "
             "{'typer', 'click', 'pydantic', 'rich', 'jsonschema'}))))\n")
    for args, starts in (([EX], b"Request "), (["-f", "json", EX], b"{")):
        done = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, env=_env(), cwd=tmp_path,
                              timeout=300)
        assert done.stderr.decode() == "(0, [])", done.stderr.decode()[-400:]
        assert done.stdout.startswith(starts)


def test_a_broken_policy_exits_3_with_one_line_both_ways(tmp_path):
    copy = checkout_copy(tmp_path)
    initial = copy / "shapes" / "initial.ttl"
    text = initial.read_text(encoding="utf-8")
    initial.write_text(text.replace("sh:path ( bx:member bx:ageInMonths )", "sh:path ( bx:member bx:ageInMonth )"),
                       encoding="utf-8")
    env = {**_env(copy), "BLINCYTO_CACHE_DIR": str(tmp_path / "cache")}
    fast = _process(ENTRY, ["check", EX], env, tmp_path)
    slow = _process(TYPER_ENTRY, ["check", EX], env, tmp_path)
    assert fast.returncode == slow.returncode == 3
    assert fast.stdout == slow.stdout == b"" and fast.stderr == slow.stderr
    assert len(fast.stderr.decode().strip().splitlines()) == 1 and b"shp:I.A.3" in fast.stderr


# -- the text: plain is what rich writes where it is not writing to a terminal ----------------------

HOSTILE = ["x\x1b[2K\r\nDecision: APPROVE", "\u202eEVORPPA", "tab\there", "é 😀 中文", "  trailing  ", ""]


def _rich(parts, **console) -> str:
    from rich.console import Console

    buffer = io.StringIO()
    Console(file=buffer, highlight=False, soft_wrap=True, **console).print(render_text_of(parts), end="")
    return buffer.getvalue()


def render_text_of(parts):
    from rich.text import Text

    out = Text()
    for text, style in parts:
        out.append(text, style=style)
    return out


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_plain_text_is_what_rich_writes_to_a_file(path, monkeypatch):
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE"):
        monkeypatch.delenv(name, raising=False)
    from reasoner.flow.engine import default_reasoner

    det = default_reasoner().evaluate(json.loads(path.read_text()))
    for request_id in HOSTILE:
        parts = render_parts({**det, "id": request_id}, lambda number: "a policy sentence, " * 20)
        assert plain_output(io.StringIO())
        assert parts.plain == _rich(parts) == render_text({**det, "id": request_id},
                                                            lambda number: "a policy sentence, " * 20).plain


@pytest.mark.parametrize("env, plain", [({}, True), ({"FORCE_COLOR": "1"}, False), ({"FORCE_COLOR": ""}, True),
                                        ({"TTY_COMPATIBLE": "1"}, False), ({"TTY_COMPATIBLE": "0", "FORCE_COLOR": "1"}, True)])
def test_plain_where_rich_sees_no_terminal(env, plain, monkeypatch):
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    from rich.console import Console

    assert plain_output(io.StringIO()) is plain is not Console(file=io.StringIO()).is_terminal


def test_colour_where_forced_is_rich_styled_both_ways(monkeypatch, capsys):
    monkeypatch.setenv("FORCE_COLOR", "1")
    fast = _fast([EX], monkeypatch, capsys)
    slow = _typer([EX])
    assert fast == slow and "\x1b[" in fast[0]
