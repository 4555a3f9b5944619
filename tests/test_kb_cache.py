"""The on-disk cache of the loaded knowledge base (reasoner/policy/cache.py): a hit decides exactly as a
fresh load, any change to a policy file is a different entry, a corrupt or foreign entry is never
trusted, concurrent first runs do not break, and only a private directory is read."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rdflib import BNode

from authoring_util import parses_shared

from reasoner.flow.engine import Reasoner
from reasoner.policy import cache, kb as kb_module
from reasoner.policy.integrity import PolicyError
from reasoner.policy.resources import turtle_files

ROOT = Path(__file__).resolve().parents[1]
CASES = sorted((ROOT / "tests" / "cases").glob("*.json")) + sorted((ROOT / "examples").glob("*.json"))
EXAMPLE = ROOT / "examples" / "approve-continuation-medicaid.json"


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    where = tmp_path / "cache"
    monkeypatch.setenv("BLINCYTO_CACHE_DIR", str(where))
    monkeypatch.delenv("BLINCYTO_CACHE", raising=False)
    return where


@pytest.fixture(scope="module")
def _shipped_entries(tmp_path_factory):
    """A cache directory as one load of the shipped knowledge base leaves it (built once a module)."""
    where = tmp_path_factory.mktemp("shipped") / "cache"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BLINCYTO_CACHE_DIR", str(where))
        mp.delenv("BLINCYTO_CACHE", raising=False)
        kb_module.load()
    assert list(where.glob("kb-*.pickle"))
    return where


@pytest.fixture
def warm_cache_dir(cache_dir, _shipped_entries):
    """`cache_dir` holding what a first load of the shipped knowledge base writes (for the tests whose
    first load only sets the scene: copying its files is the same directory, without a build)."""
    cache_dir.mkdir(mode=0o700)
    for entry in _shipped_entries.iterdir():
        shutil.copy2(entry, cache_dir / entry.name)  # the modes too (0600)
    return cache_dir


def _reads(monkeypatch) -> list[bool]:
    """Records, for every cache read, whether it was a hit."""
    hits: list[bool] = []
    keys: set[str] = set()
    real_read, real_key = cache.read, cache.key

    def key(inputs, *how, **named):  # the KB's and the request gate's (whose entries are read under another key)
        keys.add(real_key(inputs, *how, **named))
        return real_key(inputs, *how, **named)

    def read(entry, *kind):
        value = real_read(entry, *kind)
        if entry in keys:  # the knowledge base's entry (not a table derived from it)
            hits.append(value is not None)
        return value
    monkeypatch.setattr(cache, "key", key)
    monkeypatch.setattr(cache, "read", read)
    return hits


class _Missed(Exception):
    """Raised instead of building the knowledge base (or a version's graphs): the load got past the
    cache read, a miss."""


def _stop_at_the_build(*args, **kwargs):
    raise _Missed()


def _ground(triples: set) -> set:
    return {t for t in triples if not any(isinstance(term, BNode) for term in t)}


def _request(path: Path) -> dict:
    data = json.loads(path.read_text())
    return data.get("request", data)


def _decide(engine: Reasoner, path: Path) -> object:
    try:
        return engine.evaluate(_request(path))
    except Exception as exc:  # noqa: BLE001 - an invalid case must be invalid both ways
        return type(exc).__name__, str(exc)


def test_a_hit_decides_every_case_as_a_fresh_load(cache_dir, monkeypatch):
    hits = _reads(monkeypatch)
    written = kb_module.load()  # miss: loads, checks, writes
    assert hits == [False] and len(list(cache_dir.glob("kb-*.pickle"))) == 1  # the KB
    read_back = kb_module.load()
    assert hits == [False, True]
    monkeypatch.setenv("BLINCYTO_CACHE", "0")
    fresh = kb_module.load()
    assert hits == [False, True, False]
    for name in ("graph", "shapes"):
        back, first, again = (set(getattr(k, name)) for k in (read_back, written, fresh))
        assert back == first  # the very triples written, blank nodes included
        assert len(back) == len(again) and _ground(back) == _ground(again)  # a new parse: new blank nodes
    assert read_back.criteria == fresh.criteria and read_back.shape_info == fresh.shape_info
    engines = [Reasoner(kb=k) for k in (written, read_back, fresh)]
    for path in CASES:
        first, *others = (_decide(engine, path) for engine in engines)
        assert all(other == first for other in others), path.name


def test_the_cache_can_be_turned_off(cache_dir, monkeypatch):
    monkeypatch.setenv("BLINCYTO_CACHE", "off")
    kb_module.load()
    assert not cache_dir.exists()


def _shapes_copy(tmp_path, monkeypatch) -> Path:
    """The shipped shapes copied to tmp_path, and the loader pointed at the copy."""
    folder = tmp_path / "shapes"
    folder.mkdir()
    for path in turtle_files("shapes"):
        shutil.copy(path, folder / path.name)
    real = kb_module.turtle_files
    monkeypatch.setattr(kb_module, "turtle_files",
                        lambda name: sorted(folder.glob("*.ttl")) if name == "shapes" else real(name))
    return folder


def test_a_changed_shapes_file_is_a_new_entry(cache_dir, tmp_path, monkeypatch):
    folder = _shapes_copy(tmp_path, monkeypatch)
    hits = _reads(monkeypatch)
    before = kb_module.load()
    target = next(iter(sorted(before.shape_info)))
    message = before.shape_info[target].message
    assert message
    for path in sorted(folder.glob("*.ttl")):
        text = path.read_text(encoding="utf-8")
        if message in text:
            path.write_text(text.replace(message, message + " (edited)", 1), encoding="utf-8")
            break
    else:
        pytest.fail("message not found in any shapes file")
    after = kb_module.load()
    assert hits == [False, False]  # the edit is a different key: never the old entry
    assert after.shape_info[target].message == message + " (edited)"
    assert len(list(cache_dir.glob("kb-*.pickle"))) == 2


def test_a_broken_shapes_file_fails_at_load_every_time(warm_cache_dir, tmp_path, monkeypatch):
    cache_dir = warm_cache_dir
    folder = _shapes_copy(tmp_path, monkeypatch)
    hits = _reads(monkeypatch)
    kb_module.load()  # the good policy is cached (the copy's files are the shipped ones: its entry)
    assert hits == [True]
    path = sorted(folder.glob("*.ttl"))[0]
    path.write_text(path.read_text(encoding="utf-8")
                    + "\nshp:Broken a sh:NodeShape ; sh:targetClass bx:NoSuchClass .\n", encoding="utf-8")
    for _ in range(2):
        with pytest.raises(PolicyError):
            kb_module.load()
    assert len(list(cache_dir.glob("kb-*.pickle"))) == 1  # nothing written for the broken one


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty"])
def test_a_corrupt_entry_is_ignored_and_rewritten(warm_cache_dir, monkeypatch, damage):
    (entry,) = warm_cache_dir.glob("kb-*.pickle")
    data = entry.read_bytes()
    damaged = {"truncate": data[: len(data) // 2], "flip": data[:-100] + bytes([data[-100] ^ 1]) + data[-99:],
               "garbage": b"\x80\x05not a pickle" * 10, "empty": b""}[damage]
    entry.write_bytes(damaged)
    hits = _reads(monkeypatch)
    loaded = kb_module.load()
    assert hits == [False]
    assert Reasoner(kb=loaded).evaluate(_request(EXAMPLE))["decision"] == "approve"
    assert entry.read_bytes() != damaged  # rebuilt
    assert kb_module.load() is not None and hits == [False, True]


def test_an_entry_under_another_key_is_not_read(warm_cache_dir, monkeypatch):
    cache_dir = warm_cache_dir
    (entry,) = cache_dir.glob("kb-*.pickle")
    other = cache_dir / ("kb-" + "0" * 64 + ".pickle")
    shutil.copy(entry, other)
    assert cache.read("0" * 64) is None  # the header names the key it was written for


def test_the_directory_and_entries_are_private(cache_dir):
    kb_module.load()
    assert cache_dir.stat().st_mode & 0o777 == 0o700
    for entry in cache_dir.iterdir():
        assert entry.stat().st_mode & 0o077 == 0, entry


def test_a_directory_others_can_write_is_not_used(warm_cache_dir, monkeypatch):
    cache_dir = warm_cache_dir
    os.chmod(cache_dir, 0o777)
    hits = _reads(monkeypatch)
    kb_module.load()  # a miss, and the load goes on without the cache
    assert hits == [False]
    os.chmod(cache_dir, 0o700)
    (entry,) = cache_dir.glob("kb-*.pickle")
    os.chmod(entry, 0o666)
    monkeypatch.setattr(cache, "known_terms", _stop_at_the_build)  # what follows a miss: the build, as above
    with pytest.raises(_Missed):
        kb_module.load()
    assert hits == [False, False]


def test_concurrent_first_runs_all_decide(tmp_path):
    env = {**os.environ, "BLINCYTO_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    env.pop("BLINCYTO_CACHE", None)
    command = [sys.executable, "-m", "reasoner.cli", "check", str(EXAMPLE), "--format", "json"]
    runs = [subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(3)]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], [err.decode()[-500:] for _, err in outputs]
    decisions = {json.loads(out)["decision"] for out, _ in outputs}
    assert decisions == {"approve"}
    left = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert left and all(name.startswith("kb-") and name.endswith(".pickle") for name in left), left
    again = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, timeout=300)
    assert again.returncode == 0 and json.loads(again.stdout)["decision"] == "approve"


def test_old_entries_are_pruned(cache_dir):
    cache_dir.mkdir(mode=0o700)
    for i in range(cache.KEEP + 5):
        stale = cache_dir / f"kb-{i:064x}.pickle"
        stale.write_bytes(b"old")
        os.utime(stale, (1_000_000 + i, 1_000_000 + i))
    kb_module.load()
    left = list(cache_dir.glob("kb-*.pickle"))
    assert len(left) == cache.KEEP
    assert not (cache_dir / f"kb-{0:064x}.pickle").exists()  # the oldest went first


# -- terms as rdflib made them; the hook for compiled shapes kept as data ---------------------------

def test_every_literal_reads_back_as_rdflib_made_it(cache_dir):
    """Literals are pickled as their attributes (not parsed again when read): each reads back with the
    same lexical form, language, datatype, Python value and ill-typed flag as the fresh load's."""
    from rdflib import Literal, URIRef

    fresh = kb_module.load()
    hit = kb_module.load()
    assert hit is not fresh and set(map(_ground_literal, fresh.graph)) == set(map(_ground_literal, hit.graph))

    def state(term):
        return (type(term), str(term), term.language, term.datatype, repr(term.value), term.ill_typed)

    for graph in ("graph", "shapes"):
        made = {state(t) for triple in getattr(fresh, graph) for t in triple if isinstance(t, Literal)}
        read = {state(t) for triple in getattr(hit, graph) for t in triple if isinstance(t, Literal)}
        assert made == read and made
        assert all(type(t) is URIRef for triple in getattr(hit, graph) for t in triple if isinstance(t, URIRef))


def _ground_literal(triple):
    return tuple(None if isinstance(t, BNode) else (type(t), str(t)) for t in triple)


def test_compiled_shapes_said_as_data_are_kept_and_restored(cache_dir, monkeypatch):
    """`cache.remember_compiled`: once the compiler offers cache_state/from_cache_state, the second
    load restores the kept state instead of compiling; a state that does not restore is rebuilt."""
    from reasoner.shacl import compiler

    calls: list[str] = []

    def cache_state(compiled):
        calls.append("state")
        return ("compiled", len(compiled.top))

    def from_cache_state(kept, shapes, owner, terms):
        calls.append("restore")
        assert kept[0] == "compiled"
        value = compiler.compile_shapes(shapes, owner, terms)
        assert len(value.top) == kept[1]
        return value

    monkeypatch.setattr(cache, "_package_function", lambda obj: False)  # closures that do not pickle
    monkeypatch.setattr(compiler, "cache_state", cache_state, raising=False)
    monkeypatch.setattr(compiler, "from_cache_state", from_cache_state, raising=False)
    kb_module.load()  # fresh: compiled, state kept
    assert calls == ["state"]
    engine = Reasoner(kb=kb_module.load())  # a hit: restored
    assert calls == ["state", "restore"]
    assert engine.evaluate(_request(EXAMPLE))["decision"] == "approve"

    def broken(kept, shapes, owner, terms):
        calls.append("broken")
        raise ValueError("stale")

    monkeypatch.setattr(compiler, "from_cache_state", broken, raising=False)
    assert kb_module.load().compiled is not None
    assert calls[-2:] == ["broken", "state"]  # not restored: compiled again, the state kept again


def _counting_compiles(monkeypatch) -> list[int]:
    from reasoner.shacl import compiler

    built: list[int] = []
    real = compiler.compile_shapes
    monkeypatch.setattr(compiler, "compile_shapes", lambda *a: built.append(1) or real(*a))
    return built


def test_the_compiled_shapes_are_kept_with_the_knowledge_base(warm_cache_dir, monkeypatch):
    """The compiled shapes (closures of the package) are pickled in the KB's entry (as a load of the
    shipped KB wrote it): a hit compiles nothing, and its compiled shapes validate every case as a fresh
    compile does."""
    from reasoner.shacl.compiler import CompiledShapes, compile_shapes

    built = _counting_compiles(monkeypatch)
    hits = _reads(monkeypatch)
    other = kb_module.load()
    hit = kb_module.load()
    assert hits == [True, True] and built == [] and isinstance(hit.compiled, CompiledShapes)
    assert hit.compiled is not other.compiled  # each read builds its own
    again = compile_shapes(hit.shapes, hit.shape_owner, hit.graph)
    assert [s.node for s in hit.compiled.top] == [s.node for s in again.top]
    assert hit.compiled.not_compiled == again.not_compiled
    kept, compiled = Reasoner(kb=hit), Reasoner(kb=replace_compiled(hit, again))
    for path in CASES:
        assert _decide(kept, path) == _decide(compiled, path), path.name


def replace_compiled(kb, compiled):
    from dataclasses import replace

    return replace(kb, compiled=compiled)


def test_closures_that_do_not_pickle_are_compiled_every_load(cache_dir, monkeypatch):
    """A compiled form the cache cannot write (and no hook from the compiler): the KB is still
    cached, and the shapes compiled (so checked) at every load."""
    from reasoner.shacl import compiler

    monkeypatch.setattr(cache, "_package_function", lambda obj: False)
    if hasattr(compiler, "cache_state"):
        monkeypatch.delattr(compiler, "cache_state")
    built = _counting_compiles(monkeypatch)
    hits = _reads(monkeypatch)
    kb_module.load()
    kb_module.load()
    assert built == [1, 1] and hits == [False, True]


def test_compiled_shapes_that_need_pyshacl_are_not_kept(cache_dir, monkeypatch):
    """Shapes run through pySHACL (its objects are not read back from a cache): the entry holds the KB
    without the compiled shapes, which are compiled at every load."""
    from reasoner.shacl import compiler

    real = compiler.compile_shapes

    def with_fallback(*args):
        compiled = real(*args)
        compiled.not_compiled = {"urn:example:shape": "pretend"}
        return compiled

    monkeypatch.setattr(compiler, "compile_shapes", with_fallback)
    kb_module.load()
    built = _counting_compiles(monkeypatch)
    hits = _reads(monkeypatch)
    kb_module.load()
    assert hits == [True] and built == [1]


# -- a policy version's knowledge base ------------------------------------------------------------

@pytest.fixture
def parsed_once():
    """A version's Turtle files parsed once a process (authoring_util.parses_shared): a rebuilt version
    reads its unedited files' graphs instead of parsing them again. First among a test's fixtures, so
    it is undone last (after the test's own monkeypatching of `versions.graphs`)."""
    with parses_shared():
        yield


def test_a_version_is_cached_by_the_content_of_every_file_it_is_built_from(parsed_once, cache_dir, tmp_path,
                                                                            monkeypatch):
    """`versions.load_kb`: a hit (no Turtle parsed) decides as a fresh load; an edit to the version's
    override, its manifest, its base's manifest or a Turtle file of its base is a new entry, never the
    old one (nor the entry of an edit before it). After the first edit, each load stops where a miss
    builds the graphs: what is checked is the read, a miss under a key no load had before."""
    from reasoner.policy import versions

    for name in ("versions", "ontology", "shapes"):  # the manifests name ../../ontology/ and ../../shapes/
        shutil.copytree(ROOT / name, tmp_path / name)
    folder = tmp_path / "versions"
    hits = _reads(monkeypatch)
    keys: list[str] = []  # the knowledge base's key of every read, in order
    counted_read = cache.read

    def read(entry, *kind):
        before = len(hits)
        value = counted_read(entry, *kind)
        if len(hits) > before:
            keys.append(entry)
        return value
    monkeypatch.setattr(cache, "read", read)
    fresh = versions.load_kb("draft-2025", directory=folder)
    assert hits == [False] and keys == [fresh.cache_key]
    parsed: list = []
    real_graphs = versions.graphs
    monkeypatch.setattr(versions, "graphs", lambda v, *how: parsed.append(v) or real_graphs(v, *how))
    hit = versions.load_kb("draft-2025", directory=folder)
    assert hits == [False, True] and parsed == [] and hit.cache_key == fresh.cache_key
    engines = [Reasoner(kb=k) for k in (fresh, hit)]
    for path in CASES:
        assert _decide(engines[0], path) == _decide(engines[1], path), path.name

    def missed(v, *how):
        raise _Missed(v)
    monkeypatch.setattr(versions, "graphs", missed)
    with pytest.raises(_Missed):
        versions.load_kb("2024-08", directory=folder)  # its base alone
    assert hits[2:] == [False] and keys[-1] != fresh.cache_key
    override = next((folder / "draft-2025").glob("*.ttl"))
    for edited in (override, folder / "draft-2025" / "manifest.ttl", folder / "2024-08" / "manifest.ttl",
                   tmp_path / "shapes" / "initial.ttl"):
        if edited == override:
            text = edited.read_text(encoding="utf-8")
            edited.write_text(text.replace("21", "22", 1), encoding="utf-8")
        else:
            edited.write_text(edited.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
        before = len(hits)
        if edited == override:  # built whole, and its entry written: the later edits must miss it too
            monkeypatch.setattr(versions, "graphs", real_graphs)
            again = versions.load_kb("draft-2025", directory=folder)
            assert again.cache_key == keys[-1]
            monkeypatch.setattr(versions, "graphs", missed)
        else:
            with pytest.raises(_Missed):
                versions.load_kb("draft-2025", directory=folder)
        assert hits[before:] == [False] and keys[-1] not in keys[:-1], edited.name
