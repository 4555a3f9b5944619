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

import hashlib
from typing import TYPE_CHECKING, Any

from rdflib import RDF, BNode, Graph, Literal, URIRef
from rdflib.namespace import SH

from reasoner.shacl.messages import one_report
from reasoner.shacl.ntriples import TEXT_BY_ID, Labels, iri, literal, term

if TYPE_CHECKING:
    from reasoner.shacl.report import RunParts
    from reasoner.shacl.shape import Result

__all__ = ["Clones", "SharedCopies", "report_lines"]

Template = list[tuple[int, str, "int | str"]]  # (subject, predicate, object): ints are local blank nodes
_MAX_DEPTH = 10
# The mark in kept text where a report puts its blank-node prefix (it cannot occur in a term's text:
# N-Triples escapes every control character of a literal, and an IRI cannot hold one).
_SHAPES = "\x00"


class SharedCopies:
    """Copies of shapes-graph nodes written once, not in every report (a store's layout): each named by a
    skolem IRI (RDF 1.1 §3.5) `base` + a digest of where the node hangs in the shapes graph and what it
    holds (the same in every process), in graph `graph` (a term's text); `written` holds the digests of
    those written already (one set a transaction: writing one again is harmless, a set in RDF)."""

    __slots__ = ("graph", "base", "written")

    def __init__(self, graph: str, base: str, written: set[str] | None = None) -> None:
        self.graph, self.base = graph, base
        self.written: set[str] = set() if written is None else written


class Clones:
    """Per compiled shapes graph, built on first use and then the same in every report: each shapes-graph
    node a report copies, as its lines' text without their graph (`_SHAPES` marks where a report's
    blank-node prefix goes), and each (shape, component)'s fixed result lines as "predicate object"."""

    def __init__(self) -> None:
        self.templates: dict[str, Template] = {}
        self._nodes: dict[tuple, tuple[str, tuple[tuple[str, str], ...]]] = {}
        self._heads: dict[tuple[int, Any], tuple[list[str], tuple[tuple[str, str], ...], Any]] = {}
        self._shared: dict[tuple[str, str, str], tuple[str, str, str]] = {}

    def template(self, shapes: Graph, node: BNode) -> Template:
        found = self.templates.get(str(node))
        if found is None:
            found = self.templates[str(node)] = _template(shapes, node, ordered=True)
        return found

    def shared(self, shapes: Graph, node: Any, copies: SharedCopies) -> tuple[str, str | None, str]:
        """(term text, key, its copy's text in `copies.graph`) of a shapes-graph node a report names, when
        copies are written once (`SharedCopies`); key None for a node that is not copied (an IRI)."""
        if not isinstance(node, BNode):
            return self.node(shapes, node)[0], None, ""
        key = (str(node), copies.graph, copies.base)
        found = self._shared.get(key)
        if found is None:
            digest = hashlib.sha256(_anchor(shapes, node).encode("utf-8")).hexdigest()[:32]
            name = iri(copies.base + digest)
            names = {0: name}
            lines = []
            for s, p, o in self.template(shapes, node):
                s_text = names.get(s) or names.setdefault(s, iri(f"{copies.base}{digest}-{s}"))
                if isinstance(o, int):
                    o = names.get(o) or names.setdefault(o, iri(f"{copies.base}{digest}-{o}"))
                lines.append(f"{s_text} {p} {o} {copies.graph} .\n")
            found = self._shared[key] = (name, digest, "".join(lines))
        return found

    def node(self, shapes: Graph, node: Any) -> tuple[str, tuple[tuple[str, tuple[str, ...]], ...]]:
        """(term text, copies to write once a report: (key, lines without their end)) of a shapes-graph
        node a report names."""
        kind = type(node)
        key: tuple = (kind, str(node)) if kind is not Literal else (kind, str(node), node.datatype, node.language)
        found = self._nodes.get(key)
        if found is None:
            if isinstance(node, BNode):
                tid = len(self._nodes)
                prefix = f"{_SHAPES}{tid}_"
                lines = tuple(f"{prefix}{s} {p} {prefix + str(o) if isinstance(o, int) else o}"
                              for s, p, o in self.template(shapes, node))
                found = (prefix + "0", ((prefix, lines),))
            elif isinstance(node, Literal):
                found = (term(node, _NO_LABELS), ())
            else:
                found = (term(URIRef(str(node)), _NO_LABELS), ())
            self._nodes[key] = found
        return found

    def head(self, shapes: Graph, shape: Any, component: Any, copies: SharedCopies | None = None) -> tuple:
        """A result's lines that depend only on its shape and component, as "predicate object" texts, the
        copies they name, and which texts hold `_SHAPES` (a copy's label); with `copies`, the shapes-graph
        nodes are named by their skolem IRIs and the copies are (digest, text) (`SharedCopies`)."""
        key = (id(shape), id(component), None if copies is None else (copies.graph, copies.base))
        found = self._heads.get(key)
        if found is None:
            names: list[str] = []
            needed: list = []
            for node in (component, shape.node, shape.path):
                if node is None:
                    names.append("")
                elif copies is None:
                    text, node_copies = self.node(shapes, node)
                    names.append(text)
                    needed.extend(node_copies)
                else:
                    text, digest, lines = self.shared(shapes, node, copies)
                    names.append(text)
                    if digest is not None:
                        needed.append((digest, lines))
            comp, node_text, path = names
            pos = [f"{_TYPE} {_RESULT}", f"{_COMPONENT} {comp}", f"{_SHAPE} {node_text}",
                   f"{_SEVERITY} {term(shape.severity, _NO_LABELS)}"]
            if shape.path is not None:
                pos.append(f"{_PATH} {path}")
            for m in shape.messages or ():
                pos.append(f"{_MESSAGE} {term(m, _NO_LABELS)}")
            marked = tuple(i for i, text in enumerate(pos) if _SHAPES in text)
            found = self._heads[key] = (tuple(pos), tuple(needed), marked, (shape, component))  # kept: ids stay theirs
        return found[0], found[1], found[2]


def _template(source: Graph, node: BNode, ordered: bool = False) -> Template:
    """pySHACL's clone_blank_node of `node` (local node 0), its nested blank nodes numbered 1, 2, ...
    `ordered`: walked in the order of the nodes' text (`_canonical`), so the numbers are the same in
    every process (a store's skolem IRIs are made of them)."""
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
        if ordered:
            for p in sorted(predicates, key=str):
                for o in sorted(source.objects(n, p), key=lambda x: _canonical(source, x, depth + 1)):
                    out.append((local, term(p, labels), clone_node(o, depth + 1)))
            return
        for p in predicates:
            for o in source.objects(n, p):
                out.append((local, term(p, labels), clone_node(o, depth + 1)))

    clone_bnode(node, 0, 0)
    return out


def _canonical(source: Graph, node: Any, depth: int = 0) -> str:
    """A node as text that is the same in every process: a term's N-Triples, a blank node what its copy
    holds (as `_template` copies it, to the same depth), sorted."""
    if not isinstance(node, BNode):
        return term(node if isinstance(node, Literal) else URIRef(str(node)), _NO_LABELS)
    if depth >= _MAX_DEPTH:
        return "[]"
    if source.value(node, RDF.first) is not None:
        return "(" + " ".join(_canonical(source, item, depth + 2) for item in source.items(node)) + ")"
    return "[" + "; ".join(sorted(f"{term(p, _NO_LABELS)} {_canonical(source, o, depth + 2)}"
                                  for p, o in source.predicate_objects(node))) + "]"


def _anchor(source: Graph, node: Any, depth: int = 0) -> str:
    """Where a blank node hangs in the shapes graph (the named nodes and predicates that lead to it):
    two property shapes alike in content but of different shapes are different nodes."""
    if not isinstance(node, BNode):
        return _canonical(source, node)
    if depth >= _MAX_DEPTH:
        return "?"
    return "{" + " ".join(sorted(f"{_anchor(source, s, depth + 1)} {term(p, _NO_LABELS)}"
                                 for s, p in source.subject_predicates(node))) + "}" + _canonical(source, node)


_MESSAGES: dict[str, str] = {}  # a message's literal text (the same words recur in every report)


def _message(text: str) -> str:
    found = _MESSAGES.get(text)
    if found is None:
        if len(_MESSAGES) >= 50_000:
            _MESSAGES.clear()
        found = _MESSAGES[text] = literal(text)
    return found


_NO_LABELS = Labels("")  # for terms only: no blank node reaches it
_FIRST, _REST, _NIL = "<" + str(RDF.first) + ">", "<" + str(RDF.rest) + ">", "<" + str(RDF.nil) + ">"


class _Writer:
    """One report's text; each node of the shapes and data graphs copied once (pySHACL's cloned_nodes).

    What `Clones` keeps gets this report's graph and blank-node prefix once a report (`heads`)."""

    def __init__(self, parts: RunParts, graph: str, labels: Labels, shared: SharedCopies | None = None) -> None:
        self.parts = parts
        self.shared = shared
        self.clones: Clones = parts.clones
        self.labels = labels
        self.end = f" {graph} .\n"
        self.shapes_prefix = labels.prefix + "s"
        self.out: list[str] = []
        self.copied: set[str] = set()
        self.heads: dict[tuple[int, int], list[str]] = {}
        self.data_done: dict[str, str] = {}

    def line(self, s: str, p: str, o: str) -> None:
        self.out.append(f"{s} {p} {o}{self.end}")

    def copy(self, copies: tuple) -> None:
        """Write the copies of shapes-graph nodes not written yet (in this report, or this `shared`'s text)."""
        shared = self.shared
        if shared is None:
            for key, lines in copies:
                if key not in self.copied:
                    self.copied.add(key)
                    end = self.end
                    self.out.append((end.join(lines) + end).replace(_SHAPES, self.shapes_prefix))
        else:
            for digest, text in copies:
                if digest not in shared.written:
                    shared.written.add(digest)
                    self.out.append(text)

    def shapes_node(self, node: Any) -> str:
        if self.shared is not None:
            text, digest, lines = self.clones.shared(self.parts.shapes, node, self.shared)
            if digest is not None:
                self.copy(((digest, lines),))
            return text
        text, copies = self.clones.node(self.parts.shapes, node)
        if copies:
            self.copy(copies)
        return text.replace(_SHAPES, self.shapes_prefix)

    def data_node(self, node: Any) -> str:
        """A node of the request graph: a term, or a blank node copied with what hangs from it (its own
        label, the same as in the request graph)."""
        kind = type(node)
        if kind is URIRef or kind is Literal:
            return term(node, self.labels)
        if not isinstance(node, BNode):
            return term(node if isinstance(node, Literal) else URIRef(str(node)), self.labels)
        key = str(node)
        text = self.data_done.get(key)
        if text is None:
            labels = self.labels
            text = self.data_done[key] = labels.of(BNode(key))
            local = {0: text}
            for s, p, o in _template(self.parts.data, node):
                s_text = local.get(s) or local.setdefault(s, labels.fresh())
                if isinstance(o, int):
                    o = local.get(o) or local.setdefault(o, labels.fresh())
                self.line(s_text, p, o)
        return text

    def clone(self, from_shapes: bool, node: Any) -> str:
        return self.shapes_node(node) if from_shapes else self.data_node(node)

    def result(self, r: Result) -> str:
        focus, value, shape, component, message = r[:5]
        n = self.labels.fresh()
        key = (id(shape), id(component))  # the result tuple holds both: their ids stay theirs meanwhile
        filled = self.heads.get(key)
        if filled is None:  # once a report: its prefix in the copies' labels
            pos, copies, marked = self.clones.head(self.parts.shapes, shape, component, self.shared)
            filled = self.heads[key] = list(pos)
            for i in marked:
                filled[i] = filled[i].replace(_SHAPES, self.shapes_prefix)
            if copies:
                self.copy(copies)
        end = self.end
        found = TEXT_BY_ID.get(id(focus))  # a request graph's IRI or literal, as ntriples.term finds it
        focus_text = found[1] if found is not None and found[0] is focus else self.data_node(focus)
        lines = [n, " ", (end + n + " ").join(filled), end, n, " ", _FOCUS, " ", focus_text, end]
        if value is not None:
            found = TEXT_BY_ID.get(id(value))
            lines += (n, " ", _VALUE, " ", found[1] if found is not None and found[0] is value else self.data_node(value), end)
        if not shape.messages:
            lines += (n, " ", _MESSAGE, " ", _message(message(self.parts.data, focus, value)), end)
        self.out.append("".join(lines))
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


def report_lines(parts: RunParts, report: str, graph: str, labels: Labels, out: list[str],
                 shared: SharedCopies | None = None) -> None:
    """Append the report's N-Quads lines to `out`: the report node is written as `report` (an IRI's
    text), every line in graph `graph` (a term's text), blank nodes labelled by `labels`.
    `shared`: the copies of shapes-graph nodes named and written once instead (`SharedCopies`)."""
    w = _Writer(parts, graph, labels, shared)
    with one_report():
        _write(w, parts, report)
    out.extend(w.out)


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
