"""The sh:ValidationReport of one run written straight to N-Quads text, from the results the engine has.

The same graph as `report_graph.report_graph` builds in rdflib (tests/test_rdf_fast.py checks it
isomorphic, blank nodes included, for every case and generated requests), at a fraction of the cost:
the nodes copied from the shapes graph (a property shape, a sequence path) are the same in every
report, so each is read from the shapes graph once and kept as a template (`Clones`, one per
compiled shapes graph); only its blank-node labels are new in each report.

Copying follows pySHACL's `clone_blank_node` exactly as `report_graph` does: the top blank node
keeps its identity (a blank focus node of the request graph is the same node in both graphs),
nested ones are new, an RDF list is copied as its items, nothing deeper than the depth limit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rdflib import RDF, BNode, Graph, Literal, URIRef
from rdflib.namespace import SH

from reasoner.shacl.messages import one_report
from reasoner.shacl.ntriples import Labels, literal, term

if TYPE_CHECKING:
    from reasoner.shacl.report import RunParts
    from reasoner.shacl.shape import Result

__all__ = ["Clones", "report_lines"]

Template = list[tuple[int, str, "int | str"]]  # (subject, predicate, object): ints are local blank nodes
_MAX_DEPTH = 10


class Clones:
    """Templates of the shapes graph's blank nodes as a report copies them (built on first use)."""

    def __init__(self) -> None:
        self.templates: dict[str, Template] = {}

    def template(self, shapes: Graph, node: BNode) -> Template:
        found = self.templates.get(str(node))
        if found is None:
            found = self.templates[str(node)] = _template(shapes, node)
        return found


def _template(source: Graph, node: BNode) -> Template:
    """pySHACL's clone_blank_node of `node` (local node 0), its nested blank nodes numbered 1, 2, ..."""
    out: Template = []
    count = [0]
    labels = Labels("")  # only for terms: blank nodes never reach it here

    def new() -> int:
        count[0] += 1
        return count[0]

    def clone_node(o: Any, depth: int) -> int | str:
        if isinstance(o, BNode):
            local = new()
            clone_bnode(o, local, depth + 1)
            return local
        if isinstance(o, Literal):
            return term(o, labels)
        return term(URIRef(str(o)), labels)

    def clone_bnode(n: BNode, local: int, depth: int) -> None:
        if depth >= _MAX_DEPTH:
            return
        predicates = set(source.predicates(n))
        if RDF.first in predicates:  # rdflib's Collection.append, one cell per item
            cell = local
            for i, item in enumerate(source.items(n)):
                if i:
                    nxt = new()
                    out.append((cell, _REST, nxt))
                    cell = nxt
                out.append((cell, _FIRST, clone_node(item, depth + 1)))
            out.append((cell, _REST, _NIL))
            return
        for p in predicates:
            for o in source.objects(n, p):
                out.append((local, term(p, labels), clone_node(o, depth + 1)))

    clone_bnode(node, 0, 0)
    return out


_FIRST, _REST, _NIL = "<" + str(RDF.first) + ">", "<" + str(RDF.rest) + ">", "<" + str(RDF.nil) + ">"


class _Writer:
    """One report's lines; each node of the shapes and data graphs copied once (pySHACL's cloned_nodes)."""

    def __init__(self, parts: RunParts, graph: str, labels: Labels, out: list[str]) -> None:
        self.parts = parts
        self.end = f" {graph} .\n"
        self.labels = labels
        self.out = out
        self.done: dict[tuple[bool, str], str] = {}

    def line(self, s: str, p: str, o: str) -> None:
        self.out.append(f"{s} {p} {o}{self.end}")

    def clone(self, from_shapes: bool, node: Any) -> str:
        if isinstance(node, Literal):
            return term(node, self.labels)
        key = (from_shapes, str(node))
        text = self.done.get(key)
        if text is None:
            if isinstance(node, BNode):
                text = self.done[key] = self._clone_bnode(from_shapes, node)
            else:
                text = self.done[key] = term(URIRef(str(node)), self.labels)
        return text

    def _clone_bnode(self, from_shapes: bool, node: BNode) -> str:
        parts, labels = self.parts, self.labels
        if from_shapes:  # the same in every report: a template, new labels
            top = labels.of(("shapes", str(node)))
            template = parts.clones.template(parts.shapes, node)
        else:  # the request graph's own node: the same label as there
            top = labels.of(BNode(str(node)))
            template = _template(parts.data, node)
        local = {0: top}
        for s, p, o in template:
            s_text = local.get(s) or local.setdefault(s, labels.fresh())
            if isinstance(o, int):
                o = local.get(o) or local.setdefault(o, labels.fresh())
            self.line(s_text, p, o)
        return top

    def result(self, r: Result) -> str:
        focus, value, shape, component, message = r[:5]
        n = self.labels.fresh()
        end, clone = self.end, self.clone
        lines = [f"{n} {_TYPE} {_RESULT}{end}",
                 f"{n} {_COMPONENT} {clone(True, component)}{end}",
                 f"{n} {_SHAPE} {clone(True, shape.node)}{end}",
                 f"{n} {_SEVERITY} {term(shape.severity, self.labels)}{end}",
                 f"{n} {_FOCUS} {clone(False, focus)}{end}"]
        if value is not None:
            lines.append(f"{n} {_VALUE} {clone(False, value)}{end}")
        if shape.path is not None:
            lines.append(f"{n} {_PATH} {clone(True, shape.path)}{end}")
        if shape.messages:
            for m in shape.messages:
                lines.append(f"{n} {_MESSAGE} {term(m, self.labels)}{end}")
        else:
            lines.append(f"{n} {_MESSAGE} {literal(message(self.parts.data, focus, value))}{end}")
        self.out.extend(lines)
        for detail in (r[5] if len(r) > 5 else ()):
            self.line(n, _DETAIL, self.result(detail))
        return n


_TYPE = term(RDF.type, Labels(""))
_RESULT, _REPORT = term(SH.ValidationResult, Labels("")), term(SH.ValidationReport, Labels(""))
_COMPONENT, _SHAPE = term(SH.sourceConstraintComponent, Labels("")), term(SH.sourceShape, Labels(""))
_SEVERITY, _FOCUS = term(SH.resultSeverity, Labels("")), term(SH.focusNode, Labels(""))
_VALUE, _PATH = term(SH.value, Labels("")), term(SH.resultPath, Labels(""))
_MESSAGE, _DETAIL = term(SH.resultMessage, Labels("")), term(SH.detail, Labels(""))
_CONFORMS, _SH_RESULT = term(SH.conforms, Labels("")), term(SH.result, Labels(""))
_TRUE, _FALSE = term(Literal(True), Labels("")), term(Literal(False), Labels(""))


def report_lines(parts: RunParts, report: str, graph: str, labels: Labels, out: list[str]) -> None:
    """Append the report's N-Quads lines to `out`: the report node is written as `report` (an IRI's
    text), every line in graph `graph` (a term's text), blank nodes labelled by `labels`."""
    with one_report():
        _write(_Writer(parts, graph, labels, out), parts, report)


def _write(w: _Writer, parts: RunParts, report: str) -> None:
    labels = w.labels
    w.line(report, _TYPE, _REPORT)
    w.line(report, _CONFORMS, _TRUE if parts.conforms else _FALSE)
    for r in parts.results:
        w.line(report, _SH_RESULT, w.result(r))
    reference = parts.reference
    for _text, node, triples in parts.foreign:
        w.line(report, _SH_RESULT, term(node, labels))
        for s, p, o in triples:
            if isinstance(o, tuple):  # (source graph, node): copied like the compiled results' nodes
                source, o_node = o
                o_text = w.clone(reference is not None and reference.is_shapes_graph(source), o_node)
            else:
                o_text = term(o, labels)
            w.line(term(s, labels), term(p, labels), o_text)
