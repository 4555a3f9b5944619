"""The SPARQL store: the policy and every determination, in an embedded Oxigraph store or any SPARQL 1.1 store.

Informatics teams ask questions of the policy and of past decisions in SPARQL, so the store keeps
both as RDF named graphs (graph IRIs are stable and documented in the README):

  <https://w3id.org/blincyto-pa/graph/ontology>                   the domain ontology (ontology/*.ttl but
                                                                   the policy's own files below)
  <https://w3id.org/blincyto-pa/graph/policy/CP.PHAR.312/08.24>   the policy version: criteria tree,
                                                                   administration, Section V
  <https://w3id.org/blincyto-pa/graph/shapes/CP.PHAR.312/08.24>   the SHACL shapes of that version
  <https://w3id.org/blincyto-pa/graph/store>                      what was loaded, when, by which engine
  <urn:blincyto:determination:UUID:provenance>                    one determination: the PROV-O activity
  <urn:blincyto:determination:UUID:request>                       ... the request graph with derived facts
  <urn:blincyto:determination:UUID:validation-report>             ... its sh:ValidationReport
  <https://w3id.org/blincyto-pa/graph/shape-copies>               the reports' copies of shapes-graph nodes
                                                                   (a property shape, its sh:path), each once,
                                                                   named by a skolem IRI urn:blincyto:shape-copy:…

The policy and version segments come from the knowledge base (the bx:ClinicalPolicy and its
bx:currentVersion), so a new policy version loads beside the old one. Every determination gets a
fresh UUID: re-evaluating a request adds a determination and never overwrites one.

`blincyto query` and `blincyto serve` make the default graph the union of all graphs (pyoxigraph's
use_default_graph_as_union); a triple held by two graphs then appears twice, so the saved queries
use DISTINCT. The saved questions about the policy read only the graphs the manifest lists
(`GRAPH <.../graph/store> { ?load prov:generated ?kb } GRAPH ?kb { ... }`): their cost does not
grow with the number of determinations, and they need no union default graph on a remote store.

Use from other modules (batch mode, services):

    from reasoner.sparql import store
    with store.open_store(target) as s:   # a directory (created and loaded on first use), or the
        s.add(evaluation)                 # http(s) URL of a SPARQL 1.1 Update endpoint
        s.add_all(evaluations)            # one transaction / one HTTP request for many
        s.add_all(evaluations, bulk=True) # large batches: Oxigraph's bulk loader, ~2x faster

`add` returns the determination's activity IRI. Store problems raise StoreError (no PHI in it).
"""

from __future__ import annotations

import base64
import os
import random
import re
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterable, Iterator, Protocol, Union

import pyoxigraph as ox
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import DCTERMS, OWL, PROV, RDF, RDFS, SH, XSD

from reasoner.flow.provenance import BX, DIST_NAME, SHAPE_COPIES_GRAPH, engine_version, shared_copies
from reasoner.flow.provenance import determination_nquads as determination_nquads_of
from reasoner.policy.resources import data_dir, turtle_files
from reasoner.policy.oxigraph import to_oxigraph
from reasoner.sparql.querytext import names_dataset

__all__ = [
    "GRAPH_BASE", "ONTOLOGY_GRAPH", "STORE_GRAPH", "SHAPE_COPIES_GRAPH", "PREFIXES", "StoreError", "QuerySyntaxError", "LocalStore",
    "RemoteStore", "is_update",
    "open_store", "kb_store", "kb_quads", "determination_nquads", "determination_quads", "saved_queries", "resolve_query",
    "with_bindings", "with_prefixes", "query_endpoint", "query_local", "is_url",
]

GRAPH_BASE = "https://w3id.org/blincyto-pa/graph/"
ONTOLOGY_GRAPH = GRAPH_BASE + "ontology"
STORE_GRAPH = GRAPH_BASE + "store"

# Files of ontology/ that hold the policy's own content (not the domain ontology): they go to the
# policy-version graph. Any other file, including new ones, goes to the ontology graph.
POLICY_FILES = frozenset({"policy.ttl", "criteria.ttl", "section-v.ttl"})

PREFIXES: dict[str, str] = {
    "bx": str(BX),
    "kb": "https://w3id.org/blincyto-pa/kb/",
    "cp": "https://w3id.org/blincyto-pa/policy/CP.PHAR.312/",
    "shp": "https://w3id.org/blincyto-pa/shapes/CP.PHAR.312/",
    "sh": "http://www.w3.org/ns/shacl#",
    "prov": str(PROV),
    "dcterms": str(DCTERMS),
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "rdf": str(RDF),
    "rdfs": str(RDFS),
    "owl": str(OWL),
    "xsd": str(XSD),
}

HTTP_TIMEOUT_S = 60


class StoreError(RuntimeError):
    """A store could not be opened, written or queried. The message never quotes request data."""


class QuerySyntaxError(StoreError):
    """A query Oxigraph cannot parse; `line` and `column` (1-based) are those of the text it was given."""

    def __init__(self, detail: str, line: int | None = None, column: int | None = None) -> None:
        self.detail, self.line, self.column = detail, line, column
        super().__init__(self._words())

    def _words(self) -> str:
        where = f" at line {self.line}, column {self.column}" if self.line is not None else ""
        return f"SPARQL syntax error{where}: {self.detail}"

    def shifted(self, lines: int) -> "QuerySyntaxError":
        """The same error in a text `lines` shorter at the top (the prefixes a tool added taken away)."""
        if self.line is None or self.line <= lines:
            return self
        return QuerySyntaxError(self.detail, self.line - lines, self.column)


def _nn(iri: str) -> ox.NamedNode:
    return ox.NamedNode(iri)


# --------------------------------------------------------------------------- the knowledge base


def _policy_segments(quads: list[ox.Quad]) -> tuple[str, str] | None:
    """(policy id, version id) of the KB's clinical policy, read from its triples (no SPARQL needed)."""
    type_, ident = _nn(str(RDF.type)), _nn(str(DCTERMS.identifier))
    clinical, current = _nn(str(BX.ClinicalPolicy)), _nn(str(BX.currentVersion))
    identifiers: dict[Any, str] = {}
    policies, versions = [], {}
    for q in quads:
        if q.predicate == ident and isinstance(q.object, ox.Literal):
            identifiers[q.subject] = q.object.value
        elif q.predicate == type_ and q.object == clinical:
            policies.append(q.subject)
        elif q.predicate == current:
            versions[q.subject] = q.object
    for policy in sorted(policies, key=str):
        version = versions.get(policy)
        if policy in identifiers and version in identifiers:
            return identifiers[policy], identifiers[version]
    return None


def _segment(text: str) -> str:
    return urllib.parse.quote(text, safe=".-_~")


def kb_graph_names() -> dict[str, str]:
    """Role -> graph IRI: ontology, policy (the policy version), shapes, store (the manifest)."""
    return _kb()[0]


def kb_quads() -> list[ox.Quad]:
    """The shipped ontology and shapes as quads in their named graphs, plus the manifest graph.

    The knowledge base is loaded (and so checked: `reasoner.policy.integrity`) first: a policy that
    would refuse to start the reasoner does not go into a store either (PolicyError)."""
    from reasoner.flow.engine import default_reasoner

    default_reasoner()
    names, quads, _ = _kb()
    return quads + _manifest(names)


@lru_cache(maxsize=1)
def _kb() -> tuple[dict[str, str], list[ox.Quad], dict[str, list[str]]]:
    parsed: dict[str, list[ox.Quad]] = {}
    for folder in ("ontology", "shapes"):
        for path in turtle_files(folder):
            parsed[f"{folder}/{path.name}"] = list(ox.parse(path=str(path), format=ox.RdfFormat.TURTLE))
    policy_quads = [q for name, qs in parsed.items() if name.startswith("ontology/") for q in qs]
    segments = _policy_segments(policy_quads)
    suffix = "/".join(_segment(s) for s in segments) if segments else "current"
    names = {
        "ontology": ONTOLOGY_GRAPH,
        "policy": f"{GRAPH_BASE}policy/{suffix}",
        "shapes": f"{GRAPH_BASE}shapes/{suffix}",
        "store": STORE_GRAPH,
    }
    quads: list[ox.Quad] = []
    sources: dict[str, list[str]] = {role: [] for role in names}
    for name, triples in parsed.items():
        folder, file = name.split("/", 1)
        role = "shapes" if folder == "shapes" else ("policy" if file in POLICY_FILES else "ontology")
        sources[role].append(name)
        graph = _nn(names[role])
        # ox.parse keeps document blank-node labels; rename them per file so files never share one.
        fresh: dict[str, ox.BlankNode] = {}

        def term(t: Any) -> Any:
            if isinstance(t, ox.BlankNode):
                if t.value not in fresh:
                    fresh[t.value] = ox.BlankNode()
                return fresh[t.value]
            return t

        quads.extend(ox.Quad(term(q.subject), q.predicate, term(q.object), graph) for q in triples)
    return names, quads, sources


def _manifest(names: dict[str, str]) -> list[ox.Quad]:
    """The store graph: which KB graphs were loaded from which files, when and by which engine."""
    _, _, sources = _kb()
    g = _nn(names["store"])
    version = engine_version()
    load = _nn(f"urn:blincyto:store-load:{uuid.uuid4()}")
    agent = _nn(f"urn:blincyto:software:{DIST_NAME}:{version}")
    now = ox.Literal(datetime.now(timezone.utc).isoformat(), datatype=_nn(str(XSD.dateTime)))
    t = _nn(str(RDF.type))
    out = [
        ox.Quad(load, t, _nn(str(PROV.Activity)), g),
        ox.Quad(load, _nn(str(RDFS.label)), ox.Literal("knowledge base loaded into the store"), g),
        ox.Quad(load, _nn(str(PROV.endedAtTime)), now, g),
        ox.Quad(load, _nn(str(PROV.wasAssociatedWith)), agent, g),
        ox.Quad(agent, t, _nn(str(PROV.SoftwareAgent)), g),
        ox.Quad(agent, _nn(str(RDFS.label)), ox.Literal(DIST_NAME), g),
        ox.Quad(agent, _nn(str(OWL.versionInfo)), ox.Literal(version), g),
    ]
    for role in ("ontology", "policy", "shapes"):
        graph = _nn(names[role])
        out.append(ox.Quad(load, _nn(str(PROV.generated)), graph, g))
        out.append(ox.Quad(graph, t, _nn(str(PROV.Entity)), g))
        out.append(ox.Quad(graph, _nn(str(RDFS.label)), ox.Literal(f"{role} graph"), g))
        for source in sources[role]:
            out.append(ox.Quad(graph, _nn(str(DCTERMS.source)), ox.Literal(source), g))
    # The policy version node names the graphs that describe it.
    segments_version = _current_version()
    if segments_version is not None:
        for role in ("policy", "shapes"):
            out.append(ox.Quad(segments_version, _nn(str(BX.describedIn)), _nn(names[role]), g))
    return out


def _current_version() -> ox.NamedNode | None:
    _, quads, _ = _kb()
    current = _nn(str(BX.currentVersion))
    return next((q.object for q in quads if q.predicate == current and isinstance(q.object, ox.NamedNode)), None)


@lru_cache(maxsize=1)
def kb_store() -> ox.Store:
    """The bundled knowledge base as an in-memory store, loaded once per process (query without --store)."""
    s = ox.Store()
    s.extend(kb_quads())
    return s


# --------------------------------------------------------------------------- determinations


def determination_nquads(evaluation: Any, written: set[str] | None = None) -> tuple[str, str]:
    """(activity IRI, N-Quads text) for one evaluation, in the store's named graphs.

    The graphs of provenance.determination_graph, written directly as text
    (`provenance.determination_nquads`): the PROV-O part (that dataset's default graph) goes to
    `<activity>:provenance`, which the activity points to (bx:describedIn); the request and report
    graphs keep the names it gives them, but the report's copies of shapes-graph nodes (a property
    shape, its path) go once to SHAPE_COPIES_GRAPH, named by skolem IRIs (about a third of a report's
    quads). `written`: the copies already in the text stored with this one (one set a transaction)."""
    return determination_nquads_of(evaluation, provenance_graph=True, shared=shared_copies(written))


def determination_quads(evaluation: Any, written: set[str] | None = None) -> tuple[str, list[ox.Quad]]:
    """(activity IRI, quads) for one evaluation: `determination_nquads`, parsed by Oxigraph."""
    iri, text = determination_nquads(evaluation, written)
    return iri, list(ox.parse(text, format=ox.RdfFormat.N_QUADS))


# --------------------------------------------------------------------------- stores


class DeterminationStore(Protocol):
    """What `check --store` and batch mode need: add evaluations, then close."""

    def add(self, evaluation: Any) -> str: ...
    def add_all(self, evaluations: Iterable[Any], *, bulk: bool = False) -> list[str]: ...
    def close(self) -> None: ...


class LocalStore:
    """An embedded, on-disk Oxigraph store (pyoxigraph): the default, no server needed.

    Safe against the faults of a pipeline (issue 13):

    - **Created whole or not at all**: a new store is built and loaded beside its directory
      (`.NAME.partial-PID-...`) and renamed into place, so a kill leaves no directory that looks like
      a store; a partial left by a dead process is removed by the next open. Reloading the knowledge
      base (`store init`) is one SPARQL update, one transaction: the old graphs or the new ones.
    - **Writers wait their turn**: RocksDB lets one process write; another `check --store` retries
      the open for up to `wait_s` seconds (BLINCYTO_STORE_WAIT_S, default 300) instead of failing.
      Writers queue on an flock of `blincyto-writer.lock` in the store, and a writer computes its
      quads before it queues, so the lock is held only to open, write and close.
    - **Old logs do not pile up**: RocksDB leaves a `LOG.old.*` at every open; all but the newest
      two are removed.
    - **Private files**: while a store is open the process umask is made at least 077, so every
      file RocksDB writes is 0600 and a new store's directory 0700 (a stricter umask is kept). The
      files hold PHI; an existing store's modes are left as its operator set them.
    """

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True, read_only: bool = False,
                 wait_s: float | None = None) -> None:
        self.path = Path(path)
        fresh = not self.path.exists() or (self.path.is_dir() and not any(self.path.iterdir()))
        if fresh and not create:
            raise StoreError(f"no store at {self.path} (create one with: blincyto store init {self.path})")
        if self.path.exists() and not self.path.is_dir():
            raise StoreError(f"{self.path} is a file, not a store directory")
        if not fresh and not (self.path / "CURRENT").is_file():  # RocksDB's marker file
            raise StoreError(f"{self.path} is neither empty nor a store: not writing into it")
        self._store: ox.Store | None = None
        self._read_only = read_only
        self._wait_s = STORE_WAIT_S if wait_s is None else wait_s
        self._lock: int | None = None
        self._closed = False
        self._umask: int | None = _private_umask()
        try:
            _remove_dead_partials(self.path)
            if fresh:
                _create_beside(self.path)
        except BaseException:
            self.close()
            raise

    @property
    def store(self) -> ox.Store:
        """The open database. Opened on first use, so a writer computes its quads before it queues."""
        if self._closed:
            raise StoreError("the store is closed")
        if self._store is None:
            try:
                if not self._read_only:
                    self._lock = _writer_lock(self.path, self._wait_s)
                self._store = _open(self.path, self._read_only, self._wait_s)
                _prune_old_logs(self.path)
                if not self._read_only and not self.is_initialised():
                    self.init_kb()
            except BaseException:
                self.close()
                raise
        return self._store

    def is_initialised(self) -> bool:
        return ox.NamedNode(STORE_GRAPH) in set(self.store.named_graphs())

    def init_kb(self) -> dict[str, str]:
        """(Re)load the ontology, policy-version and shapes graphs in one transaction; determinations are left alone."""
        names = kb_graph_names()
        try:
            self.store.update(_replace_kb_update(names))
            self.store.flush()
        except OSError as exc:
            raise StoreError(f"cannot write the store at {self.path}: {_first_line(exc)}") from None
        return names

    def add(self, evaluation: Any) -> str:
        """Add one determination as new named graphs; returns its activity IRI."""
        return self.add_all([evaluation])[0]

    def add_all(self, evaluations: Iterable[Any], *, bulk: bool = False) -> list[str]:
        """Add many determinations in one transaction.

        Each determination is written as N-Quads text (`determination_nquads`) and Oxigraph parses and
        loads it: about 2 ms of Python a determination; the rest is Oxigraph's (~640 quads a
        determination, loaded in one transaction at the rate docs/performance.md gives).
        `bulk=True` writes through Oxigraph's bulk loader instead: about twice
        as fast, but not one transaction: a crash part-way can leave part of the batch stored.
        """
        iris, texts, written = [], [], set()
        for ev in evaluations:
            iri, text = determination_nquads(ev, written)
            iris.append(iri)
            texts.append(text)
        return self.add_nquads(iris, texts, bulk=bulk)

    def add_nquads(self, iris: list[str], texts: Iterable[str], *, bulk: bool = False) -> list[str]:
        """Store determinations already written as N-Quads (`determination_nquads`; batch writes
        them in its worker processes): Oxigraph parses and loads them, no term is built in Python."""
        data = "".join(texts).encode("utf-8")
        try:
            if data:
                (self.store.bulk_load if bulk else self.store.load)(data, format=ox.RdfFormat.N_QUADS)
            self.store.flush()
        except OSError as exc:
            raise StoreError(f"cannot write the store at {self.path}: {_first_line(exc)}") from None
        except SyntaxError:  # never expected: the text is ours; nothing was written (load is one transaction)
            raise StoreError(f"cannot write the store at {self.path}: a determination's N-Quads did not parse "
                             "(internal error; please report it)") from None
        return iris

    def query(self, text: str) -> Any:
        """Run a SPARQL query; the default graph is the union of all graphs."""
        return _run_query(self.store, text)

    def close(self) -> None:
        self._closed = True
        self._store = None  # pyoxigraph closes the database when the object is dropped
        if self._lock is not None:
            os.close(self._lock)  # releases the writers' lock, after RocksDB's
            self._lock = None
        if self._umask is not None:
            os.umask(self._umask)
            self._umask = None

    def __enter__(self) -> "LocalStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


STORE_WAIT_S = float(os.environ.get("BLINCYTO_STORE_WAIT_S", "300"))
KEEP_OLD_LOGS = 2
_PARTIAL = ".{name}.partial-"


def _private_umask() -> int:
    """Make the umask at least 077 (files 0600, directories 0700); returns the one to restore."""
    old = os.umask(0o077)
    os.umask(old | 0o077)
    return old


def _replace_kb_update(names: dict[str, str]) -> str:
    """One SPARQL update dropping the knowledge-base graphs and inserting them anew (one transaction)."""
    drops = " ;\n".join(f"DROP SILENT GRAPH <{g}>" for g in names.values())
    return drops + " ;\n" + _insert_data(kb_quads())


def _create_beside(path: Path) -> None:
    """Build a new store with the knowledge base next to `path`, then rename it into place.

    If another process created the store meanwhile, ours is discarded and theirs is used.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.parent / f"{_PARTIAL.format(name=path.name)}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        store = ox.Store(str(partial))
        store.extend(kb_quads())
        store.flush()
        del store
        try:
            os.rename(partial, path)  # atomic; replaces an empty directory on POSIX
        except OSError:
            if not (path / "CURRENT").is_file():
                raise
    except OSError as exc:
        raise StoreError(f"cannot create the store at {path}: {_first_line(exc)}") from None
    finally:
        if partial.exists():
            shutil.rmtree(partial, ignore_errors=True)


def _remove_dead_partials(path: Path) -> None:
    """Remove stores half-built beside `path` by processes that no longer run (a kill during creation)."""
    prefix = _PARTIAL.format(name=path.name)
    if not path.parent.is_dir():
        return
    for entry in path.parent.iterdir():
        if not entry.name.startswith(prefix) or not entry.is_dir():
            continue
        pid = entry.name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


WRITER_LOCK = "blincyto-writer.lock"


def _writer_lock(path: Path, wait_s: float) -> int | None:
    """Queue this process behind the store's other writers (an flock beside RocksDB's own lock).

    Waiting here, not in RocksDB's open, keeps a waiting writer from touching the database (a failed
    RocksDB open still rotates its info log). Returns the descriptor to close, or None without fcntl.
    """
    try:
        import fcntl
    except ImportError:  # not POSIX: RocksDB's own lock, retried by _open, is the queue
        return None
    try:
        fd = os.open(path / WRITER_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StoreError(f"cannot open the store at {path}: {exc.strerror or 'error'}") from None
    deadline = time.monotonic() + wait_s
    pause = 0.01
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise StoreError(f"the store at {path} is busy: other writers kept it for {wait_s:g} s "
                                 "(set BLINCYTO_STORE_WAIT_S to wait longer)") from None
        time.sleep(pause + random.uniform(0, pause))
        pause = min(pause * 1.5, 0.25)


def _open(path: Path, read_only: bool, wait_s: float) -> ox.Store:
    """Open the store; while another process holds RocksDB's write lock, retry until `wait_s` pass."""
    deadline = time.monotonic() + wait_s
    pause = 0.05
    while True:
        try:
            return ox.Store.read_only(str(path)) if read_only else ox.Store(str(path))
        except OSError as exc:
            busy = "lock" in str(exc).lower()
            if not busy:
                raise StoreError(f"cannot open the store at {path}: {_first_line(exc)}") from None
            if time.monotonic() >= deadline:
                raise StoreError(f"the store at {path} is busy: another process kept it open for {wait_s:g} s "
                                 "(set BLINCYTO_STORE_WAIT_S to wait longer)") from None
        time.sleep(min(pause, max(0.0, deadline - time.monotonic())) + random.uniform(0, pause / 2))
        pause = min(pause * 1.5, 1.0)


def _prune_old_logs(path: Path) -> None:
    """Remove RocksDB's old info logs (one per open, ~140 KB each) but the newest KEEP_OLD_LOGS."""
    try:
        old = sorted(path.glob("LOG.old.*"), key=lambda p: p.name)
        for log in old[:-KEEP_OLD_LOGS] if KEEP_OLD_LOGS else old:
            log.unlink(missing_ok=True)
    except OSError:
        pass  # a log another process removed first, or a read-only folder: nothing to do


class RemoteStore:
    """Any SPARQL 1.1 store over HTTP (Oxigraph server, Fuseki, GraphDB, Stardog): writes by SPARQL Update.

    `update_url` is the store's Update endpoint (Oxigraph: http://host:7878/update, Fuseki:
    http://host:3030/DATASET/update, GraphDB: http://host:7200/repositories/REPO/statements).
    One determination is one INSERT DATA request, so it lands whole or not at all.
    """

    def __init__(self, update_url: str) -> None:
        if not is_url(update_url):
            raise StoreError("a remote store is an http:// or https:// URL")
        self.update_url = update_url

    def _post(self, update: str) -> None:
        _http(_post_request(self.update_url, update.encode("utf-8"),
                            {"Content-Type": "application/sparql-update; charset=utf-8"}))

    def init_kb(self) -> dict[str, str]:
        """Replace the knowledge-base graphs (DROP SILENT GRAPH, then INSERT DATA)."""
        names = kb_graph_names()
        drops = " ;\n".join(f"DROP SILENT GRAPH <{g}>" for g in names.values())
        self._post(drops + " ;\n" + _insert_data(kb_quads()))
        return names

    def update(self, text: str) -> None:
        """Run one SPARQL 1.1 Update (one request: it lands whole or not at all)."""
        self._post(text)

    def add(self, evaluation: Any) -> str:
        return self.add_all([evaluation])[0]

    def add_all(self, evaluations: Iterable[Any], *, bulk: bool = False) -> list[str]:
        """Add many determinations in one INSERT DATA request (`bulk` has no other meaning here)."""
        iris, quads, written = [], [], set()
        for ev in evaluations:
            iri, qs = determination_quads(ev, written)
            iris.append(iri)
            quads.extend(qs)
        if quads:
            self._post(_insert_data(quads))
        return iris

    def add_nquads(self, iris: list[str], texts: Iterable[str], *, bulk: bool = False) -> list[str]:
        """Store determinations already written as N-Quads, in one INSERT DATA request."""
        quads = list(ox.parse("".join(texts), format=ox.RdfFormat.N_QUADS))
        if quads:
            self._post(_insert_data(quads))
        return iris

    def close(self) -> None:
        pass

    def __enter__(self) -> "RemoteStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


AnyStore = Union[LocalStore, RemoteStore]


def is_url(target: str | os.PathLike[str]) -> bool:
    return isinstance(target, str) and target.lower().startswith(("http://", "https://"))


def open_store(target: str | os.PathLike[str], *, create: bool = True) -> AnyStore:
    """A directory -> LocalStore (created and loaded with the KB when new); an http(s) URL -> RemoteStore."""
    if is_url(target):
        return RemoteStore(str(target))
    return LocalStore(target, create=create)


def _insert_data(quads: Iterable[ox.Quad]) -> str:
    """One INSERT DATA with a GRAPH block per named graph (terms in N-Triples syntax, valid SPARQL)."""
    graphs: dict[str, list[str]] = {}
    for q in quads:
        graphs.setdefault(str(q.graph_name), []).append(f"{q.subject} {q.predicate} {q.object} .")
    body = "\n".join(f"GRAPH {g} {{\n" + "\n".join(lines) + "\n}" for g, lines in graphs.items())
    return "INSERT DATA {\n" + body + "\n}"


AUTH_ENV = ("BLINCYTO_STORE_TOKEN", "BLINCYTO_STORE_USER", "BLINCYTO_STORE_PASSWORD")


def _post_request(url: str, data: bytes, headers: dict[str, str]) -> urllib.request.Request:
    """A POST to a store, with its credentials when it needs them.

    `https://user:password@host/...` sends HTTP Basic and is sent (and named in errors) without the
    user and password; otherwise BLINCYTO_STORE_TOKEN sends `Authorization: Bearer`, and
    BLINCYTO_STORE_USER with BLINCYTO_STORE_PASSWORD send Basic. Credentials are never logged.
    """
    parts = urllib.parse.urlsplit(url)
    headers = dict(headers)
    user, password = parts.username, parts.password
    if user is not None:
        url = urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
        user, password = urllib.parse.unquote(user), urllib.parse.unquote(password or "")
    elif os.environ.get("BLINCYTO_STORE_TOKEN"):
        headers["Authorization"] = "Bearer " + os.environ["BLINCYTO_STORE_TOKEN"]
    elif os.environ.get("BLINCYTO_STORE_USER"):
        user, password = os.environ["BLINCYTO_STORE_USER"], os.environ.get("BLINCYTO_STORE_PASSWORD", "")
    if user is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return urllib.request.Request(url, data=data, method="POST", headers=headers)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def _http(req: urllib.request.Request) -> bytes:
    try:
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT_S) as resp:  # noqa: S310 - user-chosen URL
            return resp.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read(300).decode("utf-8", "replace").strip().splitlines()
        raise StoreError(f"{req.full_url} answered {exc.code} {exc.reason}"
                         + (f": {detail[0]}" if detail else "")) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise StoreError(f"cannot reach {req.full_url}: {reason}") from None


# --------------------------------------------------------------------------- queries


def saved_queries() -> dict[str, Path]:
    """name -> file of the saved queries (queries/*.rq; shipped in the wheel as reasoner/queries)."""
    folder = data_dir("queries")
    return {p.stem: p for p in sorted(folder.glob("*.rq"))} if folder.is_dir() else {}


def query_question(path: Path) -> str:
    """The question a saved query answers: its leading comment lines."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    return " ".join(x for x in lines if x).strip()


def resolve_query(arg: str) -> str:
    """A saved query's name, a .rq file, or the query text itself."""
    saved = saved_queries()
    if arg in saved:
        return saved[arg].read_text(encoding="utf-8")
    if "\n" not in arg and len(arg) < 4096:
        path = Path(arg)
        if path.suffix in (".rq", ".sparql") or path.is_file():
            try:
                return path.read_text(encoding="utf-8")
            except OSError as exc:
                raise StoreError(f"cannot read {arg}: {exc.strerror or exc}") from None
    if is_update(arg):
        raise StoreError(UPDATES_REFUSED)
    if re.search(r"\b(SELECT|ASK|CONSTRUCT|DESCRIBE)\b", arg, re.IGNORECASE):
        return arg
    names = ", ".join(saved) or "none"
    raise StoreError(f"{arg!r} is not a saved query ({names}), a file or a SPARQL query")


UPDATES_REFUSED = ("updates are refused: queries only read (SELECT, ASK, CONSTRUCT, DESCRIBE); "
                   "determinations are added by `blincyto check --store`, the knowledge base by `blincyto store init`")
_UPDATE_KEYWORDS = ("INSERT", "DELETE", "LOAD", "CLEAR", "CREATE", "DROP", "COPY", "MOVE", "ADD", "WITH")


def _code(text: str) -> str:
    """The query without comments, strings and IRIs: what is left is keywords, names and punctuation."""
    text = re.sub(r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'', " ", text)
    text = re.sub(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|<[^<>"{}|^`\\\s]*>', " ", text)
    return re.sub(r"#[^\n]*", " ", text)


def is_update(text: str) -> bool:
    """True for a SPARQL 1.1 Update (INSERT, DELETE, LOAD, ...): its first keyword after the prologue."""
    code = re.sub(r"\b(PREFIX\s+[\w.-]*:|BASE)\s*", " ", _code(text), flags=re.IGNORECASE)
    first = re.search(r"[A-Za-z]+", code)
    return first is not None and first.group(0).upper() in _UPDATE_KEYWORDS


_PREFIX_DECL = re.compile(r"^\s*PREFIX\s+([A-Za-z][\w.-]*)?:", re.IGNORECASE | re.MULTILINE)


def with_prefixes(text: str) -> str:
    """Declare the project's usual prefixes that the query does not declare itself."""
    declared = {m.group(1) or "" for m in _PREFIX_DECL.finditer(text)}
    missing = [f"PREFIX {p}: <{iri}>" for p, iri in PREFIXES.items() if p not in declared]
    return ("\n".join(missing) + "\n" + text) if missing else text


_VAR = re.compile(r"^[A-Za-z_]\w*$")


def with_bindings(text: str, bindings: dict[str, str]) -> str:
    """Append a trailing VALUES clause (SPARQL 1.1) fixing variables: works in-process and over HTTP.

    Each value is an RDF term in SPARQL syntax: kb:LOB-commercial, <https://...>, "08.24", 3.
    """
    if not bindings:
        return text
    code = _code(text)
    for name in bindings:
        if not _VAR.match(name):
            raise StoreError(f"--bind: {name!r} is not a variable name")
        if not re.search(rf"[?$]{name}\b", code):
            raise StoreError(f"--bind: the query has no variable ?{name}")
    names = list(bindings)
    row = " ".join(bindings[n] for n in names)
    return f"{text.rstrip()}\nVALUES ({' '.join('?' + n for n in names)}) {{ ({row}) }}\n"


_POSITION = re.compile(r"^error at (\d+):(\d+):\s*")


def _syntax_error(exc: SyntaxError) -> QuerySyntaxError:
    """Oxigraph's "error at LINE:COLUMN: detail" as a QuerySyntaxError."""
    text = _first_line(exc)
    found = _POSITION.match(text)
    if found is None:
        return QuerySyntaxError(text)
    return QuerySyntaxError(text[found.end():], int(found.group(1)), int(found.group(2)))


def _run_query(store: ox.Store, text: str) -> Any:
    if is_update(text):
        raise StoreError(UPDATES_REFUSED)
    try:
        # the union of the graphs, unless the query names its own dataset (FROM / FROM NAMED)
        return store.query(text, use_default_graph_as_union=not names_dataset(text))
    except SyntaxError as exc:
        raise _syntax_error(exc) from None
    except OSError as exc:
        raise StoreError(f"query failed: {_first_line(exc)}") from None


def query_local(target: str | os.PathLike[str] | None, text: str) -> Any:
    """Query a store directory (opened read-only), or the bundled knowledge base when target is None."""
    if target is None:
        return _run_query(kb_store(), text)
    path = Path(target)
    if not path.is_dir() or not any(path.iterdir()):
        raise StoreError(f"no store at {path} (create one with: blincyto store init {path})")
    try:
        store = ox.Store.read_only(str(path))
    except OSError as exc:
        raise StoreError(f"cannot open the store at {path}: {_first_line(exc)}") from None
    return _run_query(store, text)


def query_endpoint(url: str, text: str) -> Any:
    """Run a query on a SPARQL 1.1 Protocol endpoint; results parsed into pyoxigraph objects."""
    kind = _query_kind(text)
    accept = "application/sparql-results+json" if kind in ("SELECT", "ASK") else "application/n-triples"
    req = _post_request(url, urllib.parse.urlencode({"query": text}).encode(),
                        {"Content-Type": "application/x-www-form-urlencoded", "Accept": accept})
    body = _http(req)
    try:
        if kind in ("SELECT", "ASK"):
            return ox.parse_query_results(body, format=ox.QueryResultsFormat.JSON)
        return [q.triple for q in ox.parse(body, format=ox.RdfFormat.N_TRIPLES)]
    except SyntaxError as exc:
        raise StoreError(f"{url} sent results that are not SPARQL JSON/N-Triples: {_first_line(exc)}") from None


def _query_kind(text: str) -> str:
    """SELECT, ASK, CONSTRUCT or DESCRIBE: the first query keyword outside comments and strings."""
    stripped = re.sub(r"#[^\n]*", " ", re.sub(r'"[^"\n]*"|\'[^\'\n]*\'|<[^>\s]*>', " ", text))
    match = re.search(r"\b(SELECT|ASK|CONSTRUCT|DESCRIBE)\b", stripped, re.IGNORECASE)
    return match.group(1).upper() if match else "SELECT"


def store_summary(path: str | os.PathLike[str]) -> Iterator[tuple[str, int]]:
    """(graph IRI, triple count) of a store directory, knowledge-base graphs first."""
    store = ox.Store.read_only(str(path))
    counts: dict[str, int] = {}
    for q in store.quads_for_pattern(None, None, None, None):
        key = str(q.graph_name.value) if not isinstance(q.graph_name, ox.DefaultGraph) else "(default graph)"
        counts[key] = counts.get(key, 0) + 1
    yield from sorted(counts.items(), key=lambda kv: (not kv[0].startswith(GRAPH_BASE), kv[0]))
