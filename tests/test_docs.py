"""Every shell command the documentation shows runs here, so the documentation cannot go out of date.

The pages: README.md, docs/*.md, examples/README.md and benchmarks/README.md. From each, the fenced
blocks marked `sh`, `bash`, `shell` or `console` are run, in the page's order, in a fresh copy of
the checkout (the files git knows; outputs are written there, never into the checkout), with
`.venv/bin` first on PATH as after `source .venv/bin/activate`: `.venv/bin/blincyto`,
`.venv/bin/python` and plain `blincyto` / `python` run this checkout's copy with the interpreter
running the tests. The copy is a git repository of one commit, as a clone is, and sits beside a
`shared/` link to the checkout's `../shared` when there is one, as the project's folders are laid out. Blocks of any other kind (`text`, `json`, `sparql`,
`python`, or none) are not run.

- An `sh` / `bash` / `shell` block is one bash script (`set -eu`: as a reader's shell runs a pipe,
  `blincyto ... | head` is not a failure); it must exit 0.
- In a `console` block, a line starting with `$ ` is a command (the next lines belong to it while a
  quote is open or a line ends in a backslash); the lines after it are what it prints (standard
  output and standard error together). Those lines must be the command's output, line for line,
  trailing spaces aside, where `...` on a line of its own stands for any number of lines, and `...`
  inside a line for any text (a time stamp, a long sentence). Each command must exit 0.

Markers: an HTML comment on the line(s) just above a block's opening fence (invisible on the
rendered page) says something more about the block. One marker per comment:

    <!-- docs-test: skip REASON -->          not run; REASON is required (skips are listed by the test)
    <!-- docs-test: expect "TEXT" -->        the output must also contain TEXT (one or more "TEXT"s)
    <!-- docs-test: status N -->             the block (its last command) exits N instead of 0
    <!-- docs-test: requires PATH -->        run only when PATH (relative to the checkout) exists
    <!-- docs-test: server URL -->           the block's first command starts a server (written with a
                                             trailing `&`, as a reader runs it): it is started in the
                                             background and waited for until URL answers; the block's
                                             other commands then run against it; then it is stopped,
                                             and what it printed is checked like any command's output
    <!-- docs-test: timeout SECONDS -->      each command's time limit (default 300)

A block that checks nothing (an `sh` block without `expect`, a `console` block without output or
`expect`) is an error: each documented command has an exit status and a line to check. Keep skips
few: a command is skipped only when it cannot run here (it installs from the package index, it is
the test suite itself, it needs a remote store); the reason says what tests it instead.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "examples" / "README.md",
         ROOT / "benchmarks" / "README.md"]
RUN = {"sh", "bash", "shell", "console"}
MARKER = re.compile(r"^<!--\s*docs-test:\s*(\w[\w-]*)\s*(.*?)\s*-->$")
KEYS = {"skip", "expect", "status", "requires", "server", "timeout"}
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")
COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.egg-info", "build", "dist",
                                     ".pytest_cache", ".hypothesis", "*.pyc")
TIMEOUT_S = 300
SERVER_WAIT_S = 90


@dataclass
class Command:
    text: str
    output: list[str] = field(default_factory=list)


@dataclass
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    lang: str
    body: str
    markers: dict[str, list[str]]

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    def commands(self) -> list[Command]:
        if self.lang != "console":
            return [Command(self.body)]
        out: list[Command] = []
        pending: list[str] | None = None
        for line in self.body.splitlines():
            if pending is not None:
                pending.append(line)
                if not _open("\n".join(pending)):
                    out.append(Command("\n".join(pending)))
                    pending = None
            elif line.startswith("$ "):
                text = line[2:]
                if _open(text):
                    pending = [text]
                else:
                    out.append(Command(text))
            elif out:
                out[-1].output.append(line)
            elif line.strip():
                raise AssertionError(f"output before the first `$ ` command: {line!r}")
        if pending is not None:
            raise AssertionError(f"an unfinished command: {pending[0]!r}")
        return out

    @property
    def expect(self) -> list[str]:
        return [t for arg in self.markers.get("expect", []) for t in shlex.split(arg)]

    @property
    def status(self) -> int:
        return int(self.markers.get("status", ["0"])[-1])

    @property
    def timeout(self) -> float:
        return float(self.markers.get("timeout", [TIMEOUT_S])[-1])


def _open(text: str) -> bool:
    """True while a shell command continues on the next line: an open quote or a trailing backslash."""
    quote = None
    escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\" and quote != "'":
            escaped = True
        elif quote is None and ch in "'\"":
            quote = ch
        elif ch == quote:
            quote = None
    return quote is not None or text.rstrip().endswith("\\")


def blocks(page: Path) -> list[Block]:
    """The shell blocks of a page, with the markers above each."""
    lines = page.read_text(encoding="utf-8").splitlines()
    out: list[Block] = []
    i = 0
    while i < len(lines):
        found = FENCE.match(lines[i])
        if not found:
            i += 1
            continue
        indent, fence, lang = found.groups()
        start = i
        i += 1
        body = []
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i])
            i += 1
        i += 1
        if lang not in RUN:
            continue
        markers: dict[str, list[str]] = {}
        j = start - 1
        while j >= 0 and (m := MARKER.match(lines[j].strip())):
            key, arg = m.groups()
            assert key in KEYS, f"{page.relative_to(ROOT)}:{j + 1}: unknown docs-test marker {key!r}"
            markers.setdefault(key, []).insert(0, arg)
            j -= 1
        out.append(Block(page, start + 1, lang, "\n".join(body), markers))
    return out


def _pattern(expected: str) -> re.Pattern:
    return re.compile("^" + ".*".join(re.escape(part) for part in expected.split("...")) + "$")


def shown_output_matches(expected: list[str], actual: list[str]) -> str | None:
    """None when `expected` is `actual` line for line, `...` lines standing for any lines; else why not."""
    exp = [line.rstrip() for line in expected]
    while exp and not exp[-1]:
        exp.pop()
    act = [line.rstrip() for line in actual]

    def match(i: int, j: int) -> bool:
        if i == len(exp):
            return True  # what follows the excerpt is not shown
        if exp[i] == "...":
            return any(match(i + 1, k) for k in range(j, len(act) + 1))
        if j == len(act):
            return False
        line_ok = exp[i] == act[j] or ("..." in exp[i] and _pattern(exp[i]).match(act[j]) is not None)
        return line_ok and match(i + 1, j + 1)

    if match(0, 0):
        return None
    for n, line in enumerate(exp):  # the first shown line that is nowhere in the output
        if line != "..." and not any(line == a or ("..." in line and _pattern(line).match(a)) for a in act):
            return f"shown line {n + 1} is not in the output: {line!r}"
    return "the shown lines are in the output, but not in this order or not next to each other"


# --------------------------------------------------------------------------- the workspace


def _checkout_files() -> list[Path] | None:
    """The checkout's files as git knows them (tracked, and new ones not ignored); None without git."""
    if not shutil.which("git"):
        return None
    found = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True)
    if found.returncode != 0:
        return None
    return [Path(name) for name in found.stdout.decode().split("\0") if name and (ROOT / name).is_file()]


def _workspace(tmp: Path, template: Path | None = None) -> Path:
    """A copy of the checkout in tmp/checkout (a one-commit clone), a .venv/bin that runs it, ../shared linked.

    With `template` (a workspace made before, by this function, that no page has run in), tmp/checkout
    is a copy of it (its files, its one-commit repository and its bytecode, times kept): the same
    copy, without copying the checkout file by file, compiling nothing again and committing again
    (a second or more a page, most of it `git add` and `git commit`)."""
    checkout = tmp / "checkout"
    if template is not None:
        _copy_tree(template, checkout)
        _link_shared(tmp)
        _bin(checkout)
        return checkout
    files = _checkout_files()
    if files is None:
        shutil.copytree(ROOT, checkout, ignore=COPY_IGNORE, symlinks=True)
    else:
        for name in files:
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, checkout / name)
        git = ["git", "-c", "user.name=docs-test", "-c", "user.email=docs-test@localhost"]
        # packed: one file to copy where the loose objects are one a file (each page's copy is a copy of this)
        for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "docs-test copy"],
                     ["repack", "-a", "-d", "-q"]):
            subprocess.run(git + args, cwd=checkout, check=True, capture_output=True)
    _bytecode(checkout)
    _link_shared(tmp)
    _bin(checkout)
    return checkout


def _copy_tree(source: Path, target: Path) -> None:
    """`source` copied to `target` whole (times and modes kept: the bytecode stays valid)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if sys.platform.startswith("linux") and shutil.which("cp"):  # GNU cp: one process, no Python per file
        subprocess.run(["cp", "-a", "--reflink=auto", str(source), str(target)], check=True, capture_output=True)
    else:
        shutil.copytree(source, target, symlinks=True)


def _link_shared(tmp: Path) -> None:
    shared = ROOT.parent / "shared"
    if shared.is_dir():
        (tmp / "shared").symlink_to(shared, target_is_directory=True)


def _bin(checkout: Path) -> None:
    """checkout/.venv/bin: `blincyto`, `python`, `python3` running this checkout's copy, and `activate`."""
    bin_dir = checkout / ".venv" / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    scripts = {
        # as pip writes a console script (the guard matters: multiprocessing's spawn imports it)
        "blincyto": "import sys\nfrom reasoner.cli import app\nif __name__ == '__main__':\n    sys.exit(app())\n",
        "python": None,
        "python3": None,
    }
    for name, script in scripts.items():
        path = bin_dir / name
        if script is None:
            path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
        else:
            path.write_text(f"#!{sys.executable}\n{script}")
        path.chmod(0o755)
    (bin_dir / "activate").write_text(f'PATH="{bin_dir}:$PATH"; export PATH\n')


def _bytecode(checkout: Path) -> None:
    """The checkout's compiled modules (this interpreter's, `__pycache__/NAME.TAG.pyc`) copied beside the
    copy's sources, as a clone has them after its first run: otherwise the page's first few commands
    compile the package again (seconds of CPU a page). Python checks each against its source's size and
    time (kept by the copy), so a stale one is compiled again, as in the checkout; git ignores them."""
    tag = sys.implementation.cache_tag
    if tag is None:
        return
    for folder, dirs, _ in os.walk(ROOT):
        rel = Path(folder).relative_to(ROOT)
        dirs[:] = [d for d in dirs if (checkout / rel / d).is_dir() or d == "__pycache__"]  # the copy's folders
        if rel.name != "__pycache__":
            continue
        dirs[:] = []
        compiled = list(Path(folder).glob(f"*.{tag}.pyc"))
        if compiled:
            (checkout / rel).mkdir(exist_ok=True)
            for pyc in compiled:
                shutil.copy2(pyc, checkout / rel / pyc.name)


def _env(checkout: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME", "COLUMNS")}
    # the copy's .venv/bin first; then the test interpreter's own (the `oxigraph` server of the test extra)
    env["PATH"] = os.pathsep.join([str(checkout / ".venv" / "bin"), str(Path(sys.executable).parent),
                                   env.get("PATH", "")])
    env["PYTHONPATH"] = str(checkout)
    env["VIRTUAL_ENV"] = str(checkout / ".venv")
    return env


def _script(text: str) -> list[str]:
    return ["bash", "-c", "set -eu\n" + text]


def _run(block: Block, text: str, checkout: Path) -> subprocess.CompletedProcess:
    return subprocess.run(_script(text), cwd=checkout, env=_env(checkout), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=block.timeout)


def _port_busy(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    with socket.socket() as s:
        return s.connect_ex((parts.hostname or "127.0.0.1", parts.port or 80)) == 0


class _Server:
    """The block's first command, in the background, until stopped: `printed` is what it wrote."""

    def __init__(self, block: Block, command: Command, checkout: Path) -> None:
        self.url = block.markers["server"][-1]
        text = command.text.rstrip()
        text = text[:-1].rstrip() if text.endswith("&") else text
        self.proc = subprocess.Popen(_script(text), cwd=checkout, env=_env(checkout), stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.printed = ""

    def wait(self) -> bool:
        """True once URL answers (any HTTP status), False if the server exits or never answers."""
        deadline = time.monotonic() + SERVER_WAIT_S
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with urllib.request.urlopen(self.url, timeout=10):
                    return True
            except urllib.error.HTTPError:
                return True
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.3)
        return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.printed = self.proc.communicate()[0] or ""


def run_block(block: Block, checkout: Path) -> list[str]:
    """Run one block; the problems found (empty when it does what the page says)."""
    if "requires" in block.markers and not all((checkout / p).exists() for p in block.markers["requires"]):
        return []
    problems: list[str] = []
    commands = block.commands()
    server = None
    if "server" in block.markers:
        url = block.markers["server"][-1]
        if _port_busy(url):  # another program has the documented port: this block cannot run here now
            warnings.warn(f"{block.where}: not run: the port of {url} is taken")
            return []
        server = _Server(block, commands[0], checkout)
        commands = commands[1:]
        if not server.wait():
            server.stop()
            return [f"{block.where}: the server did not answer {url} within {SERVER_WAIT_S} s:\n{server.printed[-3000:]}"]
    try:
        for n, command in enumerate(commands):
            last = n == len(commands) - 1
            result = _run(block, command.text, checkout)
            printed, status = result.stdout, result.returncode
            wanted = block.status if last else 0
            first = command.text.splitlines()[0]
            if status != wanted:
                problems.append(f"{block.where}: `{first}` exited {status}, not {wanted}:\n" + printed[-3000:])
                break
            if last:
                missing = [t for t in block.expect if t not in printed]
                if missing:
                    problems.append(f"{block.where}: the output lacks {missing}:\n{printed[-3000:]}")
            if command.output and (why := shown_output_matches(command.output, printed.splitlines())):
                problems.append(f"{block.where}: `{first}`: {why}\n--- it printed:\n" + printed[-4000:])
    finally:
        if server is not None:
            server.stop()
    if server is not None and block.commands()[0].output:
        if why := shown_output_matches(block.commands()[0].output, server.printed.splitlines()):
            problems.append(f"{block.where}: the server: {why}\n--- it printed:\n" + server.printed[-4000:])
    return problems


# --------------------------------------------------------------------------- the tests


ALL_BLOCKS = {page: blocks(page) for page in PAGES if page.is_file()}


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """The workspace every page's own is copied from, made once a worker (never run in)."""
    return _workspace(tmp_path_factory.mktemp("docs-template"))


@pytest.mark.parametrize("page", [p for p, bs in ALL_BLOCKS.items() if any("skip" not in b.markers for b in bs)],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_every_command_of_the_page_does_what_the_page_shows(page, tmp_path, template):
    checkout = _workspace(tmp_path, template)
    problems = []
    for block in ALL_BLOCKS[page]:
        if "skip" not in block.markers:
            problems += run_block(block, checkout)
    assert not problems, "\n\n".join(problems)


def test_every_block_checks_something_and_every_skip_says_why():
    for page, bs in ALL_BLOCKS.items():
        for b in bs:
            if "skip" in b.markers:
                assert all(reason.strip() for reason in b.markers["skip"]), f"{b.where}: a skip needs a reason"
                continue
            commands = b.commands()
            assert commands, f"{b.where}: a shell block without a command"
            assert b.expect or any(c.output for c in commands) or "server" in b.markers, \
                f"{b.where}: nothing to check: show the output (console) or add <!-- docs-test: expect \"...\" -->"


def test_skips_are_few():
    skipped = [b.where + ": " + b.markers["skip"][0] for bs in ALL_BLOCKS.values() for b in bs if "skip" in b.markers]
    run = sum("skip" not in b.markers for bs in ALL_BLOCKS.values() for b in bs)
    assert len(skipped) <= max(6, run // 5), "\n".join(skipped)


def test_ci_runs_the_readme_test_command():
    """.ci/run calls exactly the test command the README gives, and the set-up the README gives."""
    readme = [b for b in ALL_BLOCKS[ROOT / "README.md"]]
    tests = [b.body.strip() for b in readme if "-m pytest" in b.body]
    assert tests, "README.md shows no test command"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert tests[0] in [line.strip() for line in ci], f"{tests[0]!r} is not a line of .ci/run"
    assert "python3 -m venv .venv" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


LINK = re.compile(r"\]\(([^)\s]+)\)")


def _slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    lines = page.read_text(encoding="utf-8").splitlines()
    return {_slug(line.lstrip("#")) for line in lines if re.match(r"^#{1,6} ", line)}


@pytest.mark.parametrize("page", [p for p in ALL_BLOCKS], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_somewhere(page):
    """A link to a file of the checkout (and a heading in it) that is not there is out of date too."""
    broken = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"^[a-z]+:", target):
            continue  # https:, mailto:
        path, _, anchor = target.partition("#")
        where = (page.parent / path).resolve() if path else page
        if not where.exists():
            broken.append(target)
        elif anchor and where.suffix == ".md" and anchor not in _anchors(where):
            broken.append(target)
    assert not broken, f"{page.relative_to(ROOT)}: links to nothing: {broken}"


# --------------------------------------------------------------------------- the checker itself


def test_the_output_matcher_reads_ellipses():
    out = ["Request r1: initial", "Decision: APPROVE", "Approval period: 6 months", "", "Pathway met:", "  I.A.4.a"]
    assert shown_output_matches(["Request r1: initial", "Decision: APPROVE", "..."], out) is None
    assert shown_output_matches(["Request ...: initial", "...", "  I.A.4.a"], out) is None
    assert shown_output_matches(["Decision: APPROVE"], out) is not None  # must start where the output does
    assert shown_output_matches(["...", "Decision: DENY"], out) == "shown line 2 is not in the output: 'Decision: DENY'"
    assert shown_output_matches(["Request r1: initial", "Approval period: 6 months"], out) is not None


def test_console_blocks_split_into_commands_and_their_output():
    b = Block(ROOT / "README.md", 1, "console", "$ echo 'a\nb' | wc -l\n2\n$ true \\\n  && echo x\nx", {})
    assert [(c.text, c.output) for c in b.commands()] == [("echo 'a\nb' | wc -l", ["2"]),
                                                         ("true \\\n  && echo x", ["x"])]
