"""Fast path: the SHACL shapes compiled, once per process, into Python checks over a request graph.

pySHACL rebuilds its constraint objects and walks the shapes graph on every run (tens of milliseconds
a request); the shapes never change between requests. `compile_shapes` walks the shapes graph once at
load time and turns every shape into closures over a per-request index of the data graph, so the
shapes stay the single source of truth and no criterion is written in Python.

Semantics are pySHACL's (the reference), result by result: the same focus node, path, source shape,
constraint component, severity, value and message, with `allow_warnings` / `allow_infos` as the
reasoner runs it. Only the SHACL Core features listed in `_PARAMETERS` are compiled; any other
constraint parameter, path form or shape construct raises `UnsupportedShape` at load time naming the
shape and the feature, so a new shape can never be silently ignored.
tests/test_fastpath_differential.py holds both engines to identical results.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from rdflib import RDF, RDFS, XSD, BNode, Graph, Literal, URIRef
from rdflib.collection import Collection
from rdflib.namespace import SH
from rdflib.term import Node

from .report_graph import report_graph
from .smallstore import TYPE as _TYPE
from .smallstore import SmallStore, canonical
from .validate import Report, ShapeResults

__all__ = ["CompiledShapes", "UnsupportedShape", "compile_shapes"]

Values = set  # value nodes of one focus node
# A validation result: (focus node, value node or None, source shape, constraint component, message maker)
Result = tuple

_SUBCLASS = canonical(RDFS.subClassOf)
# Constraint component IRIs, made once (rdflib builds a new URIRef on every namespace attribute access)
_AndConstraintComponent = SH.AndConstraintComponent
_ClassConstraintComponent = SH.ClassConstraintComponent
_DatatypeConstraintComponent = SH.DatatypeConstraintComponent
_HasValueConstraintComponent = SH.HasValueConstraintComponent
_InConstraintComponent = SH.InConstraintComponent
_MaxCountConstraintComponent = SH.MaxCountConstraintComponent
_MaxExclusiveConstraintComponent = SH.MaxExclusiveConstraintComponent
_MaxInclusiveConstraintComponent = SH.MaxInclusiveConstraintComponent
_MaxLengthConstraintComponent = SH.MaxLengthConstraintComponent
_MinCountConstraintComponent = SH.MinCountConstraintComponent
_MinExclusiveConstraintComponent = SH.MinExclusiveConstraintComponent
_MinInclusiveConstraintComponent = SH.MinInclusiveConstraintComponent
_MinLengthConstraintComponent = SH.MinLengthConstraintComponent
_NodeConstraintComponent = SH.NodeConstraintComponent
_NodeKindConstraintComponent = SH.NodeKindConstraintComponent
_NotConstraintComponent = SH.NotConstraintComponent
_OrConstraintComponent = SH.OrConstraintComponent
_QualifiedMaxCountConstraintComponent = SH.QualifiedMaxCountConstraintComponent
_QualifiedMinCountConstraintComponent = SH.QualifiedMinCountConstraintComponent
_XoneConstraintComponent = SH.XoneConstraintComponent

ALLOWED_SEVERITIES = frozenset({SH.Warning, SH.Info})  # allow_warnings=True, allow_infos=True

_TARGETS = (SH.targetClass, SH.targetNode, SH.targetSubjectsOf, SH.targetObjectsOf)
# Every constraint parameter of SHACL Core and SHACL-SPARQL (what pySHACL would act on). A shape
# using one of them that this module does not compile is an error, not a silent pass.
_ALL_PARAMETERS = frozenset(SH[n] for n in (
    "class", "datatype", "nodeKind", "minCount", "maxCount", "minExclusive", "minInclusive",
    "maxExclusive", "maxInclusive", "minLength", "maxLength", "pattern", "flags", "languageIn",
    "uniqueLang", "equals", "disjoint", "lessThan", "lessThanOrEquals", "not", "and", "or", "xone",
    "node", "property", "qualifiedValueShape", "qualifiedMinCount", "qualifiedMaxCount",
    "qualifiedValueShapesDisjoint", "closed", "ignoredProperties", "hasValue", "in", "sparql",
    "expression", "js", "rule", "target"))
_PARAMETERS = frozenset(SH[n] for n in (
    "class", "datatype", "nodeKind", "minCount", "maxCount", "minExclusive", "minInclusive",
    "maxExclusive", "maxInclusive", "minLength", "maxLength", "not", "and", "or", "xone", "node",
    "property", "qualifiedValueShape", "qualifiedMinCount", "qualifiedMaxCount", "hasValue", "in"))
_PATH_KINDS = (SH.inversePath, SH.alternativePath, SH.zeroOrMorePath, SH.oneOrMorePath, SH.zeroOrOnePath)


class UnsupportedShape(ValueError):
    """A shape uses SHACL the compiler does not cover: load-time error naming the shape and feature."""

    def __init__(self, shape: Node, feature: str) -> None:
        super().__init__(f"shape {shape}: {feature} is not supported by the fast path "
                         f"(use Reasoner(engine='pyshacl') or extend reasoner/fastpath.py)")
        self.shape = shape
        self.feature = feature


# ---------------------------------------------------------------------------------------------
# The data graph, indexed once per request
# ---------------------------------------------------------------------------------------------

class Index:
    """Subject -> predicate -> objects (and predicate -> object -> subjects) of one request graph.

    A graph over a SmallStore (what `lift` builds) already holds these dictionaries; any other graph
    is indexed once here.
    """

    __slots__ = ("graph", "out", "pos", "typed", "subclassing", "paths")

    def __init__(self, graph: Graph) -> None:
        store = graph.store
        if isinstance(store, SmallStore):
            out, pos = store.spo, store.pos
        else:
            out, pos = {}, {}
            for s, p, o in graph:
                out.setdefault(s, {}).setdefault(p, {})[o] = None
                pos.setdefault(p, {}).setdefault(o, {})[s] = None
        self.graph = graph
        self.out: dict[Node, dict[Node, dict[Node, None]]] = out
        self.pos: dict[Node, dict[Node, dict[Node, None]]] = pos
        self.typed: dict[Node, dict[Node, None]] = pos.get(_TYPE, {})  # class -> its instances (targets)
        self.subclassing = _SUBCLASS in pos  # the data graph states rdfs:subClassOf itself
        self.paths: dict[tuple[int, Node], Values] = {}  # (path number, focus) -> value nodes, this run

    def objects(self, s: Node, p: Node) -> Iterable[Node]:
        by_p = self.out.get(s)
        return by_p.get(p, ()) if by_p else ()

    def subjects(self, p: Node, o: Node) -> Iterable[Node]:
        by_o = self.pos.get(p)
        return by_o.get(o, ()) if by_o else ()

    def has_class(self, v: Node, cls: Node) -> bool:
        """v rdf:type/rdfs:subClassOf* cls in the data graph (pySHACL's rdflib check)."""
        if isinstance(v, Literal):
            return False
        by_p = self.out.get(v)
        types = by_p.get(_TYPE) if by_p else None
        if not types:
            return False
        if cls in types:
            return True
        if not self.subclassing:
            return False
        seen = set(types)
        todo = list(types)
        while todo:
            for sup in self.objects(todo.pop(), _SUBCLASS):
                if sup == cls:
                    return True
                if sup not in seen:
                    seen.add(sup)
                    todo.append(sup)
        return False


# ---------------------------------------------------------------------------------------------
# Compiled shapes
# ---------------------------------------------------------------------------------------------

class _Shape:
    """One shape: its value nodes, its constraints as (holds, report) closures, its metadata."""

    __slots__ = ("node", "path", "values", "severity", "messages", "deactivated", "constraints",
                 "plain", "owner", "path_key", "pathless", "targets")

    def __init__(self, node: Node) -> None:
        self.node = node
        self.path: Node | None = None
        self.values: Callable[[Index, Node], Values] = _itself
        self.severity: Node = SH.Violation
        self.messages: list[Literal] = []
        self.deactivated = False
        self.constraints: list[tuple[Callable, Callable]] = []
        self.plain = True  # no severity other than sh:Violation among the shapes whose reports it passes up
        self.owner: URIRef | None = None
        self.path_key: tuple | None = None
        self.pathless = True
        self.targets: Callable[[Index], Iterable[Node]] | None = None

    def report(self, idx: Index, focus: Node, out: list[Result]) -> None:
        """pySHACL's `Shape.validate(focus=...)`: every result, appended to `out`."""
        if self.deactivated:
            return
        values = self.values(idx, focus)
        for _holds, report in self.constraints:
            report(idx, focus, values, out)

    def conforms(self, idx: Index, focus: Node) -> bool:
        """Conformance as a nested shape (sh:or, sh:not, ...): short-circuits, builds no results."""
        if self.deactivated or self.severity in ALLOWED_SEVERITIES:
            return True
        if not self.plain:
            out: list[Result] = []
            self.report(idx, focus, out)
            return all(r[2].severity in ALLOWED_SEVERITIES for r in out)
        values = self.values(idx, focus)
        for holds, _report in self.constraints:
            if not holds(idx, focus, values):
                return False
        return True

    def silent(self, idx: Index, focus: Node) -> bool:
        """No result at all (what sh:node requires); for a plain shape that is conformance."""
        if self.deactivated:
            return True
        if self.plain:
            return self.conforms(idx, focus)
        out: list[Result] = []
        self.report(idx, focus, out)
        return not out


def _remembered(number: int, values: Callable[[Index, Node], Values]) -> Callable[[Index, Node], Values]:
    """A sequence path whose value nodes are kept for the run: shapes and their open twins share
    paths, so most are asked for again (the sets are never changed by the constraints)."""
    def remembered(idx: Index, focus: Node) -> Values:
        key = (number, focus)
        found = idx.paths.get(key)
        if found is None:
            found = idx.paths[key] = values(idx, focus)
        return found
    return remembered


def _itself(_idx: Index, focus: Node) -> Values:
    return {focus}


class CompiledShapes:
    """All shapes of a shapes graph, compiled; `run(graph)` is one validation of one data graph."""

    def __init__(self, shapes: Graph, owner: dict[str, URIRef], terms: Graph | None = None) -> None:
        self.graph = _canonical_copy(shapes, terms)
        self._compiled: dict[Node, _Shape] = {}
        self._path_numbers: dict[tuple, int] = {}  # the same path in many shapes: evaluated once a run
        self._owner = owner
        self.top: list[_Shape] = []
        for node in _targeted(shapes):
            self.top.append(self._shape(node, ()))
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
            source: _Shape = r[2]
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

    def _shape(self, node: Node, stack: tuple[Node, ...]) -> _Shape:
        if node in stack:
            raise UnsupportedShape(node, "a recursive shape reference")
        done = self._compiled.get(node)
        if done is not None:
            return done
        g = self.graph
        shape = _Shape(node)
        self._compiled[node] = shape
        stack = stack + (node,)
        params = {p for p in g.predicates(node) if p in _ALL_PARAMETERS}
        unsupported = params - _PARAMETERS
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
            shape.values = _path(g, node, paths[0])
            if isinstance(paths[0], URIRef):
                shape.path_key, shape.pathless = (paths[0],), False
            elif (paths[0], RDF.first, None) in g:
                shape.path_key, shape.pathless = tuple(Collection(g, paths[0])), False
            if shape.path_key is not None and len(shape.path_key) > 1 and all(
                    isinstance(p, URIRef) for p in shape.path_key):
                shape.values = _remembered(self._path_numbers.setdefault(shape.path_key, len(self._path_numbers)),
                                           shape.values)
        shape.targets = _targets(g, node)

        for compile_ in _COMPILERS:
            pair = compile_(self, shape, params, stack)
            if pair is not None:
                shape.constraints.append(pair)
        if shape.severity != SH.Violation:
            shape.plain = False
        return shape

    def _children(self, shape: _Shape, predicate: URIRef, stack: tuple[Node, ...]) -> list[_Shape]:
        return [self._shape(o, stack) for o in self.graph.objects(shape.node, predicate)]

    def _lists(self, shape: _Shape, predicate: URIRef, stack: tuple[Node, ...]) -> list[tuple[Node, list[_Shape]]]:
        out = []
        for head in self.graph.objects(shape.node, predicate):
            members = list(dict.fromkeys(Collection(self.graph, head)))
            if not members:
                raise UnsupportedShape(shape.node, f"an empty or malformed {self.graph.qname(predicate)} list")
            out.append((head, [self._shape(m, stack) for m in members]))
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


def _targeted(g: Graph) -> list[Node]:
    """Shapes that pySHACL validates on their own: those with a target or that are classes."""
    nodes: dict[Node, None] = {}
    for p in _TARGETS:
        for s in g.subjects(p, None):
            nodes[s] = None
    classes = {RDFS.Class, *g.subjects(RDFS.subClassOf, RDFS.Class)}
    for shape_type in (SH.NodeShape, SH.PropertyShape):
        for s in g.subjects(RDF.type, shape_type):
            if set(g.objects(s, RDF.type)) & classes:
                nodes[s] = None
    return sorted(nodes, key=str)


def _targets(g: Graph, node: Node) -> Callable[[Index], Iterable[Node]]:
    nodes = list(g.objects(node, SH.targetNode))
    classes = set(g.objects(node, SH.targetClass))
    if set(g.objects(node, RDF.type)) & {RDFS.Class, *g.subjects(RDFS.subClassOf, RDFS.Class)}:
        classes.add(node)
    subjects_of = list(g.objects(node, SH.targetSubjectsOf))
    objects_of = list(g.objects(node, SH.targetObjectsOf))

    single = len(classes) == 1 and not (nodes or subjects_of or objects_of)
    if single:
        (only_class,) = classes

        def instances(idx: Index) -> Iterable[Node]:
            """The common case, sh:targetClass alone: its instances, unless the data states subclasses."""
            if idx.subclassing:
                return targets(idx)
            return idx.typed.get(only_class, ())

    def targets(idx: Index) -> Iterable[Node]:
        found: set[Node] = set(nodes)
        for tc in classes:
            found.update(idx.typed.get(tc, ()))
            if idx.subclassing:  # instances of tc's subclasses stated in the data graph
                todo, seen = [tc], {tc}
                while todo:
                    for sub in idx.subjects(RDFS.subClassOf, todo.pop()):
                        if sub not in seen:
                            seen.add(sub)
                            todo.append(sub)
                            found.update(idx.typed.get(sub, ()))
        for p in subjects_of:
            found.update(s for s, by_p in idx.out.items() if p in by_p)
        for p in objects_of:
            found.update(o for by_p in idx.out.values() for o in by_p.get(p, ()))
        return found
    return instances if single else targets


# ---------------------------------------------------------------------------------------------
# Paths
# ---------------------------------------------------------------------------------------------

def _path(g: Graph, shape: Node, path: Node) -> Callable[[Index, Node], Values]:
    if isinstance(path, URIRef):
        def predicate(idx: Index, focus: Node) -> Values:
            by_p = idx.out.get(focus)
            return set(by_p.get(path, ())) if by_p else set()
        return predicate
    if isinstance(path, Literal):
        raise UnsupportedShape(shape, "a literal sh:path")
    if (path, RDF.first, None) in g:
        steps = [_path(g, shape, p) for p in Collection(g, path)]
        if not steps:
            raise UnsupportedShape(shape, "an empty sequence path")

        def sequence(idx: Index, focus: Node) -> Values:
            nodes = {focus}
            for step in steps:
                nxt: set[Node] = set()
                for n in nodes:
                    nxt |= step(idx, n)
                if not nxt:
                    return nxt
                nodes = nxt
            return nodes
        return sequence
    kinds = [(p, o) for p, o in g.predicate_objects(path) if p in _PATH_KINDS]
    if len(kinds) != 1:
        raise UnsupportedShape(shape, f"the path {path!r}")
    kind, inner = kinds[0]
    if kind == SH.inversePath:
        if not isinstance(inner, URIRef):
            raise UnsupportedShape(shape, "sh:inversePath of a complex path")

        def inverse(idx: Index, focus: Node) -> Values:
            return set(idx.subjects(inner, focus))
        return inverse
    if kind == SH.alternativePath:
        options = [_path(g, shape, p) for p in Collection(g, inner)]

        def alternative(idx: Index, focus: Node) -> Values:
            out: set[Node] = set()
            for option in options:
                out |= option(idx, focus)
            return out
        return alternative
    step = _path(g, shape, inner)
    reflexive = kind in (SH.zeroOrMorePath, SH.zeroOrOnePath)
    transitive = kind in (SH.zeroOrMorePath, SH.oneOrMorePath)

    def repeat(idx: Index, focus: Node) -> Values:
        out: set[Node] = {focus} if reflexive else set()
        frontier = step(idx, focus)
        out |= frontier
        while transitive and frontier:
            nxt: set[Node] = set()
            for n in frontier:
                nxt |= step(idx, n)
            frontier = nxt - out
            out |= frontier
        return out
    return repeat


# ---------------------------------------------------------------------------------------------
# Constraint components: each returns (holds, report) closures, or None when the shape lacks it
# ---------------------------------------------------------------------------------------------

def _one_int(g: Graph, shape: Node, p: URIRef) -> int:
    vals = list(g.objects(shape, p))
    if len(vals) != 1 or not isinstance(vals[0], Literal) or vals[0].datatype != XSD.integer or int(vals[0]) < 0:
        raise UnsupportedShape(shape, f"{g.qname(p)} must be one non-negative xsd:integer")
    return int(vals[0])


def _count(param: URIRef, word: str, within, component):
    """sh:minCount / sh:maxCount: the same check with its own bound and comparison."""
    def compile_(cs: CompiledShapes, shape: _Shape, params: set, stack):
        if param not in params:
            return None
        if shape.path is None:
            raise UnsupportedShape(shape.node, f"{cs.graph.qname(param)} on a node shape")
        n = _one_int(cs.graph, shape.node, param)
        message = _msg_count(word, n, shape, cs.graph)

        def holds(idx, focus, values):
            return within(len(values), n)

        def report(idx, focus, values, out):
            if not within(len(values), n):
                out.append((focus, None, shape, component, message))
        return holds, report
    return compile_


_min_count = _count(SH.minCount, "Less than", lambda k, n: k >= n, _MinCountConstraintComponent)
_max_count = _count(SH.maxCount, "More than", lambda k, n: k <= n, _MaxCountConstraintComponent)


def _per_value(shape: _Shape, component: URIRef, rules: list, ok: Callable[[Index, Node, Any], bool],
               message: Callable) -> tuple[Callable, Callable]:
    """A constraint checked value by value, once per rule (pySHACL reports each failing pair)."""
    def holds(idx, focus, values):
        for rule in rules:
            for v in values:
                if not ok(idx, v, rule):
                    return False
        return True

    def report(idx, focus, values, out):
        for rule in rules:
            for v in values:
                if not ok(idx, v, rule):
                    out.append((focus, v, shape, component, message))
    return holds, report


def _class(cs: CompiledShapes, shape: _Shape, params: set, stack):
    if SH["class"] not in params:
        return None
    rules = list(cs.graph.objects(shape.node, SH["class"]))
    return _per_value(shape, _ClassConstraintComponent, rules, lambda idx, v, c: idx.has_class(v, c),
                      _msg_rules(cs.graph, rules, "Value does not have class {}", "Value class is not in classes ({})"))


_DATATYPE_VALUE = {XSD.string: (str, bytes), RDF.langString: (str, bytes), XSD.integer: int, XSD.float: float,
                   XSD.decimal: Decimal, XSD.boolean: bool, XSD.date: date, XSD.time: time, XSD.dateTime: datetime}


def _datatype_ok(_idx: Index, v: Node, rule: Node) -> bool:
    if not isinstance(v, Literal):
        return False
    if v.datatype == rule:
        if getattr(v, "ill_typed", None) is True:
            return False
        return _actual(v, rule)
    if rule == RDFS.Literal:
        return True
    if rule == RDFS.Datatype and v.datatype:
        return True
    if v.datatype is None and v.language is None and rule == XSD.string:
        return _actual(v, rule)
    if rule == RDF.langString and v.language:
        return _actual(v, rule)
    return False


def _actual(v: Literal, rule: Node) -> bool:
    """pySHACL's _assert_actual_datatype: the parsed value has the Python type of the datatype."""
    expected = _DATATYPE_VALUE.get(rule)
    return True if expected is None else isinstance(v.value, expected)


def _datatype(cs: CompiledShapes, shape: _Shape, params: set, stack):
    if SH.datatype not in params:
        return None
    rules = list(cs.graph.objects(shape.node, SH.datatype))
    if len(rules) != 1:
        raise UnsupportedShape(shape.node, "more than one sh:datatype")
    return _per_value(shape, _DatatypeConstraintComponent, rules, _datatype_ok,
                      _msg_rules(cs.graph, rules, "Value is not Literal with datatype {}", ""))


_KINDS = {BNode: (SH.BlankNode, SH.BlankNodeOrLiteral, SH.BlankNodeOrIRI),
          Literal: (SH.Literal, SH.BlankNodeOrLiteral, SH.IRIOrLiteral),
          URIRef: (SH.IRI, SH.IRIOrLiteral, SH.BlankNodeOrIRI)}


def _node_kind(cs: CompiledShapes, shape: _Shape, params: set, stack):
    if SH.nodeKind not in params:
        return None
    rules = list(cs.graph.objects(shape.node, SH.nodeKind))
    if len(rules) != 1:
        raise UnsupportedShape(shape.node, "more than one sh:nodeKind")

    def ok(_idx, v, rule):
        for kind, allowed in _KINDS.items():
            if isinstance(v, kind):
                return rule in allowed
        return False
    return _per_value(shape, _NodeKindConstraintComponent, rules, ok,
                      _msg_rules(cs.graph, rules, "Value is not of Node Kind {}", ""))


def _compare(v: Literal, m: Literal) -> int:
    """pySHACL's compare_literal (raises TypeError when the two cannot be ordered)."""
    if v.eq(m):
        return 0
    if v.value.__class__ in (datetime, time):
        if v.value == m.value:
            return 0
        if v.value > m.value:
            return 1
    elif v > m:
        return 1
    return -1


def _range_ok(test: Callable[[int], bool]) -> Callable[[Index, Node, Literal], bool]:
    def ok(_idx, v, m):
        if not isinstance(v, Literal):
            return False
        if isinstance(m.value, str) != isinstance(v.value, str):
            return False
        try:
            return test(_compare(v, m))
        except (TypeError, NotImplementedError):
            return False
    return ok


_RANGES = {
    SH.minInclusive: (_MinInclusiveConstraintComponent, lambda c: c >= 0, ">="),
    SH.minExclusive: (_MinExclusiveConstraintComponent, lambda c: c > 0, ">"),
    SH.maxInclusive: (_MaxInclusiveConstraintComponent, lambda c: c <= 0, "<="),
    SH.maxExclusive: (_MaxExclusiveConstraintComponent, lambda c: c < 0, "<"),
}


def _range(parameter: URIRef):
    component, test, sign = _RANGES[parameter]

    def compile_(cs: CompiledShapes, shape: _Shape, params: set, stack):
        if parameter not in params:
            return None
        rules = list(cs.graph.objects(shape.node, parameter))
        if not all(isinstance(r, Literal) for r in rules):
            raise UnsupportedShape(shape.node, f"a non-literal {cs.graph.qname(parameter)}")
        return _per_value(shape, component, rules, _range_ok(test),
                          _msg_rules(cs.graph, rules, f"Value is not {sign} {{}}", f"Value is not {sign} in ({{}})"))
    return compile_


def _string(v: Node) -> str:
    if isinstance(v, Literal) and v.value is not None and v.datatype in (None, RDF.langString, XSD.string):
        return str(v.value)
    return str(v)


def _length(parameter: URIRef):
    minimum = parameter == SH.minLength
    component = _MinLengthConstraintComponent if minimum else _MaxLengthConstraintComponent
    text = "String length not >= {}" if minimum else "String length not <= {}"

    def compile_(cs: CompiledShapes, shape: _Shape, params: set, stack):
        if parameter not in params:
            return None
        rules = list(cs.graph.objects(shape.node, parameter))
        if not all(isinstance(r, Literal) and isinstance(r.value, int) and r.value >= 0 for r in rules):
            raise UnsupportedShape(shape.node, f"{cs.graph.qname(parameter)} must be a non-negative integer")

        def ok(_idx, v, rule):
            n = rule.value
            if minimum and n == 0:
                return True
            if isinstance(v, BNode):
                return False
            return len(_string(v)) >= n if minimum else len(_string(v)) <= n

        def message(dg, focus, value, _rules=rules):
            return text.format(_stringify(dg, _rules[0]))
        return _per_value(shape, component, rules, ok, message)
    return compile_


def _has_value(cs: CompiledShapes, shape: _Shape, params: set, stack):
    if SH.hasValue not in params:
        return None
    wanted = set(cs.graph.objects(shape.node, SH.hasValue))
    g = cs.graph

    def message(dg, focus, value):
        the_set = [_stringify(g, s) for s in wanted]
        if shape.path is not None:
            return "Node {}->{} does not contain a value in the set: {}".format(
                _stringify(dg, focus), _stringify(g, shape.path), the_set)
        return "Node {} value is not a in the set of values: {}".format(_stringify(dg, focus), the_set)

    def holds(idx, focus, values):
        for hv in wanted:
            if hv not in values:  # values is a set: hash and term equality, as pySHACL's ==
                return False
        return True

    def report(idx, focus, values, out):
        for hv in wanted:
            if hv not in values:
                out.append((focus, None, shape, _HasValueConstraintComponent, message))
    return holds, report


def _in(cs: CompiledShapes, shape: _Shape, params: set, stack):
    if SH["in"] not in params:
        return None
    g = cs.graph
    heads = list(g.objects(shape.node, SH["in"]))
    if len(heads) != 1:
        raise UnsupportedShape(shape.node, "more than one sh:in")
    allowed: set[Node] = set()
    for item in g.items(heads[0]):
        allowed.add(item)

    def message(dg, focus, value):
        return "Value {} not in list {}".format(_stringify(dg, value), [_stringify(g, v) for v in allowed])
    return _per_value(shape, _InConstraintComponent, [None], lambda _idx, v, _r: v in allowed, message)


def _logical(parameter: URIRef):
    component = {SH["or"]: _OrConstraintComponent, SH["and"]: _AndConstraintComponent,
                 SH.xone: _XoneConstraintComponent}[parameter]
    word = {SH["or"]: "one or more shapes in", SH["and"]: "all shapes in", SH.xone: "exactly one shape in"}[parameter]

    def compile_(cs: CompiledShapes, shape: _Shape, params: set, stack):
        if parameter not in params:
            return None
        lists = cs._lists(shape, parameter, stack)
        if parameter == SH["or"]:  # plain loops: no generator per value (the hottest closures)
            def ok(idx, v, members):
                for m in members:
                    if m.conforms(idx, v):
                        return True
                return False
        elif parameter == SH["and"]:
            def ok(idx, v, members):
                for m in members:
                    if not m.conforms(idx, v):
                        return False
                return True
        else:
            def ok(idx, v, members):
                return sum(1 for m in members if m.conforms(idx, v)) == 1
        g = cs.graph
        heads = [h for h, _ in lists]

        def message(dg, focus, value):
            if len(heads) < 2:
                text = " , ".join(_stringify(g, c) for c in g.items(heads[0]))
            else:
                text = " and ".join("({})".format(" , ".join(_stringify(g, c) for c in g.items(h))) for h in heads)
            return f"Node {_stringify(dg, value)} must conform to {word} {text}"
        return _per_value(shape, component, [m for _, m in lists], ok, message)
    return compile_


def _not(cs: CompiledShapes, shape: _Shape, params: set, stack):
    if SH["not"] not in params:
        return None
    g = cs.graph
    nodes = list(g.objects(shape.node, SH["not"]))
    negated = [cs._shape(n, stack) for n in nodes]

    def message(dg, focus, value):
        if len(nodes) == 1:
            return f"Node {_stringify(dg, value)} must not conform to shape {_stringify(g, nodes[0])}"
        return "Node {} must not conform to any shapes in {}".format(
            _stringify(dg, value), " , ".join(_stringify(g, n) for n in nodes))
    return _per_value(shape, _NotConstraintComponent, negated, lambda idx, v, n: not n.conforms(idx, v), message)


def _node(cs: CompiledShapes, shape: _Shape, params: set, stack):
    if SH.node not in params:
        return None
    g = cs.graph
    nodes = list(g.objects(shape.node, SH.node))
    targets = [cs._shape(n, stack) for n in nodes]
    for t in targets:
        if t.path is not None:
            raise UnsupportedShape(shape.node, f"sh:node {t.node} is a property shape")

    def message(dg, focus, value):
        if len(nodes) < 2:
            text = "Value does not conform to Shape {}.".format(_stringify(g, nodes[0]))
        else:
            text = "Value must conform to every Shape in ('{}').".format("', '".join(_stringify(g, n) for n in nodes))
        return text + " See details for more information."

    def holds(idx, focus, values):
        for t in targets:
            for v in values:
                if not t.silent(idx, v):
                    return False
        return True

    def report(idx, focus, values, out):
        for t in targets:
            for v in values:
                details: list[Result] = []
                t.report(idx, v, details)
                if details:
                    out.append((focus, v, shape, _NodeConstraintComponent, message, details))
    return holds, report


def _property(cs: CompiledShapes, shape: _Shape, params: set, stack):
    if SH.property not in params:
        return None
    children = cs._children(shape, SH.property, stack)
    for child in children:
        if child.path is None:
            raise UnsupportedShape(shape.node, f"sh:property {child.node} has no sh:path")
        if not child.plain:
            shape.plain = False

    def holds(idx, focus, values):
        for child in children:
            for v in values:
                if not child.conforms(idx, v):
                    return False
        return True

    def report(idx, focus, values, out):
        for child in children:
            for v in values:
                child.report(idx, v, out)
    return holds, report


def _qualified(cs: CompiledShapes, shape: _Shape, params: set, stack):
    if SH.qualifiedValueShape not in params:
        if params & {SH.qualifiedMinCount, SH.qualifiedMaxCount}:
            raise UnsupportedShape(shape.node, "sh:qualifiedMinCount/MaxCount without sh:qualifiedValueShape")
        return None
    g = cs.graph
    if shape.path is None:
        return None  # pySHACL ignores it on a node shape (with a warning)
    disjoint = list(g.objects(shape.node, SH.qualifiedValueShapesDisjoint))
    if disjoint and any(bool(d.value) for d in disjoint if isinstance(d, Literal)):
        raise UnsupportedShape(shape.node, "sh:qualifiedValueShapesDisjoint true")
    counts = {}
    for p in (SH.qualifiedMinCount, SH.qualifiedMaxCount):
        vals = list(g.objects(shape.node, p))
        if len(vals) > 1 or (vals and not (isinstance(vals[0], Literal) and isinstance(vals[0].value, int))):
            raise UnsupportedShape(shape.node, f"{g.qname(p)} must be one integer")
        counts[p] = vals[0].value if vals else None
    low, high = counts[SH.qualifiedMinCount], counts[SH.qualifiedMaxCount]
    if low is None and high is None:
        raise UnsupportedShape(shape.node, "sh:qualifiedValueShape without a qualified count")
    nodes = list(set(g.objects(shape.node, SH.qualifiedValueShape)))
    value_shapes = [cs._shape(n, stack) for n in nodes]

    def message(dg, focus, value):
        names = ",".join(_stringify(g, n) for n in nodes)
        count = (f" MinCount {low}" if low is not None else "") + (f" MaxCount {high}" if high is not None else "")
        if len(nodes) > 1:
            return f"Focus node does not conform to shapes{count}: ({names})"
        return f"Focus node does not conform to shape{count}: {names}"

    def failures(idx, values):
        for vs in value_shapes:
            n = sum(1 for v in values if vs.conforms(idx, v))
            if high is not None and n > high:
                yield _QualifiedMaxCountConstraintComponent
            if low is not None and n < low:
                yield _QualifiedMinCountConstraintComponent

    def holds(idx, focus, values):
        if not values and (low is None or low < 1):
            return True
        return next(failures(idx, values), None) is None

    def report(idx, focus, values, out):
        if not values and (low is None or low < 1):
            return
        for component in failures(idx, values):
            out.append((focus, None, shape, component, message))
    return holds, report


_COMPILERS = (_class, _datatype, _node_kind, _min_count, _max_count, _range(SH.minInclusive),
              _range(SH.minExclusive), _range(SH.maxInclusive), _range(SH.maxExclusive),
              _length(SH.minLength), _length(SH.maxLength), _has_value, _in, _logical(SH["or"]),
              _logical(SH["and"]), _logical(SH.xone), _not, _node, _qualified, _property)


# ---------------------------------------------------------------------------------------------
# Messages (made only when the report graph is built)
# ---------------------------------------------------------------------------------------------

def _stringify(graph: Graph, node: Node) -> str:
    from pyshacl.rdfutil import stringify_node  # only when a report graph is built

    return stringify_node(graph, node)


def _msg_count(word: str, n: int, shape: _Shape, sg: Graph) -> Callable:
    def message(dg, focus, value):
        if shape.path is not None:
            return "{} {} values on {}->{}".format(word, n, _stringify(dg, focus), _stringify(sg, shape.path))
        return "{} {} values on {}".format(word, n, _stringify(dg, focus))
    return message


def _msg_rules(sg: Graph, rules: list, one: str, many: str) -> Callable:
    def message(dg, focus, value):
        if len(rules) < 2:
            return one.format(_stringify(sg, rules[0]))
        return many.format(", ".join(_stringify(sg, r) for r in rules))
    return message
