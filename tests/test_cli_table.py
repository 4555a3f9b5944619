"""The fast start of every command (issue 16, item 2) reads the command's table as typer does.

Every command's parameters are one table (`COMMANDS` of its module, reasoner/cli/table.py); the
Typer command is made from it (reasoner/cli/typed.py) and the fast start reads it with the standard
library (`reasoner.cli.table.parse`), leaving to typer anything it might read otherwise. Held here:

- every Typer command has a table, and is made from it (flags, metavar, help, default, range);
- whatever arguments the fast start takes, typer passes the same values to the same run function
  (the documented invocations, and hypothesis over spellings: flags, `--flag=value`, numbers typer
  coerces, values that look like options, repeats, `--`, `--help`, unknown options);
- both ways print the same standard output and error and exit with the same status, over the
  documented invocations and bad ones (in-process; a few in real processes);
- a real `schedule`, `units`, `query --list` or `batch` imports none of typer, click or pydantic.

(`check`'s own differential is tests/test_cli_fast.py.)
"""

from __future__ import annotations

import gc
import json
import re
import subprocess
import sys
from importlib import import_module
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from typer_runner import Runner

import reasoner.cli
import reasoner.cli.typed
from reasoner.cli import _TABLES, app
from reasoner.cli.commands import app as typer_app
from reasoner.cli.table import TYPES, Command, parse

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
MRD = str(EXAMPLES / "approve-initial-mrd-positive-pediatric-medicaid.json")
T_ALL = str(EXAMPLES / "refer-initial-t-all-him.json")
CONT = str(EXAMPLES / "approve-continuation-medicaid.json")
COMMANDS: list[Command] = [c for m in dict.fromkeys(_TABLES.values())
                           for c in import_module(f"reasoner.cli.{m}").COMMANDS]
runner = Runner()  # typer's CliRunner, the click command made once


def _name(command: Command) -> str:
    return " ".join(command.words)


def _click_command(words: tuple[str, ...]):
    import typer.main

    command = typer.main.get_command(typer_app)
    for word in words:
        command = command.commands[word]  # type: ignore[attr-defined]
    return command


def _commands_of(group, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    found: set[tuple[str, ...]] = set()
    for name, sub in group.commands.items():
        found |= _commands_of(sub, prefix + (name,)) if hasattr(sub, "commands") else {prefix + (name,)}
    return found


def test_every_typer_command_has_a_table_and_every_first_word_its_module():
    import typer.main

    assert _commands_of(typer.main.get_command(typer_app)) == {c.words for c in COMMANDS}
    assert {c.words[0] for c in COMMANDS} == set(_TABLES)


@pytest.mark.parametrize("command", COMMANDS, ids=_name)
def test_the_typer_command_is_made_from_the_table(command):
    click_command = _click_command(command.words)
    params = {p.name: p for p in click_command.params if p.name != "help"}
    assert list(params) == [p.name for p in command.params]
    assert (click_command.help or "").startswith(command.help.split("\n")[0])
    for p in command.params:
        made = params[p.name]
        assert made.required is p.required and made.help == p.help, p.name
        assert (made.metavar == p.metavar) if p.metavar else True, p.name
        if p.is_argument:
            assert made.param_type_name == "argument"
            continue
        assert tuple(made.opts) == p.flags and tuple(made.secondary_opts) == ((p.off,) if p.off else ()), p.name
        assert bool(made.multiple) is p.multiple, p.name
        if not p.required and not p.multiple:
            default = made.default.value if hasattr(made.default, "value") else made.default
            assert default == p.default, p.name
        assert (made.min, made.max) == (p.min, p.max), p.name
        kind = p.choices if p.choices is not None and not p.checked else str if p.choices is not None else TYPES[p.type]
        assert _bare(made.type_descriptor.annotation) is kind, p.name


def _bare(annotation):
    """int from Optional[int] or list[int]."""
    import typing

    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return _bare(args[0]) if args else annotation


def typer_reads(command: Command, args: list[str], monkeypatch) -> tuple[int, dict | None]:
    """What the Typer command passes to the run function for these arguments (nothing is run)."""
    got: list[dict] = []
    monkeypatch.setattr(reasoner.cli.typed, "call", lambda cmd, arguments: got.append((cmd, arguments)))
    result = runner.invoke(typer_app, [*command.words, *args])
    assert len(got) <= 1
    if got:
        assert got[0][0] is command
    return result.exit_code, (got[0][1] if got else None)


def _same_values(fast: dict, slow: dict) -> bool:
    return fast == slow and all(type(fast[k]) is type(slow[k]) for k in fast)  # True is not 1, Path is not str


def _command(*words: str) -> Command:
    return next(c for c in COMMANDS if c.words == words)


# The invocations of the documentation pages and the tests (their spellings), each taken by the fast start.
DOCUMENTED = [
    ("schedule", MRD), ("schedule", T_ALL), ("schedule", MRD, "--format", "json"), ("schedule", "-", "-f", "json"),
    ("units", MRD, "--units-billed", "400", "--cycle", "2"), ("units", CONT, "--units-billed=10", "--cycle=1", "-f", "json"),
    ("batch", "examples", "-o", "determinations.csv", "--format", "csv"), ("batch", "requests.jsonl", "-o", "out.jsonl", "--workers", "1"),
    ("batch", "examples", "-o", "determinations.nq", "--format", "nq", "--store", "history"),
    ("batch", "-", "-o", "out.jsonl", "--resume"), ("batch", "bundles.ndjson", "-o", "responses.ndjson", "--format", "fhir"),
    ("store", "init", "store/"), ("store", "init", "http://127.0.0.1:7879/update"), ("store", "info", "demo"),
    ("query", "--list"), ("query", "tkis"), ("query", "section-v", "--bind", "indication=kb:indication-mrd-positive", "--format", "csv"),
    ("query", "referral", "--bind", "lineOfBusiness=kb:LOB-medicaid", "-b", "formularyStatus=kb:Formulary-formulary", "--format", "csv"),
    ("query", "waiting-for-information", "--store", "http://127.0.0.1:7879/query", "--format", "csv"),
    ("query", "SELECT * { ?s ?p ?o } LIMIT 1", "--allow-service", "http://a.example/sparql"),
    ("serve", "demo"), ("serve", "store/", "--port", "17871", "--timeout", "10", "--max-rows", "20000", "--max-result-mb", "16"),
    ("serve-fhir", "--store", "claims", "--tokens", "tokens.json", "--port", "8080", "--allow-host", "proxy", "--workers", "2"),
    ("review", "--version", "draft-2025", "--compare", "2024-08", "--html", "review.html"),
    ("review", "--no-lint", "--no-witnesses", "--no-hermit", "--shacl-shacl", "--request-date", "2026-11-01"),
    ("lint",), ("lint", "--version", "draft-2025"), ("lint", "--no-hermit", "--no-shacl-shacl", "--versions-dir", "v"),
    ("witnesses", "--version", "draft-2025", "--request-date", "2026-11-01"), ("witnesses", "--format", "json"),
    ("diff", "git:HEAD", "current"), ("diff", "2024-08", "draft-2025", "--format", "json"),
    ("impact", "2024-08", "draft-2025", "--requests", "past"), ("impact", "a", "b", "--requests=r", "--format=json"),
    ("check", MRD), ("version",),
]


def _split(argv: tuple[str, ...]) -> tuple[Command, list[str]]:
    for command in COMMANDS:
        if argv[:len(command.words)] == command.words:
            return command, list(argv[len(command.words):])
    raise AssertionError(argv)


@pytest.mark.parametrize("argv", DOCUMENTED, ids=" ".join)
def test_the_fast_start_takes_every_documented_invocation_as_typer_reads_it(argv, monkeypatch):
    command, args = _split(argv)
    fast = parse(command, args)
    assert fast is not None, argv
    code, slow = typer_reads(command, args, monkeypatch)
    assert code == 0 and slow is not None and _same_values(fast, slow), (fast, slow)


LEFT_TO_TYPER = [
    ("units", MRD, "--units-billed", "-1"), ("units", MRD, "--units-billed", "+1"), ("units", MRD, "--cycle", "0"),
    ("units", MRD, "--cycle", "01"), ("units", MRD, "--cycle", " 2"), ("units", MRD, "--cycle", "1_0"),
    ("units", MRD, "--cycle", "1.0"), ("units", MRD, "--units-billed"), ("units",), ("units", MRD, MRD),
    ("schedule", MRD, "--format", "xml"), ("schedule", MRD, "-fjson"), ("schedule", MRD, "--help"), ("schedule", "--", MRD),
    ("batch", "examples"), ("batch", "examples", "-o", "x", "--resume=yes"), ("batch", "examples", "-o", "x", "-f", "JSONL"),
    ("batch", "examples", "-o", "x", "-o", "y"), ("batch", "examples", "-o", "-"), ("batch", "examples", "-o", "x", "-w", "0"),
    ("store",), ("store", "init"), ("store", "info", ""), ("store", "drop", "x"), ("store", "--help"),
    ("query", "tkis", "--format", "xml2"), ("query", "tkis", "--bind"), ("query", "tkis", "--lst"),
    ("serve", "demo", "--port", "65536"), ("serve", "demo", "--timeout", "0.05"), ("serve", "demo", "--timeout", "1e1"),
    ("serve", "demo", "--timeout", "nan"), ("serve",), ("serve-fhir", "--max-body-mb", "257"),
    ("review", "--lint", "--no-lint"), ("review", "--no-witnesses", "--no-witnesses"), ("review", "--html", ""),
    ("lint", "--hermit=no"), ("witnesses", "--format", "yaml"), ("diff", "2024-08"), ("diff", "a", "b", "c"),
    ("diff", "-1", "b"), ("impact", "a", "b"), ("impact", "a", "b", "--requests", ""),
]


@pytest.mark.parametrize("argv", LEFT_TO_TYPER, ids=" ".join)
def test_the_fast_start_leaves_everything_else_to_typer(argv):
    command = next((c for c in COMMANDS if argv[:len(c.words)] == c.words), None)
    if command is None:  # not a command's words at all (`store`, `store drop`): typer answers
        assert argv[0] in _TABLES
        return
    assert parse(command, list(argv[len(command.words):])) is None


# -- hypothesis: any spelling the fast start takes, typer reads the same way --------------------------

_NUMBERS = ["0", "1", "2", "7", "64", "256", "257", "65535", "65536", "100000", "-1", "+1", "01", " 2", "2 ", "1_0",
            "1e3", "1.5", "0.1", "0.05", "10.0", "1.", ".5", "nan", "inf", "\u0663", ""]
_TEXTS = ["x", "a=b", "kb:LOB-medicaid", "-", "--", "", "=", "store/", "http://127.0.0.1:1/update", "é", "-x", "--format"]


_GOOD = {"int": ["0", "1", "2", "7", "64", "100000"], "float": ["0.1", "1", "2.5", "10", "30.0"],
         "str": ["x", "a=b", "kb:LOB-medicaid", "", "store/", "é", "http://127.0.0.1:1/update"],
         "path": ["x", "store/", "a b", "é.json"]}
_NOISE = [*_TEXTS, *_NUMBERS, "--help", "-h", "--bogus", "-fjson", "--format=json", "p", "--"]


def _good(p) -> list[str]:
    if p.choices is not None:
        return [c.value for c in p.choices]
    return _GOOD[p.type]


def _tricky(p) -> list[str]:
    """Values typer may read otherwise than the text says, or refuse."""
    if p.choices is not None:
        return [v for c in p.choices for v in (c.value.upper(), c.value[:-1], f" {c.value}")] + ["", "-"]
    return {"int": _NUMBERS, "float": _NUMBERS}.get(p.type, _TEXTS)


@st.composite
def _tokens(draw, command: Command) -> list[str]:
    """Mostly well-formed spellings (each option in any of its forms, the arguments anywhere among
    them), sometimes with a value or a token typer would refuse or read otherwise."""
    noisy = st.sampled_from(_NOISE)
    pieces: list[list[str]] = []
    for p in command.params:
        if p.is_argument:
            continue
        for _ in range(draw(st.integers(0, 2 if p.multiple else 1))):
            flag = draw(st.sampled_from([*p.flags, *((p.off,) if p.off else ())]))
            if p.type == "bool":
                pieces.append([flag] if draw(st.integers(0, 9)) else [f"{flag}={draw(noisy)}"])
                continue
            value = draw(st.sampled_from(_good(p) if draw(st.integers(0, 3)) else _tricky(p)))
            pieces.append([f"{flag}={value}"] if flag.startswith("--") and draw(st.booleans()) else [flag, value])
    pieces = list(draw(st.permutations(pieces))) if pieces else []
    arguments = [p for p in command.params if p.is_argument]
    required = sum(p.required for p in arguments)
    count = draw(st.integers(required, len(arguments))) if draw(st.integers(0, 4)) else \
        draw(st.integers(max(0, required - 1), len(arguments) + 1))
    for _ in range(count):
        value = draw(st.sampled_from(["examples", "a", "-", "git:HEAD", "2024-08"])) if draw(st.integers(0, 7)) \
            else draw(noisy)
        pieces.insert(draw(st.integers(0, len(pieces))), [value])
    if not draw(st.integers(0, 6)):
        pieces.insert(draw(st.integers(0, len(pieces))), [draw(noisy)])
    return [token for piece in pieces for token in piece]


@pytest.mark.parametrize("command", COMMANDS, ids=_name)
def test_any_spelling_the_fast_start_takes_typer_reads_the_same(command, monkeypatch):
    taken = []

    @settings(max_examples=120, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(args=_tokens(command))
    def same(args):
        fast = parse(command, args)
        if fast is None:
            return
        taken.append(args)
        code, slow = typer_reads(command, args, monkeypatch)
        assert code == 0 and slow is not None and _same_values(fast, slow), (args, fast, slow)

    same()
    assert len(taken) >= (10 if command.params else 1), taken  # the property is about something: many spellings are the fast start's


# -- both ways, the same output, errors and exit status --------------------------------------------

_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")
_FRESH = re.compile(r"(_:|urn:uuid:|urn:blincyto:determination:)[0-9A-Za-z_-]+")
_TIMES = re.compile(r"\d+(\.\d+)? ?(s|ms|requests/s)\b")


def _same(text: str) -> list[str]:
    return sorted(_TIMES.sub("*", _FRESH.sub(r"\1*", _STAMP.sub("*", text))).splitlines())


def _fast(argv: list[str], monkeypatch, capsys) -> tuple[str, str, int]:
    command, args = _split(tuple(argv))
    assert parse(command, args) is not None, argv  # this way really is the fast start
    monkeypatch.setattr(sys, "argv", ["blincyto", *argv])
    with pytest.raises(SystemExit) as done:
        app()
    gc.unfreeze()
    out, err = capsys.readouterr()
    return out.replace("\r\n", "\n"), err, done.value.code  # as click's test runner reads its output


def _typer(argv: list[str]) -> tuple[str, str, int]:
    result = runner.invoke(typer_app, argv)
    return result.stdout, result.stderr, result.exit_code


def _both(argv: list[str], monkeypatch, capsys) -> tuple[tuple, tuple]:
    return _fast(argv, monkeypatch, capsys), _typer(argv)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("cli-table")
    (tmp / "empty.json").write_text("")
    (tmp / "field.json").write_text(json.dumps({"id": "x", "request_type": "initial"}))
    (tmp / "requests.jsonl").write_text(Path(MRD).read_text().replace("\n", " ") + "\nnot json\n")
    (tmp / "blocker").write_text("a file")
    return {name: str(tmp / name) for name in ("empty.json", "field.json", "requests.jsonl", "blocker")} | {
        "dir": str(tmp)}


INVOCATIONS = [
    ["schedule", MRD], ["schedule", T_ALL], ["schedule", MRD, "-f", "json"], ["schedule", CONT, "--format=text"],
    ["units", MRD, "--units-billed", "400", "--cycle", "2"], ["units", CONT, "--units-billed", "0", "--cycle", "1", "-f", "json"],
    ["units", MRD, "--units-billed", "400"], ["units", MRD, "--cycle", "1"],
    ["query", "--list"], ["query", "tkis"], ["query", "section-v", "--bind", "indication=kb:indication-mrd-positive", "--format", "csv"],
    ["query", "referral", "--bind", "lineOfBusiness=kb:LOB-medicaid", "--bind", "formularyStatus=kb:Formulary-formulary", "-f", "json"],
    ["query", "tkis", "--bind", "nope"], ["query", "tkis", "--bind", "nosuchvariable=kb:x"], ["query"],
    ["query", "DELETE WHERE { ?s ?p ?o }"], ["query", "SELECT ?x WHERE { ?x a }"], ["query", "ASK { ?s ?p ?o }", "-f", "xml"],
    ["query", "SELECT * { SERVICE <http://a.example/sparql> { ?s ?p ?o } }"],
    ["query", "tkis", "--allow-service", "not a url"],
    ["diff", "nope", "2024-08"], ["impact", "nope", "2024-08", "--requests", MRD], ["lint", "--version", "nope"],
    ["witnesses", "--request-date", "2026-13-01"], ["review", "--request-date", "2026-02-30"],
    ["review", "--html", "/nonexistent-folder/review.html", "--no-lint", "--no-witnesses"],
    ["serve-fhir", "--host", "0.0.0.0"], ["serve-fhir", "--tokens", "/nonexistent/tokens.json"],
]


@pytest.mark.parametrize("argv", INVOCATIONS, ids=" ".join)
def test_both_ways_print_the_same(argv, monkeypatch, capsys):
    fast, slow = _both(argv, monkeypatch, capsys)
    assert fast[2] == slow[2], (fast, slow)
    assert _same(fast[0]) == _same(slow[0]) and fast[1] == slow[1], (fast, slow)


def test_both_ways_word_bad_requests_and_files_alike(files, monkeypatch, capsys):
    for argv in (["schedule", files["empty.json"]], ["schedule", files["field.json"], "-f", "json"],
                 ["units", files["field.json"], "--units-billed", "1", "--cycle", "1"], ["schedule", files["dir"] + "/nope.json"],
                 ["schedule", files["dir"]], ["store", "info", files["dir"] + "/nope"], ["store", "info", files["blocker"]],
                 ["store", "init", files["blocker"] + "/sub"], ["serve", files["dir"]],
                 ["batch", files["dir"] + "/nope.jsonl", "-o", files["dir"] + "/o.jsonl"],
                 ["batch", files["requests.jsonl"], "-o", files["requests.jsonl"]],
                 ["batch", "examples", "-o", "x", "--spark", "--store", "s"]):
        fast, slow = _both(argv, monkeypatch, capsys)
        assert fast == slow, argv
        assert fast[2] != 0 and fast[1].startswith(("error: ", "warning: ")), (argv, fast)


def test_a_store_and_a_batch_alike_both_ways(files, monkeypatch, capsys):
    base = Path(files["dir"])
    outputs = {}
    for way, run in (("fast", lambda a: _fast(a, monkeypatch, capsys)), ("typer", _typer)):
        store, out = base / f"store-{way}", base / f"out-{way}.csv"
        init = run(["store", "init", str(store)])
        batch = run(["batch", files["requests.jsonl"], "-o", str(out), "-f", "csv", "-w", "1", "--store", str(store)])
        info = run(["store", "info", str(store)])
        answer = run(["query", "waiting-for-information", "--store", str(store), "--format", "csv"])
        outputs[way] = [init[::2], (batch[0], _same(batch[1]), batch[2]), info, answer, _same(out.read_text())]
    assert outputs["fast"] == outputs["typer"]
    assert outputs["fast"][1][2] == 1  # the bad line is an error row: exit 1 both ways
    assert outputs["fast"][3][2] == 0 and len(outputs["fast"][4]) == 3  # a header and two rows


# -- real processes --------------------------------------------------------------------------------

ENTRY = "import sys; from reasoner.cli import app; sys.argv[0] = 'blincyto'; sys.exit(app())"
TYPER_ENTRY = "import sys; from reasoner.cli.commands import app; sys.argv[0] = 'blincyto'; sys.exit(app())"


def _env() -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    env["PYTHONPATH"] = str(ROOT)
    return env


@pytest.mark.parametrize("args", [
    ["units", MRD, "--units-billed", "-1"], ["schedule", "--help"], ["schedule", "-", "-f", "json"],
    ["units", MRD, "--units-billed", "400", "--cycle", "2"], ["schedule", MRD],
])
def test_real_processes_agree(args, tmp_path):
    stdin = Path(MRD).read_bytes()
    fast, slow = (subprocess.run([sys.executable, "-c", entry, *args], input=stdin, capture_output=True, env=_env(),
                                 cwd=tmp_path, timeout=300) for entry in (ENTRY, TYPER_ENTRY))
    assert (fast.returncode, fast.stdout, fast.stderr) == (slow.returncode, slow.stdout, slow.stderr)


def test_real_commands_import_no_command_line_library(tmp_path):
    (tmp_path / "one.jsonl").write_text(json.dumps(json.loads(Path(MRD).read_text())) + "\n")
    probe = ("import sys; from reasoner.cli import app; sys.argv = ['blincyto', *sys.argv[1:]]\n"
             "try:\n    app()\nexcept SystemExit as done:\n"
             "    sys.stderr.write(repr((done.code, sorted({m.split('.')[0] for m in sys.modules} & "
             "{'typer', 'click', 'pydantic', 'rich'}))))\n")
    for args, starts in ((["schedule", MRD, "-f", "json"], b"{"), (["units", MRD, "--units-billed", "400", "--cycle", "2"],
                         b"Request "), (["query", "--list"], b"approvals-by-pathway"),
                         (["batch", "one.jsonl", "-o", "o.jsonl", "-w", "1"], b"")):
        done = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, env=_env(), cwd=tmp_path,
                              timeout=300)
        assert done.stderr.decode().endswith("(0, [])"), (args, done.stderr.decode()[-400:])
        assert done.stdout.startswith(starts), (args, done.stdout[:200])


def test_the_types_the_table_names_are_the_ones_typer_is_given():
    assert {p.type for c in COMMANDS for p in c.params} == set(TYPES)
