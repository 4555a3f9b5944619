"""The loaded knowledge base, kept on disk between processes so a one-off command starts quickly.

Parsing the Turtle, the load-time checks, the open readings and compiling the shapes cost most of a
cold `blincyto check`; their result depends only on the policy files, the contract and the engine's
code. So the loaded knowledge base, with its compiled shapes (closures of the package, written as
their code: see `_package_function`; a compiled form that does not pickle is compiled again on every
load, with its check, or kept through the compiler's own hook, `remember_compiled`), is pickled under a key that is the hash of the CONTENT of every
file that went into it and of every module of the `reasoner` package. Any change, in a Turtle file
or in the code, is a different key: a stale entry can never be read. A policy that fails its load
checks raises before anything is written, so an entry exists only for content that passed them.

Trust: a pickle runs code when read, so an entry is read only from a directory this user owns and
nobody else can write (created 0700; a symbolic link is not followed), and only if the file is this
user's and not group/world-writable; classes are resolved only from the modules a KB is made of
(the compiled shapes' code is unmarshalled as it was written: the private directory is the trust).
An entry is a header (magic, key, digest of the payload) and the payload; a truncated, corrupt or
foreign entry is ignored (and rewritten), never trusted. Writes go to a temporary file in the same
directory and are renamed into place, so concurrent first runs each write a whole entry and readers
see either none or a whole one.

    BLINCYTO_CACHE_DIR   where the entries live (default: $XDG_CACHE_HOME/blincyto or ~/.cache/blincyto)
    BLINCYTO_CACHE=0     no cache at all (read nothing, write nothing)

Beside the KB's entries, small text notes (`read_note`, `write_note`): lint's HermiT verdict, keyed by
the ontology's content (reasoner/authoring/hermit.py), with the same directory, checks and writes.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import importlib
import io
import marshal
import os
import pickle
import stat
import sys
import tempfile
import types
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

from rdflib import Graph
from rdflib import __version__ as RDFLIB_VERSION
from rdflib.term import Literal, URIRef

from reasoner.shacl import datagraph

FORMAT = b"blincyto-kb-cache 1\n"
T = TypeVar("T")
_OFF = {"0", "off", "no", "false"}


def enabled() -> bool:
    return os.environ.get("BLINCYTO_CACHE", "1").strip().lower() not in _OFF


def directory() -> Path:
    """The per-user cache directory (not created here)."""
    chosen = os.environ.get("BLINCYTO_CACHE_DIR")
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "blincyto"


def _package_files() -> list[tuple[str, str]]:
    """(name inside the package, path) of every module of the package, sorted by name (os.walk, not
    pathlib: this runs at every start)."""
    package = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    found = []
    for folder, dirs, names in os.walk(package):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        inside = os.path.relpath(folder, package)
        for name in names:
            if name.endswith(".py"):
                found.append((name if inside == "." else os.path.join(inside, name), os.path.join(folder, name)))
    return sorted(found)


def key(inputs: Iterable[Path], recipe: str = "") -> str:
    """The hash of every input file's name and content, the package's code, and the versions a
    pickle depends on (Python, rdflib); `recipe`: what else decides the value (the inputs' roles)."""
    h = hashlib.blake2b(FORMAT, digest_size=32)
    h.update(f"{sys.version}\0{RDFLIB_VERSION}\0{len(recipe)}\0{recipe}\0".encode())
    _hash_files(h, "input", [(os.path.basename(path), path) for path in inputs])  # content, not place
    h.update(_code_digest())
    return h.hexdigest()


@functools.cache
def _code_digest() -> bytes:
    """The package's code as this process imported it, hashed once a process: a process that runs
    older code than the files now on disk (the package upgraded under a running server) keys what it
    writes by the code it runs, never by the new files', which its objects would not match."""
    h = hashlib.blake2b(b"code", digest_size=32)
    _hash_files(h, "code", _package_files())
    return h.digest()


def _hash_files(h: Any, label: str, files: Iterable[tuple[str, str | Path]]) -> None:
    for name, path in files:
        with open(path, "rb") as f:
            data = f.read()
        h.update(f"{label}\0{name}\0{len(data)}\0".encode())
        h.update(data)


_code_digest()  # when the package is imported, not at a later first load (about 6 ms)


def _private_dir(create: bool) -> Path | None:
    """The cache directory if it is this user's and nobody else can write it (created 0700 if asked),
    else None."""
    where = directory()
    try:
        if create:
            where.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = where.lstat()
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
        return None
    return where


# -- terms: the same objects as the rest of the process (datagraph.canonical) --------------------------

def _term_id(term: Any) -> tuple | None:
    kind = type(term)
    if kind is URIRef:
        return ("u", str(term))
    if kind is Literal:
        return ("l", str(term), term.language, None if term.datatype is None else str(term.datatype))
    return None


# rdflib pickles a Literal as Literal(lexical, lang, datatype): read back, each is parsed and normalised
# again (~15 µs a literal, a third of reading the KB). It is written here as the four attributes
# rdflib's own constructor set, and made again from them; an IRI without its validity check (it
# passed it when parsed). Only for the rdflib whose Literal has exactly these attributes (the key
# holds rdflib's version); any other is pickled rdflib's way.
_LITERAL_SLOTS = ("_language", "_datatype", "_value", "_ill_typed")
_FAST_TERMS = getattr(Literal, "__slots__", None) == _LITERAL_SLOTS and getattr(URIRef, "__slots__", None) == ()


def _literal(lexical: str, language: str | None, datatype: URIRef | None, value: Any, ill_typed: bool | None) -> Literal:
    term = str.__new__(Literal, lexical)
    term._language, term._datatype, term._value, term._ill_typed = language, datatype, value, ill_typed
    return term


def _iri(text: str) -> URIRef:
    return str.__new__(URIRef, text)


# -- the compiled shapes: closures over the KB's terms, kept in the same entry -----------------------
# A function of the `reasoner` package is written as its code (marshal), its module's name (its
# globals are that module's, imported again when read), its defaults and its closure's cells; a cell
# is made empty and filled once its function exists (closures that refer to each other, or to
# themselves, read back as they were). Everything else a closure holds (shapes, terms, sets, the
# compiled shapes graph) is pickled with the KB, in one memo: what was one object stays one object.
# The code is this process's Python's (the key holds sys.version) and this checkout's (the key holds
# every module's source).

def _code(data: bytes) -> types.CodeType:
    return marshal.loads(data)


def _cell() -> types.CellType:
    return types.CellType()


def _function(code: types.CodeType, module: str, name: str, qualname: str, defaults: tuple | None,
              kwdefaults: dict | None, closure: tuple | None, annotations: dict) -> types.FunctionType:
    made = types.FunctionType(code, importlib.import_module(module).__dict__, name, defaults, closure)
    made.__qualname__, made.__kwdefaults__, made.__annotations__ = qualname, kwdefaults, annotations
    return made


def _share_prefixes(graph: Graph, manager: Any) -> None:
    graph.namespace_manager = manager


def _fill_cells(function: types.FunctionType, state: tuple) -> None:
    """The cells' contents, and the attributes the compiler gave the function (e.g. the spec the
    source generator reads off a component's closure)."""
    contents, attributes = state
    for cell, value in zip(function.__closure__ or (), contents or ()):
        if value is not _EMPTY:
            cell.cell_contents = value
    if attributes:
        function.__dict__.update(attributes)


class _Empty:
    """A cell with nothing in it yet (a closure over a name assigned later)."""

    def __reduce__(self) -> str:
        return "_EMPTY"


_EMPTY = _Empty()


def _cell_contents(cell: types.CellType) -> Any:
    try:
        return cell.cell_contents
    except ValueError:
        return _EMPTY


def _package_function(obj: types.FunctionType) -> bool:
    """A function of the package that cannot be found by its name (a closure, a lambda): written as
    code. A module's own functions are pickled by name, as ever."""
    module = sys.modules.get(obj.__module__ or "")
    if module is None or module.__dict__ is not obj.__globals__ or not obj.__module__.startswith("reasoner."):
        return False
    found: Any = module
    for part in obj.__qualname__.split("."):
        found = getattr(found, part, None)
    return found is not obj


class _Writer(pickle.Pickler):
    """Terms the process already shared before the KB was read (the engine's vocabulary, made at
    import) are written by name (once each) and looked up again when read, so they stay the one object."""

    def __init__(self, file: io.BytesIO, known: frozenset) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._known = known

    def reducer_override(self, obj: Any) -> Any:  # once per object: the memo has every later one
        kind = type(obj)
        if (kind is URIRef or kind is Literal) and obj in self._known:
            return _shared_term, (_term_id(obj),)
        if _FAST_TERMS and kind is Literal:
            return _literal, (str(obj), obj._language, obj._datatype, obj._value, obj._ill_typed)
        if _FAST_TERMS and kind is URIRef:
            return _iri, (str(obj),)
        if kind is types.FunctionType and _package_function(obj):
            cells = obj.__closure__
            return (_function, (obj.__code__, obj.__module__, obj.__name__, obj.__qualname__, obj.__defaults__,
                                obj.__kwdefaults__, cells, dict(obj.__annotations__)),
                    (None if cells is None else tuple(_cell_contents(c) for c in cells), dict(obj.__dict__) or None),
                    None, None, _fill_cells)
        if kind is Graph:
            shared = obj.__dict__.get("_Graph__namespace_manager")
            if shared is not None and shared.graph is not obj:
                # rdflib pickles a graph as (store, identifier) and makes a new namespace manager when
                # read; one that shares another graph's prefixes (the compiled shapes' copy of the
                # shapes graph: its messages write `bx:X`) keeps them
                return Graph, (obj.store, obj.identifier), shared, None, None, _share_prefixes
            return NotImplemented
        if kind is types.CellType:  # made empty (one object however many closures share it), filled by them
            return _cell, ()
        if kind is types.CodeType:
            return _code, (marshal.dumps(obj),)
        return NotImplemented


def _shared_term(pid: tuple) -> Any:
    """A term the writing process shared before the KB was read: this process's shared object."""
    if pid[0] == "u":
        term = URIRef(pid[1])
    else:
        term = Literal(pid[1], lang=pid[2], datatype=None if pid[3] is None else URIRef(pid[3]))
    return datagraph.canonical(term)


class _Reader(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if not (module.startswith(("reasoner.", "rdflib.", "builtins", "collections", "datetime",
                                   "decimal", "copyreg", "_codecs", "pathlib", "re"))):
            raise pickle.UnpicklingError(f"unexpected class {module}.{name}")
        return super().find_class(module, name)


def _load(payload: bytes) -> Any:
    """Unpickled with the cyclic garbage collector paused: reading a KB makes ~100,000 containers,
    none of them garbage, and the collector would walk them again and again (half the read)."""
    paused = gc.isenabled()
    gc.disable()
    try:
        return _Reader(io.BytesIO(payload)).load()
    finally:
        if paused:
            gc.enable()


def known_terms() -> frozenset:
    """The terms shared so far (call before the KB is parsed)."""
    return frozenset(datagraph._CANONICAL)


def read(entry_key: str, kind: str = "kb-") -> Any | None:
    """The cached value under `entry_key`, or None (no cache, no entry, or one not to be trusted);
    `kind`: the entries' file prefix (each kind keeps its own newest few: `write`)."""
    if not enabled():
        return None
    where = _private_dir(create=False)
    if where is None:
        return None
    path = where / f"{kind}{entry_key}.pickle"
    try:
        with open(path, "rb") as f:
            info = os.fstat(f.fileno())
            if info.st_uid != os.getuid() or info.st_mode & 0o022:
                return None
            blob = f.read()
        header, payload = blob[:len(FORMAT) + 64 + 64 + 2], blob[len(FORMAT) + 64 + 64 + 2:]
        expected = FORMAT + entry_key.encode() + b"\n" + hashlib.blake2b(payload, digest_size=32).hexdigest().encode() + b"\n"
        if header != expected:
            return None
        terms, value = _load(payload)
    except Exception:  # noqa: BLE001 - a cache that cannot be read is no cache
        return None
    for term in terms:  # the KB's own terms become the process's shared ones
        datagraph.canonical(term)
    return value


def write(entry_key: str, value: Any, known: frozenset, kind: str = "kb-", kept: int | None = None) -> bool:
    """Keep `value` under `entry_key` (best effort: a cache that cannot be written is skipped);
    whether it was written. Only the `kept` (default KEEP) newest entries of its `kind` stay."""
    def payload() -> bytes:
        buffer = io.BytesIO()
        terms = [t for t in datagraph._CANONICAL.values() if type(t) in (URIRef, Literal) and t not in known]
        _Writer(buffer, known).dump((terms, value))
        return buffer.getvalue()
    return _keep(FORMAT, entry_key, payload, kind, ".pickle", KEEP if kept is None else kept)


def _keep(magic: bytes, entry_key: str, payload: Callable[[], bytes], kind: str, suffix: str, kept: int) -> bool:
    """Keep `payload()` as `<kind><entry_key><suffix>` in the private directory, under a header of
    `magic`, the key and the payload's digest (what `read` and `read_note` check); best effort. It is
    written to a private temporary file (0600) renamed into place, so a reader, or another process
    writing the same entry, sees the old file or the whole new one; then only the `kept` newest of
    its kind stay (a reader holding an older one open still reads it whole)."""
    if not enabled():
        return False
    try:
        where = _private_dir(create=True)
        if where is None:
            return False
        data = payload()
        header = magic + entry_key.encode() + b"\n" + hashlib.blake2b(data, digest_size=32).hexdigest().encode() + b"\n"
        fd, tmp = tempfile.mkstemp(prefix="." + kind, suffix=".tmp", dir=where)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(header + data)
            os.replace(tmp, where / f"{kind}{entry_key}{suffix}")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        entries = sorted(where.glob(f"{kind}*{suffix}"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[kept:]:
            old.unlink(missing_ok=True)
    except Exception:  # noqa: BLE001 - e.g. a read-only home, or a value that does not pickle: no cache
        return False
    return True


NOTE = b"blincyto-note 1\n"
NOTES_KEPT = 64  # notes are small: a verdict each


def read_note(entry_key: str) -> str | None:
    """A small text kept under `entry_key` (a verdict, e.g. HermiT's: reasoner/authoring/hermit.py), or
    None; read with the checks of `read` (a private directory, this user's file, a whole entry whose
    digest matches). A note is text, never code: the caller parses it and distrusts what it cannot."""
    if not enabled():
        return None
    where = _private_dir(create=False)
    if where is None:
        return None
    try:
        with open(where / f"note-{entry_key}.txt", "rb") as f:
            info = os.fstat(f.fileno())
            if info.st_uid != os.getuid() or info.st_mode & 0o022:
                return None
            blob = f.read()
    except OSError:
        return None
    size = len(NOTE) + len(entry_key) + 1 + 64 + 1
    header, payload = blob[:size], blob[size:]
    if header != NOTE + entry_key.encode() + b"\n" + hashlib.blake2b(payload, digest_size=32).hexdigest().encode() + b"\n":
        return None
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return None


def write_note(entry_key: str, text: str) -> bool:
    """Keep `text` under `entry_key` as `write` keeps an entry (a temporary file renamed into place, so
    concurrent writers each write a whole note); best effort, whether it was written."""
    return _keep(NOTE, entry_key, lambda: text.encode("utf-8"), "note-", ".txt", NOTES_KEPT)


KEEP = 24  # entries kept: a few policy versions' and checkouts' worth; every code change is a new key


def _entry(base_key: str, name: str) -> str:
    return hashlib.blake2b(f"{base_key}\0{name}".encode(), digest_size=32).hexdigest()


def remember_compiled(base_key: str | None, build: Callable[[], T], state: Callable[[T], Any] | None = None,
                      restore: Callable[[Any], T] | None = None) -> T:
    """The compiled shapes of a knowledge base read from the shipped files, kept beside it when the
    compiler can say them as data. `build()` compiles (and raises for a shape no back end can run);
    `state(compiled)` is what to keep (e.g. generated Python source: picklable, no closures) and
    `restore(state)` makes the compiled shapes from it again. Without both, or without a key, this
    is `build()`: the shapes are compiled on every load, as today (closures do not pickle).

    Safe as the KB entry is: the key is the KB's (every policy file's content and every module of
    the package, the compiler's included), a state is written only after `build()` succeeded (so a
    shape the engine refuses is refused at every load), and a state that does not restore is
    ignored and rebuilt."""
    if base_key is None or state is None or restore is None:
        return build()
    entry = _entry(base_key, "compiled shapes")
    hit = read(entry)
    if isinstance(hit, tuple) and len(hit) == 1:
        try:
            return restore(hit[0])
        except Exception:  # noqa: BLE001 - a state that does not restore is no cache
            pass
    value = build()
    write(entry, (state(value),), known_terms())
    return value


def remember(base_key: str | None, name: str, compute: Callable[[], T], kind: str = "kb-",
             refresh: bool = False) -> T:
    """`compute()`, kept under the knowledge base's key and `name`: a table derived from a cached
    knowledge base (e.g. Section V's) is as stale as the knowledge base, never more. `base_key`
    None (a knowledge base not read from the shipped files): computed every time. `name` must say
    everything else the value depends on (e.g. a date). `kind`: a file prefix of its own for values
    that are not the KB's (witnesses), so they do not push KB entries out. `refresh`: compute even
    when a value is kept (and keep the new one)."""
    if base_key is None:
        return compute()
    entry = _entry(base_key, name)
    hit = None if refresh else read(entry, kind)
    if isinstance(hit, tuple) and len(hit) == 1:
        return hit[0]
    value = compute()
    write(entry, (value,), known_terms(), kind)
    return value
