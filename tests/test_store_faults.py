"""The store under a crashing, crowded pipeline (issue 13, items 13-15).

- `kill -9` while the knowledge base is (re)loaded or a new store is created: afterwards a store is
  either absent or complete (never "initialised" without its policy), and `store init` recovers.
- Concurrent `check --store` writers all succeed (they wait for RocksDB's lock instead of failing).
- RocksDB's `LOG.old.*` files do not pile up; a store's files are 0600 and its folder 0700.

The crowd is 16 writers by default; BLINCYTO_LONG_FAULTS=1 runs the issue's 120 and more kills.
"""

from __future__ import annotations

import json
import os
import random
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pyoxigraph as ox
import pytest

from reasoner.sparql import store as st

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "needs-info-initial-missing-mrd-medicaid.json"
LONG = os.environ.get("BLINCYTO_LONG_FAULTS") == "1"
WRITERS = 120 if LONG else 16
KILLS = 25 if LONG else 6
BX = "https://w3id.org/blincyto-pa/ontology#"


def graph_sizes(path: Path) -> dict[str, int]:
    """The number of quads in each graph ("": the default graph), counted by Oxigraph (a tenth of the
    time of reading every quad into Python, as each kill round does)."""
    store = ox.Store.read_only(str(path))
    sizes = {row["g"].value: int(row["n"].value)
             for row in store.query("SELECT ?g (COUNT(*) AS ?n) { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g")}
    default = int(next(iter(store.query("SELECT (COUNT(*) AS ?n) { ?s ?p ?o }")))["n"].value)
    if default:
        sizes[""] = default
    return sizes


def kb_sizes() -> dict[str, int]:
    sizes: dict[str, int] = {}
    for q in st.kb_quads():
        sizes[q.graph_name.value] = sizes.get(q.graph_name.value, 0) + 1
    return sizes


def determinations(path: Path) -> int:
    result = st.query_local(path, f"SELECT (COUNT(DISTINCT ?d) AS ?n) {{ ?d a <{BX}Determination> }}")
    return int(next(iter(result))["n"].value)


def assert_whole(path: Path, expected: dict[str, int]) -> None:
    """The knowledge-base graphs are all there with every triple (the manifest's timestamps aside)."""
    sizes = graph_sizes(path)
    for graph, count in expected.items():
        assert sizes.get(graph) == count, (graph, sizes.get(graph), count)


# The process that is killed: forked, round after round, from one process that has loaded the knowledge
# base and made its quads (seconds of Python, once): so the kill window is spent in the work under
# test (a reload, a creation), not in importing and loading, and no round pays for a start-up. Each line on its stdin is one round: it forks, says the child's pid, and once the test has
# killed the child, reaps it and says "gone".
FORKER = """
import os, sys
from pathlib import Path
from reasoner.sparql import store as st
st.kb_quads()
print("ready", flush=True)
for line in sys.stdin:
    kind, arg = line.split()
    pid = os.fork()
    if pid == 0:
        if kind == "reload":
            s = st.LocalStore(arg)
            while True:
                s.init_kb()
        base, i = Path(arg), 0
        while True:
            st.LocalStore(base / f"s{i}").close()
            i += 1
    print(pid, flush=True)
    os.waitpid(pid, 0)
    print("gone", flush=True)
"""


class _Killer:
    """The forker above: `round(kind, arg)` starts a child doing `kind` and SIGKILLs it at a random time."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.proc = subprocess.Popen([sys.executable, "-c", FORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, text=True)
        assert self.proc.stdout is not None and self.proc.stdin is not None
        assert self.proc.stdout.readline().strip() == "ready"

    def round(self, kind: str, arg: Path) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{kind} {arg}\n")
        self.proc.stdin.flush()
        pid = int(self.proc.stdout.readline())
        time.sleep(self.rng.uniform(0.05, 0.8))
        os.kill(pid, signal.SIGKILL)
        assert self.proc.stdout.readline().strip() == "gone"

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture
def killer():
    k = _Killer(random.Random(13))
    yield k
    k.close()


def test_kill_during_reload_leaves_the_old_or_the_new_knowledge_base(tmp_path, reasoner_for, killer):
    target = tmp_path / "store"
    with st.open_store(target) as s:
        s.add(reasoner_for().evaluate_full(json.loads(EXAMPLE.read_text())))
    expected = kb_sizes()  # the manifest graph too: its size is the same on every reload
    for _ in range(KILLS):
        killer.round("reload", target)
        assert_whole(target, expected)
        assert determinations(target) == 1
    with st.open_store(target) as s:  # and it opens, writes and reloads as before
        s.init_kb()
    assert_whole(target, expected)
    assert determinations(target) == 1


def test_kill_during_creation_leaves_no_half_store_and_init_recovers(tmp_path, killer):
    from typer.testing import CliRunner

    from reasoner.cli import app

    expected = {g: n for g, n in kb_sizes().items() if g != st.STORE_GRAPH}
    killer.rng = random.Random(7)
    for cycle in range(max(2, KILLS // 2)):
        base = tmp_path / f"cycle{cycle}"
        base.mkdir()
        killer.round("create", base)
        for entry in sorted(base.iterdir()):
            if entry.name.startswith("."):  # a partial of the killed process: removed by the next open
                continue
            assert (entry / "CURRENT").is_file(), entry
            assert_whole(entry, expected)
        stores = sorted(p for p in base.iterdir() if not p.name.startswith("."))
        nxt = base / f"s{len(stores)}"
        result = CliRunner().invoke(app, ["store", "init", str(nxt)])
        assert result.exit_code == 0, result.output
        assert_whole(nxt, expected)
        assert not [p for p in base.iterdir() if p.name.startswith(f".{nxt.name}.partial-")]
    # A partial left by a dead process is cleaned by the next open of that store.
    dead = tmp_path / ".late.partial-999999999-deadbeef"
    dead.mkdir()
    (dead / "000001.log").write_bytes(b"x")
    with st.open_store(tmp_path / "late"):
        pass
    assert not dead.exists()


# The writers: `blincyto check ... --store` run by the command line's entry point (`reasoner.cli:app`, the
# console script's), each in its own process, all forked at once from one process that has imported the
# command line (what a cold start spends, once): every writer reaches the store's lock in the same
# moment, and each exit status and standard error is its own.
WRITERS_AT_ONCE = """
import os, sys
from reasoner.cli import app, check
from reasoner.flow.engine import default_reasoner
from reasoner.sparql import store
default_reasoner()
n, out, *argv = sys.argv[1:]
pids = []
for i in range(int(n)):
    pid = os.fork()
    if pid == 0:
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        os.dup2(os.open(f"{out}/{i}.err", os.O_WRONLY | os.O_CREAT, 0o600), 2)
        sys.argv = ["blincyto", *argv]
        try:
            code = app()
        except SystemExit as exc:
            code = exc.code
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code if isinstance(code, int) else 0 if code is None else 1)
    pids.append(pid)
for pid in pids:
    print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
"""


def test_concurrent_check_writers_all_succeed(tmp_path):
    target = tmp_path / "store"
    with st.open_store(target):
        pass
    errors = tmp_path / "stderr"
    errors.mkdir()
    done = subprocess.run([sys.executable, "-c", WRITERS_AT_ONCE, str(WRITERS), str(errors), "check", str(EXAMPLE),
                           "--store", str(target), "--format", "json"], capture_output=True, text=True, cwd=ROOT,
                          timeout=900, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    codes = [int(line) for line in done.stdout.split()]
    assert len(codes) == WRITERS
    failed = [(errors / f"{i}.err").read_text() for i, code in enumerate(codes) if code != 0]
    assert not failed, failed[:3]
    assert determinations(target) == WRITERS
    assert len(list(target.glob("LOG.old.*"))) <= st.KEEP_OLD_LOGS


def test_a_writer_waits_for_the_lock_and_gives_up_after_its_bound(tmp_path):
    target = tmp_path / "store"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time, pyoxigraph as ox\n"
                               "s = ox.Store(sys.argv[1]); print('held', flush=True); time.sleep(float(sys.argv[2]))",
                               str(target), "1.5"], stdout=subprocess.PIPE)
    assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
    started = time.monotonic()
    with st.LocalStore(target, wait_s=30) as s:  # waits for the holder, then loads the knowledge base
        assert s.is_initialised()
    assert time.monotonic() - started >= 0.5
    holder.wait(timeout=30)
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time, pyoxigraph as ox\n"
                               "s = ox.Store(sys.argv[1]); print('held', flush=True); time.sleep(30)",
                               str(target)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        with pytest.raises(st.StoreError, match="busy"):
            st.LocalStore(target, wait_s=0.5).store  # opened on first use
    finally:
        holder.kill()
        holder.wait(timeout=30)


def test_old_logs_do_not_pile_up(tmp_path):
    target = tmp_path / "store"
    for _ in range(8):
        with st.open_store(target):
            pass
    assert len(list(target.glob("LOG.old.*"))) <= st.KEEP_OLD_LOGS


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o027])
def test_store_files_are_private(tmp_path, umask, reasoner_for):
    old = os.umask(umask)
    try:
        target = tmp_path / "store"
        with st.open_store(target) as s:
            s.add(reasoner_for().evaluate_full(json.loads(EXAMPLE.read_text())))
        assert os.umask(umask) == umask  # restored after the store closed
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in target.iterdir()}
    assert all(mode & 0o077 == 0 for mode in modes.values()), modes


def test_store_init_says_who_can_read_the_store(tmp_path):
    from typer.testing import CliRunner

    from reasoner.cli import app

    result = CliRunner().invoke(app, ["store", "init", str(tmp_path / "new")])
    assert result.exit_code == 0 and "private to you (folder 700, files 600)" in result.stderr
    old = tmp_path / "old"
    with st.open_store(old):
        pass
    old.chmod(0o755)  # a store made before, or opened up by hand
    result = CliRunner().invoke(app, ["store", "init", str(old)])
    assert result.exit_code == 0 and "open to other users (mode 755)" in result.stderr
