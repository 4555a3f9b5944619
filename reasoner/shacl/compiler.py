"""The SHACL engine's compiler: a shapes graph compiled, once per process, into Python checks.

pySHACL rebuilds its constraint objects and walks the shapes graph on every run (tens of milliseconds
a request); the shapes never change between requests. `compile_shapes` walks the shapes graph once at
load time and turns every shape into closures over a per-run index of the data graph
(`reasoner.shacl.index`), so the shapes stay the single source of truth and no criterion is written
in Python. Targets, paths and each family of constraint components live in their own modules
(`targets`, `paths`, `components/`), each citing its section of the SHACL specification.

Semantics are pySHACL's (the reference), result by result: the same focus node, path, source shape,
constraint component, severity, value and message, with `allow_warnings` / `allow_infos` as the
reasoner runs it. Only the SHACL Core features the component modules declare are compiled; any other
constraint parameter, path form or shape construct raises `UnsupportedShape` at load time naming the
shape and the feature, so a new shape can never be silently ignored.
tests/test_fastpath_differential.py holds both engines to identical results.
"""

from __future__ import annotations

from rdflib import RDF, Graph, Literal, URIRef
from rdflib.collection import Collection
from rdflib.namespace import SH
from rdflib.term import Node

from reasoner.shacl.components import COMPILERS, PARAMETERS
from reasoner.shacl.datagraph import canonical
from reasoner.shacl.index import Index
from reasoner.shacl.paths import compile_path
from reasoner.shacl.report import Report, ShapeResults
from reasoner.shacl.report_graph import report_graph
from reasoner.shacl.shape import ALLOWED_SEVERITIES, CompiledShape, Result, UnsupportedShape, remembered
from reasoner.shacl.targets import compile_targets, targeted

__all__ = ["CompiledShapes", "UnsupportedShape", "compile_shapes"]

# Every constraint parameter of SHACL Core and SHACL-SPARQL (what pySHACL would act on). A shape
# using one of them that the component modules do not compile is an error, not a silent pass.
ALL_PARAMETERS = frozenset(SH[n] for n in (
    "class", "datatype", "nodeKind", "minCount", "maxCount", "minExclusive", "minInclusive",
    "maxExclusive", "maxInclusive", "minLength", "maxLength", "pattern", "flags", "languageIn",
    "uniqueLang", "equals", "disjoint", "lessThan", "lessThanOrEquals", "not", "and", "or", "xone",
    "node", "property", "qualifiedValueShape", "qualifiedMinCount", "qualifiedMaxCount",
    "qualifiedValueShapesDisjoint", "closed", "ignoredProperties", "hasValue", "in", "sparql",
    "expression", "js", "rule", "target"))


class CompiledShapes:
    """All shapes of a shapes graph, compiled; `run(graph)` is one validation of one data graph."""

    def __init__(self, shapes: Graph, owner: dict[str, URIRef], terms: Graph | None = None) -> None:
        self.graph = _canonical_copy(shapes, terms)
        self._compiled: dict[Node, CompiledShape] = {}
        self._path_numbers: dict[tuple, int] = {}  # the same path in many shapes: evaluated once a run
        self._owner = owner
        self.top: list[CompiledShape] = []
        for node in targeted(shapes):
            self.top.append(self.shape(node, ()))
        # What `run` walks: the active shapes, each with whether its results can break conformance.
        self._active = [(shape, shape.severity not in ALLOWED_SEVERITIES) for shape in self.top if not shape.deactivated]

    # -- running ----------------------------------------------------------------------------------

    def run(self, data: Graph) -> Report:
        idx = Index(data)
        results: list[Result] = []
        conforms = True
        for shape, strict in self._active:
            for focus in shape.targets(idx):
                start = len(results)
                shape.report(idx, focus, results)
                if strict and conforms and len(results) > start and any(
                        r[2].severity not in ALLOWED_SEVERITIES for r in results[start:]):
                    conforms = False
        by_shape: dict[URIRef, ShapeResults] = {}
        for r in results:
            source: CompiledShape = r[2]
            if source.owner is None:
                continue
            entry = by_shape.get(source.owner)
            if entry is None:
                entry = by_shape[source.owner] = ShapeResults()
            if source.pathless:
                entry.pathless = True
            else:
                entry.paths.add(source.path_key)
        shapes = self.graph
        return Report(lambda: report_graph(shapes, data, conforms, results), conforms, by_shape)

    # -- compiling --------------------------------------------------------------------------------

    def shape(self, node: Node, stack: tuple[Node, ...]) -> CompiledShape:
        """The compiled shape of `node` (each node once); `stack`: the shapes that refer to it."""
        if node in stack:
            raise UnsupportedShape(node, "a recursive shape reference")
        done = self._compiled.get(node)
        if done is not None:
            return done
        g = self.graph
        shape = CompiledShape(node)
        self._compiled[node] = shape
        stack = stack + (node,)
        params = {p for p in g.predicates(node) if p in ALL_PARAMETERS}
        unsupported = params - PARAMETERS
        if unsupported:
            raise UnsupportedShape(node, ", ".join(sorted(g.qname(p) for p in unsupported)))

        deactivated = list(g.objects(node, SH.deactivated))
        shape.deactivated = bool(deactivated and isinstance(deactivated[0], Literal) and deactivated[0].value)
        severity = list(g.objects(node, SH.severity))
        shape.severity = severity[0] if severity else SH.Violation
        shape.messages = list(set(g.objects(node, SH.message)))
        owner_ = self._owner.get(str(node))
        shape.owner = None if owner_ is None else canonical(owner_)  # the KB's own object: fast lookups
        paths = list(g.objects(node, SH.path))
        if len(paths) > 1:
            raise UnsupportedShape(node, "more than one sh:path")
        if paths:
            shape.path = paths[0]
            shape.values = compile_path(g, node, paths[0])
            if isinstance(paths[0], URIRef):
                shape.path_key, shape.pathless = (paths[0],), False
            elif (paths[0], RDF.first, None) in g:
                shape.path_key, shape.pathless = tuple(Collection(g, paths[0])), False
            if shape.path_key is not None and len(shape.path_key) > 1 and all(
                    isinstance(p, URIRef) for p in shape.path_key):
                shape.values = remembered(self._path_numbers.setdefault(shape.path_key, len(self._path_numbers)),
                                          shape.values)
        shape.targets = compile_targets(g, node)

        for compile_ in COMPILERS:
            pair = compile_(self, shape, params, stack)
            if pair is not None:
                shape.constraints.append(pair)
        if shape.severity != SH.Violation:
            shape.plain = False
        return shape

    def children(self, shape: CompiledShape, predicate: URIRef, stack: tuple[Node, ...]) -> list[CompiledShape]:
        return [self.shape(o, stack) for o in self.graph.objects(shape.node, predicate)]

    def lists(self, shape: CompiledShape, predicate: URIRef,
              stack: tuple[Node, ...]) -> list[tuple[Node, list[CompiledShape]]]:
        out = []
        for head in self.graph.objects(shape.node, predicate):
            members = list(dict.fromkeys(Collection(self.graph, head)))
            if not members:
                raise UnsupportedShape(shape.node, f"an empty or malformed {self.graph.qname(predicate)} list")
            out.append((head, [self.shape(m, stack) for m in members]))
        return out


def compile_shapes(shapes: Graph, owner: dict[str, URIRef], terms: Graph | None = None) -> CompiledShapes:
    """Compile every shape of `shapes` (raises UnsupportedShape); `owner` maps shape ids to criteria.

    `terms`: the knowledge base graph, whose term objects the compiled checks then share (faster).
    """
    return CompiledShapes(shapes, owner, terms)


def _canonical_copy(shapes: Graph, terms: Graph | None) -> Graph:
    """The shapes graph with every term replaced by its canonical object (same triples, same ids)."""
    if terms is not None:
        for triple in terms:
            for node in triple:
                canonical(node)
    copy = Graph()
    copy.namespace_manager = shapes.namespace_manager
    for s, p, o in shapes:
        copy.add((canonical(s), canonical(p), canonical(o)))
    return copy
