"""The SHACL engine's compiler: a shapes graph compiled, once per process, into Python checks.

pySHACL rebuilds its constraint objects and walks the shapes graph on every run (tens of milliseconds
a request); the shapes never change between requests. `compile_shapes` walks the shapes graph once at
load time and turns every shape into closures over a per-run index of the data graph
(`reasoner.shacl.index`), so the shapes stay the single source of truth and no criterion is written
in Python. Targets, paths and each family of constraint components live in their own modules
(`targets`, `paths`, `components/`), each citing its section of the SHACL specification.

One engine, two back ends, one report. A top-level shape whose tree uses SHACL the components do not
compile (SHACL-SPARQL, a constraint component declared in the shapes graph, sh:pattern, sh:equals, ...:
`UnsupportedShape`) is validated by pySHACL (`reasoner.shacl.fallback`), for that shape only, and its
results join the same `Report`. What no back end can run as the specification says fails at load
(`ShapeError`): an ill-formed shape, a SPARQL query §5.3.1 forbids, SHACL-AF or SHACL-JS (which
pySHACL, as the engine runs it, would ignore). So nothing in a shapes graph is ever silently ignored.

Semantics are the specification's, as pySHACL implements them, result by result: the same focus node,
path, source shape, constraint component, severity, value and message. `conforms` is true only when
there is no result at all (a Warning is a result); nested shapes conform when they produce no result,
whatever their severity. tests/test_fastpath_differential.py holds the compiled engine to pySHACL on
the policy; tests/test_w3c_shacl.py holds it to the W3C SHACL test suite.
"""

from __future__ import annotations

from rdflib import RDF, BNode, Graph, Literal, URIRef
from rdflib.collection import Collection
from rdflib.namespace import SH
from rdflib.term import Node

from reasoner.shacl.codegen import Generated, generate
from reasoner.shacl.components import COMPILERS, PARAMETERS
from reasoner.shacl.datagraph import canonical
from reasoner.shacl.index import Index
from reasoner.shacl.paths import compile_path
from reasoner.shacl.report import Report, RunParts, ShapeResults
from reasoner.shacl.report_graph import report_graph
from reasoner.shacl.report_quads import Clones
from reasoner.shacl.shape import CompiledShape, Result, ShapeError, UnsupportedShape, remembered
from reasoner.shacl.sparql import check_queries, custom_components, uses_sparql
from reasoner.shacl.targets import compile_targets, targeted

__all__ = ["CompiledShapes", "ShapeError", "UnsupportedShape", "compile_shapes"]

# Every constraint parameter of SHACL Core (§4) and SHACL-SPARQL (§5). A shape using one that the
# component modules do not compile runs through pySHACL.
ALL_PARAMETERS = frozenset(SH[n] for n in (
    "class", "datatype", "nodeKind", "minCount", "maxCount", "minExclusive", "minInclusive",
    "maxExclusive", "maxInclusive", "minLength", "maxLength", "pattern", "flags", "languageIn",
    "uniqueLang", "equals", "disjoint", "lessThan", "lessThanOrEquals", "not", "and", "or", "xone",
    "node", "property", "qualifiedValueShape", "qualifiedMinCount", "qualifiedMaxCount",
    "qualifiedValueShapesDisjoint", "closed", "ignoredProperties", "hasValue", "in", "sparql"))

# Outside SHACL Core and SHACL-SPARQL: pySHACL, as the engine runs it, would ignore them.
OUTSIDE = {SH.js: "SHACL-JS", SH.jsFunctionName: "SHACL-JS", SH.jsLibrary: "SHACL-JS",
           SH.rule: "a SHACL-AF rule", SH.expression: "a SHACL-AF node expression",
           SH.target: "a SHACL-AF custom target"}


class CompiledShapes:
    """All shapes of a shapes graph, compiled; `run(graph)` is one validation of one data graph.

    `not_compiled` names the top-level shapes that run through pySHACL, with the reason."""

    def __init__(self, shapes: Graph, owner: dict[str, URIRef], terms: Graph | None = None) -> None:
        self.graph = _canonical_copy(shapes, terms)
        self._compiled: dict[Node, CompiledShape] = {}
        self._failed: dict[Node, UnsupportedShape] = {}
        self._path_numbers: dict[tuple, int] = {}  # the same path in many shapes: evaluated once a run
        self._owner = owner
        self.top: list[CompiledShape] = []
        self.not_compiled: dict[Node, str] = {}
        self.reference = None
        self.clones = Clones()  # the report's copies of shapes-graph nodes, as N-Quads templates
        self.report_templates: dict = {}  # the same, as rdflib triples (report_graph.Template)
        try:
            self._load()
        except ShapeError as exc:
            raise _located(self.graph, exc) from None
        self._active = [shape for shape in self.top if not shape.deactivated]
        self._generated: Generated | None = None  # written on the first run: a load that runs nothing pays nothing

    def _load(self) -> None:
        g = self.graph
        _refuse_outside(g)
        self._components = custom_components(g)
        if self._components or (None, SH.sparql, None) in g:
            check_queries(g, self._components)
        for node in targeted(g):
            try:
                self.top.append(self.shape(node, ()))
            except UnsupportedShape as exc:
                self.not_compiled[node] = f"{exc.feature} (in {exc.shape})" if exc.shape != node else exc.feature
        if self.not_compiled:
            from reasoner.shacl.fallback import ReferenceShapes

            self.reference = ReferenceShapes(g, self.not_compiled)

    # -- running ----------------------------------------------------------------------------------

    def run(self, data: Graph, *, interpreted: bool = False) -> Report:
        """One validation of `data`; `interpreted=True` walks the closures instead of the generated
        source (the same results: tests/test_codegen.py)."""
        idx = Index(data)
        results: list[Result] = []
        if interpreted:
            for shape in self._active:
                for focus in shape.targets(idx):
                    shape.report(idx, focus, results)
        else:
            (self._generated or self.generated).run(idx, idx.out, idx.typed, results)
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
        reference = self.reference
        foreign = reference.run(data) if reference is not None else []
        if foreign:
            reference.group(foreign, self._owner, by_shape)
        conforms = not results and not foreign  # SHACL 1.0 §3.6.1: any result, of any severity
        parts = RunParts(self.graph, data, conforms, results, foreign, reference, self.clones)
        templates = self.report_templates
        return Report(lambda: report_graph(*parts[:6], templates=templates), conforms, by_shape, parts)

    @property
    def generated(self) -> Generated:
        """The same checks as straight-line Python source (reasoner.shacl.codegen): what `run` calls.
        Written once, on first use (about 0.1 s of CPU, most of it Python's `compile`), or before a
        knowledge base is cached (policy/kb.py), which then keeps it as its code."""
        if self._generated is None:
            self._generated = generate(self._active, self._path_numbers)
        return self._generated

    # -- compiling --------------------------------------------------------------------------------

    def shape(self, node: Node, stack: tuple[Node, ...]) -> CompiledShape:
        """The compiled shape of `node` (each node once); `stack`: the shapes that refer to it."""
        failed = self._failed.get(node)
        if failed is not None:
            raise failed
        if node in stack:
            cycle = stack[stack.index(node):]
            if not any((s, SH.path, None) in self.graph for s in cycle):
                # every step keeps the same focus node: validating it never ends, whatever the data
                raise ShapeError(node, "a recursive shape reference that follows no path: its validation "
                                       "never ends")
            raise UnsupportedShape(node, "a recursive shape reference")
        done = self._compiled.get(node)
        if done is not None:
            return done
        try:
            shape = self._compile(node, stack + (node,))
        except UnsupportedShape as exc:
            self._failed[node] = exc
            raise
        self._compiled[node] = shape
        return shape

    def _compile(self, node: Node, stack: tuple[Node, ...]) -> CompiledShape:
        g = self.graph
        shape = CompiledShape(node)
        params = {p for p in g.predicates(node) if p in ALL_PARAMETERS}
        unsupported = params - PARAMETERS
        if unsupported:
            raise UnsupportedShape(node, ", ".join(sorted(g.qname(p) for p in unsupported)))
        sparql = uses_sparql(g, node, self._components)
        if sparql is not None:
            raise UnsupportedShape(node, sparql)

        deactivated = list(g.objects(node, SH.deactivated))
        shape.deactivated = bool(deactivated and isinstance(deactivated[0], Literal) and deactivated[0].value)
        severity = list(g.objects(node, SH.severity))
        shape.severity = severity[0] if severity else SH.Violation
        shape.messages = list(set(g.objects(node, SH.message)))
        owner_ = self._owner.get(str(node))
        shape.owner = None if owner_ is None else canonical(owner_)  # the KB's own object: fast lookups
        paths = list(g.objects(node, SH.path))
        if len(paths) > 1:
            raise ShapeError(node, "more than one sh:path")
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
        return shape

    def children(self, shape: CompiledShape, predicate: URIRef, stack: tuple[Node, ...]) -> list[CompiledShape]:
        return [self.shape(o, stack) for o in self.graph.objects(shape.node, predicate)]

    def lists(self, shape: CompiledShape, predicate: URIRef,
              stack: tuple[Node, ...]) -> list[tuple[Node, list[CompiledShape]]]:
        """The members of each list of `predicate` (sh:and, sh:or, sh:xone), repeats kept: sh:xone
        counts a member listed twice twice (W3C test core/node/xone-duplicate)."""
        out = []
        for head in self.graph.objects(shape.node, predicate):
            members = list(Collection(self.graph, head))
            if not members:
                raise ShapeError(shape.node, f"an empty or malformed {self.graph.qname(predicate)} list")
            out.append((head, [self.shape(m, stack) for m in members]))
        return out


def _located(g: Graph, exc: ShapeError) -> ShapeError:
    """The error named by the IRI shape (or component) that holds the blank node it is about."""
    node, seen = exc.shape, set()
    while isinstance(node, BNode) and node not in seen:
        seen.add(node)
        parent = next(iter(g.subjects(None, node)), None)
        if parent is None:
            break
        node = parent
    if node == exc.shape:
        return exc
    return ShapeError(node, f"{exc.finding} (in a blank node of it)")


def _refuse_outside(g: Graph) -> None:
    for p, what in OUTSIDE.items():
        for s in g.subjects(p, None):
            raise ShapeError(s, f"{g.qname(p)}: {what} is outside SHACL Core and SHACL-SPARQL; "
                                "no back end of the engine runs it")


def compile_shapes(shapes: Graph, owner: dict[str, URIRef], terms: Graph | None = None) -> CompiledShapes:
    """Compile every shape of `shapes` (raises ShapeError); `owner` maps shape ids to criteria.

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
