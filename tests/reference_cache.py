"""A content-keyed cache of pySHACL's answers (the reference engine), kept between test runs.

pySHACL costs ~130 ms a request, the largest single cost of the suite (the differential's 500
generated requests and every case, each run). Its answer is a function of what it is given: the
shapes graph, the data graph, the options, and the code that runs (pySHACL, rdflib and the rest of
pySHACL's requirements, this project's runner). The cache key covers all of it:

- the installed distributions pySHACL requires (recursively), each by version and by the sha256 of
  its RECORD (the list of its installed files with their hashes), the Python version, and the
  source of `reasoner/shacl/pyshacl_engine.py` and `reasoner/shacl/fallback.py` (the runner, its
  options, `context_aware`);
- the shapes graph and the data graph by content: every triple, terms by kind, lexical form,
  datatype, language and value, blank nodes by a content-derived label (`blank_labels`), and both
  graphs' prefix bindings (pySHACL's default messages write qualified names).

The labels are injective: two graphs with the same labelled triples are the same graph up to the
blank nodes' names, and the labels map one onto the other. pySHACL's answer does not depend on
blank-node names, so a hit, the stored report with its blank nodes mapped back through the labels,
is what pySHACL answers for this graph (a report whose text would name a blank node is never stored).
The runner's own code after pySHACL (`ShapesRunner._collect`: the results by shape) and everything
after it (explain, decide) runs for real on the report, hit or miss.

`BLINCYTO_PYSHACL_CACHE=off` (or 0) turns it off; `BLINCYTO_PYSHACL_CACHE=DIR` puts it in DIR; by
default `$XDG_CACHE_HOME/blincyto-tests/pyshacl` (`~/.cache/...`), outside the checkout, so a fresh
machine (`.ci/run`) computes every answer. See docs/testing.md. Tested by tests/test_reference_cache.py.
"""

from __future__ import annotations

import hashlib
import inspect
import importlib.metadata as metadata
import os
import pickle
import re
import sys
import tempfile
import uuid
import zlib
from collections import defaultdict
from functools import lru_cache
from pathlib import Path

from rdflib import BNode, Graph, Literal, URIRef

ENV = "BLINCYTO_PYSHACL_CACHE"
REPO = Path(__file__).resolve().parent.parent
_RUNNER_SOURCES = ("reasoner/shacl/pyshacl_engine.py", "reasoner/shacl/fallback.py")
_FORMAT = "1"  # of the stored entries


def cache_dir() -> Path | None:
    """Where the answers are kept, or None when the environment turns the cache off."""
    value = os.environ.get(ENV, "").strip()
    if value.lower() in {"0", "off", "no", "false"}:
        return None
    if value:
        return Path(value)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "blincyto-tests" / "pyshacl"


def install(reference, directory: Path | None = None):
    """The pySHACL `Reasoner` `reference`, its runner wrapped by the cache (unchanged when it is off)."""
    directory = cache_dir() if directory is None else directory
    if directory is not None:
        reference._runner = CachedRunner(reference._runner, reference.kb.shapes, directory)
    return reference


@lru_cache(maxsize=1)
def environment() -> str:
    """What pySHACL's answer depends on besides its input: the code that runs, by content."""
    parts = [sys.version]
    for name in sorted(_requirements("pyshacl")):
        dist = metadata.distribution(name)
        record = dist.read_text("RECORD") or ""
        parts.append(f"{name}=={dist.version} {hashlib.sha256(record.encode()).hexdigest()}")
    for rel in _RUNNER_SOURCES:
        parts.append(f"{rel} {hashlib.sha256((REPO / rel).read_bytes()).hexdigest()}")
    return "\n".join(parts)


def _requirements(name: str, seen: set | None = None) -> set:
    seen = set() if seen is None else seen
    key = name.lower().replace("_", "-")
    if key in seen:
        return seen
    seen.add(key)
    for req in metadata.requires(name) or []:
        if "extra ==" in req:
            continue
        dep = re.split(r"[ ;<>=!~\[(]", req, maxsplit=1)[0]
        try:
            metadata.distribution(dep)
        except metadata.PackageNotFoundError:
            continue
        _requirements(dep, seen)
    return seen


def _term(t, labels: dict) -> tuple:
    """A term as plain data: injective (kind, lexical form, datatype, language, value)."""
    if isinstance(t, BNode):
        return ("B", labels[t])
    if isinstance(t, Literal):
        return ("L", str(t), str(t.datatype or ""), t.language or "", repr(t.value), t.ill_typed)
    return ("U", str(t)) if isinstance(t, URIRef) else ("?", type(t).__name__, str(t))


def blank_labels(graph: Graph) -> dict[BNode, str]:
    """Every blank node of `graph` -> a label made from the graph's content, distinct per node.

    Colour refinement (each node's colour from its triples and its neighbours' colours, until the
    classes stop splitting), then, while two nodes share a colour, one of them is set apart and the
    colours refined again. The labels are always distinct (so the labelled triples are the graph up to
    blank-node names); they do not depend on the names where the graph's blank nodes are told apart by
    their surroundings (the shapes and the request graphs: trees hung from IRIs), else a miss.
    """
    out_edges: dict = defaultdict(list)
    in_edges: dict = defaultdict(list)
    for s, p, o in graph:
        if isinstance(s, BNode):
            out_edges[s].append((p, o))
        if isinstance(o, BNode):
            in_edges[o].append((s, p))
    nodes = sorted(set(out_edges) | set(in_edges), key=str)
    fixed: dict = {}

    def colour(t, colours):
        return colours[t] if isinstance(t, BNode) else t.n3()

    def refine(colours):
        classes = len(set(colours.values()))
        while True:
            new = {}
            for b in nodes:
                sig = (colours[b], sorted((p.n3(), colour(o, colours)) for p, o in out_edges[b]),
                       sorted((colour(s, colours), p.n3()) for s, p in in_edges[b]))
                new[b] = hashlib.sha1(repr(sig).encode()).hexdigest()
            if len(set(new.values())) == classes:
                return new
            colours, classes = new, len(set(new.values()))

    colours = refine({b: "" for b in nodes})
    while True:
        groups: dict = defaultdict(list)
        for b in nodes:
            groups[colours[b]].append(b)
        tied = sorted(c for c, members in groups.items() if len(members) > 1)
        if not tied:
            return colours
        first = groups[tied[0]][0]  # an arbitrary one: the labels stay distinct, may differ per run
        fixed[first] = len(fixed)
        colours = refine({b: colours[b] + (f"*{fixed[b]}" if b in fixed else "") for b in nodes})


def graph_key(graph: Graph, labels: dict) -> str:
    triples = sorted(repr((_term(s, labels), _term(p, labels), _term(o, labels))) for s, p, o in graph)
    prefixes = sorted((str(prefix), str(ns)) for prefix, ns in graph.namespaces())
    return hashlib.sha256(repr((triples, prefixes)).encode()).hexdigest()


class AnswerStore:
    """pySHACL's answers on disk, one file per key: (conforms, report graph), the blank nodes of the
    data graph and of the shapes graph written as their labels (mapped back to the asking graphs')."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.hits = self.misses = 0

    def key(self, how: str, shapes_key: str, data: Graph, labels: dict) -> str:
        parts = (_FORMAT, environment(), how, shapes_key, graph_key(data, labels))
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / key

    def get(self, key: str, data_labels: dict, shape_labels: dict) -> tuple[bool, Graph] | None:
        try:
            stored = pickle.loads(zlib.decompress(self._path(key).read_bytes()))
        except (OSError, ValueError, EOFError, pickle.UnpicklingError, zlib.error):
            self.misses += 1
            return None
        self.hits += 1
        nodes = {"d": {label: b for b, label in data_labels.items()},
                 "s": {label: b for b, label in shape_labels.items()}}
        own_prefix, own = f"r{uuid.uuid4().hex[:12]}x", {}  # the report's own blank nodes: new ones

        def dec(t):
            if isinstance(t, tuple):
                kind, label = t
                if kind == "r":
                    return own.setdefault(label, BNode(f"{own_prefix}{len(own)}"))
                return nodes[kind][label]
            return t

        report = Graph(store="SimpleMemory")  # no contexts, no triple events: read only
        for prefix, ns in stored["namespaces"]:
            report.bind(prefix, ns, override=True, replace=True)
        try:
            report.addN((dec(s), dec(p), dec(o), report) for s, p, o in stored["triples"])
        except KeyError:  # a label the asking graphs do not have: not this answer (cannot happen by key)
            self.hits, self.misses = self.hits - 1, self.misses + 1
            return None
        return stored["conforms"], report

    def put(self, key: str, conforms: bool, report: Graph, data_labels: dict, shape_labels: dict) -> None:
        if type(report) is not Graph or not isinstance(conforms, bool):
            return  # not a report (pySHACL answers some refusals with a ValidationFailure): not kept
        names = [str(b) for b in data_labels] + [str(b) for b in shape_labels]
        text = "\x00".join(str(t) for triple in report for t in triple if isinstance(t, Literal))
        if any(name in text for name in names):
            return  # a message names a blank node: the answer would depend on its name, not kept

        def enc(t):
            if isinstance(t, BNode):
                if t in data_labels:
                    return ("d", data_labels[t])
                if t in shape_labels:
                    return ("s", shape_labels[t])
                return ("r", str(t))
            return t

        entry = {"conforms": bool(conforms), "triples": [tuple(enc(t) for t in triple) for triple in report],
                 "namespaces": [(str(p), str(ns)) for p, ns in report.namespaces()]}
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as f:
                f.write(zlib.compress(pickle.dumps(entry, protocol=pickle.HIGHEST_PROTOCOL)))
            os.replace(f.name, path)  # whole or not at all: the workers write side by side
        except OSError:
            pass  # a cache that cannot be written is a cache that misses


class CachedRunner:
    """`ShapesRunner.run` with pySHACL's report kept by content (see the module doc); the results by
    shape (`ShapesRunner._collect`) are read from the report, hit or miss."""

    def __init__(self, runner, shapes: Graph, directory: Path) -> None:
        self.runner = runner
        self.owner = runner.owner
        self.store = AnswerStore(directory)
        self.shapes = ShapesKey(shapes)

    @property
    def hits(self) -> int:
        return self.store.hits

    @property
    def misses(self) -> int:
        return self.store.misses

    def run(self, data: Graph):
        from reasoner.shacl.report import Report

        shape_labels, shapes_key = self.shapes.current()
        labels = blank_labels(data)
        key = self.store.key("ShapesRunner.run", shapes_key, data, labels)
        stored = self.store.get(key, labels, shape_labels)
        if stored is not None:
            conforms, report = stored
            return Report(report, conforms, self.runner._collect(report))
        result = self.runner.run(data)
        self.store.put(key, result.conforms, result.graph, labels, shape_labels)
        return result


def cached_validate(validate, data: Graph, shapes: Graph, directory: Path | None = None) -> tuple[bool, Graph]:
    """`validate(data, shapes) -> (conforms, report graph)` (a plain pySHACL call) through the cache;
    the function's own source is part of the key (its options are)."""
    directory = cache_dir() if directory is None else directory
    if directory is None:
        return validate(data, shapes)
    store = _stores.setdefault(directory, AnswerStore(directory))
    how = hashlib.sha256(inspect.getsource(validate).encode()).hexdigest()
    shapes_known = _shapes.get(id(shapes))
    if shapes_known is None or shapes_known.graph is not shapes:
        shapes_known = _shapes[id(shapes)] = ShapesKey(shapes)  # held: its id is not reused
    shape_labels, shapes_key = shapes_known.current()
    data_labels = shape_labels if data is shapes else blank_labels(data)
    key = store.key(how, shapes_key, data, data_labels)
    stored = store.get(key, data_labels, shape_labels)
    if stored is not None:
        return stored
    conforms, report = validate(data, shapes)
    store.put(key, conforms, report, data_labels, shape_labels)
    return conforms, report


_stores: dict = {}
_shapes: dict = {}


class ShapesKey:
    """A shapes graph's labels and key, made again whenever its triples changed (checked each run)."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self._triples: tuple = ()
        self._labels: dict = {}
        self._key = ""
        self.current()

    def current(self) -> tuple[dict, str]:
        triples = (frozenset(self.graph), tuple(self.graph.namespaces()))
        if triples != self._triples or not self._key:
            self._triples, self._labels = triples, blank_labels(self.graph)
            self._key = graph_key(self.graph, self._labels)
        return self._labels, self._key
