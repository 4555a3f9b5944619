"""The sh:ValidationReport graph of one run, as pySHACL writes it: the compiled shapes' results and
those of the shapes that ran through pySHACL (`reasoner.shacl.fallback`), in one report.

Built only when asked for (`Report.graph`, `Evaluation.report_graph`): a determination needs the
results grouped by shape, not the graph. Nodes are copied from the shapes and data graphs the way
pySHACL's `create_validation_report` copies them (a top blank node keeps its id, nested ones get
fresh ids, each node once per report), so both engines give graphs with the same triples; one copier
serves both back ends, so a node both name is copied once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rdflib import RDF, BNode, Graph, Literal, URIRef
from rdflib.collection import Collection
from rdflib.namespace import SH
from rdflib.term import Node

from reasoner.shacl.messages import one_report

if TYPE_CHECKING:
    from reasoner.shacl.fallback import ForeignResult, ReferenceShapes
    from reasoner.shacl.shape import Result

__all__ = ["report_graph"]


def _clone_node(source: Graph, node: Node, target: Graph, depth: int) -> Node:
    if isinstance(node, Literal):
        return Literal(str(node), node.language, node.datatype)
    if isinstance(node, BNode):
        return _clone_bnode(source, node, target, False, depth + 1)
    return URIRef(str(node))


def _clone_bnode(source: Graph, node: BNode, target: Graph, keep: bool, depth: int) -> BNode:
    """pySHACL's clone_blank_node: the top node keeps its id, nested blank nodes get fresh ones."""
    clone = BNode(str(node)) if keep else BNode()
    if depth >= 10:
        return clone
    predicates = set(source.predicates(node))
    if RDF.first in predicates:
        items = Collection(target, clone)
        for item in source.items(node):
            items.append(_clone_node(source, item, target, depth + 1))
        return clone
    for p in predicates:
        for o in source.objects(node, p):
            target.add((clone, p, _clone_node(source, o, target, depth + 1)))
    return clone


# A shapes-graph node's copy, once made: its triples with the nested blank nodes as local numbers
# (the top node keeps its id, so it is itself). The shapes graph of a compiled run never changes, so
# every later report makes the same copy by numbering fresh blank nodes (a walk of the shapes graph
# and an O(n^2) rdf:List append saved a report: the report graph in about half the time).
Template = tuple[tuple["Node | int", URIRef, "Node | int"], ...]


def _template(source: Graph, node: BNode) -> Template:
    scratch = Graph(store="SimpleMemory")
    top = _clone_bnode(source, node, scratch, True, 0)
    local: dict[BNode, int] = {}

    def number(term: Node) -> Node | int:
        if isinstance(term, BNode) and term != top:
            return local.setdefault(term, len(local) + 1)
        return term

    return tuple((number(s), p, number(o)) for s, p, o in scratch)


def _copy(template: Template, target: Graph) -> None:
    fresh: dict[int, BNode] = {}

    def term(t: Node | int) -> Node:
        if type(t) is int:
            b = fresh.get(t)
            if b is None:
                b = fresh[t] = BNode()
            return b
        return t

    target.addN((term(s), p, term(o), target) for s, p, o in template)


class _Cloner:
    """Nodes of the shapes and data graphs copied into the report once each (pySHACL's cloned_nodes).

    `templates` (kept by the compiled shapes, one dict per shapes graph): the shapes graph's blank
    nodes as `Template`s; the data graph's are walked every time (it is a new graph every run)."""

    def __init__(self, target: Graph, shapes: Graph, templates: dict[str, Template]) -> None:
        self.target = target
        self.shapes = shapes
        self.templates = templates
        self.done: dict[tuple[int, str], Node] = {}

    def __call__(self, source: Graph, node: Node) -> Node:
        if isinstance(node, Literal):
            return node
        key = (id(source), str(node))
        clone = self.done.get(key)
        if clone is None:
            if not isinstance(node, BNode):
                clone = URIRef(str(node))
            elif source is self.shapes:
                template = self.templates.get(key[1])
                if template is None:
                    template = self.templates[key[1]] = _template(source, node)
                _copy(template, self.target)
                clone = BNode(key[1])
            else:
                clone = _clone_bnode(source, node, self.target, True, 0)
            self.done[key] = clone
        return clone


def report_graph(shapes: Graph, data: Graph, conforms: bool, results: list[Result],
                 foreign: list[ForeignResult] = (), reference: ReferenceShapes | None = None,
                 templates: dict[str, Template] | None = None) -> Graph:
    """The sh:ValidationReport pySHACL would write for these results (compiled, then pySHACL's).
    `templates`: a dict the caller keeps for this shapes graph, so its nodes' copies are made once
    (None: this report's own)."""
    with one_report():
        return _report_graph(shapes, data, conforms, results, foreign, reference,
                             {} if templates is None else templates)


def _report_graph(shapes: Graph, data: Graph, conforms: bool, results: list[Result],
                  foreign: list[ForeignResult], reference: ReferenceShapes | None,
                  templates: dict[str, Template]) -> Graph:
    vg = Graph(store="SimpleMemory", bind_namespaces="core")  # no triple events, no contexts: adds at half the cost
    for prefix, ns in shapes.namespace_manager.namespaces():
        vg.namespace_manager.bind(prefix, ns)
    report = BNode()
    vg.add((report, RDF.type, SH.ValidationReport))
    vg.add((report, SH.conforms, Literal(conforms)))
    clone = _Cloner(vg, shapes, templates)
    for r in results:
        vg.add((report, SH.result, _result(vg, clone, shapes, data, r)))
    for _text, node, triples in foreign:
        vg.add((report, SH.result, node))
        for s, p, o in triples:
            if isinstance(o, tuple):  # (source graph, node): copied like the compiled results' nodes
                source, term = o
                o = clone(shapes if reference is not None and reference.is_shapes_graph(source) else data, term)
            vg.add((s, p, o))
    return vg


def _result(vg: Graph, clone: _Cloner, shapes: Graph, data: Graph, r: Result) -> BNode:
    focus, value, shape, component, message = r[:5]
    node = BNode()
    vg.add((node, RDF.type, SH.ValidationResult))
    vg.add((node, SH.sourceConstraintComponent, clone(shapes, component)))
    vg.add((node, SH.sourceShape, clone(shapes, shape.node)))
    vg.add((node, SH.resultSeverity, shape.severity))
    vg.add((node, SH.focusNode, clone(data, focus)))
    if value is not None:
        vg.add((node, SH.value, clone(data, value)))
    if shape.path is not None:
        vg.add((node, SH.resultPath, clone(shapes, shape.path)))
    for m in shape.messages or [Literal(message(data, focus, value))]:
        vg.add((node, SH.resultMessage, m))
    for detail in (r[5] if len(r) > 5 else ()):
        vg.add((node, SH.detail, _result(vg, clone, shapes, data, detail)))
    return node
