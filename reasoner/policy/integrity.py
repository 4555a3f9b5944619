"""The checks that prove a decision would be meaningless: run at every load, before any request.

A shape whose path names a property the ontology does not declare (a one-letter typo,
`bx:ageInMonth`) never finds a value, so its criterion is never met; a leaf criterion without a
shape is always met; a criterion naming a shape no file defines, or a tree listing something that
is not a criterion, cannot be evaluated. None of these is visible in a determination, so loading a
knowledge base (`reasoner.policy.kb.load`: check, batch, serve, `Reasoner(version=...)`) refuses to
start with the finding, the file and the term (`PolicyError`). `blincyto lint` runs the same checks
(reasoner/authoring/lint.py) with its own, advisory ones.

Each check reads the graphs once, with index lookups only: it runs at every process start.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from collections.abc import Collection as Collection_
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from rdflib import RDF, BNode, Graph, URIRef
from rdflib.collection import Collection
from rdflib.namespace import SH
from rdflib.term import Node

from reasoner.policy.terms import BX, CP, KB, PREFIXES

__all__ = ["Finding", "PolicyError", "compiled", "file_of", "findings", "qname", "refuse"]

T = TypeVar("T")

PROJECT = (str(BX), str(KB), str(CP))  # terms the ontology must declare
ROLES = (("shape", BX.shape), ("open shape", BX.openShape), ("note shape", BX.noteShape))


@dataclass(frozen=True)
class Finding:
    """One mistake: which check found it, the named term it is about, what is wrong."""

    check: str
    term: Node
    message: str


class PolicyError(ValueError):
    """The policy files hold a mistake that would make decisions meaningless: refused at load.

    `findings` are (check, file, term, message) tuples; str() is the first one, on one line."""

    def __init__(self, found: list[tuple[str, str, str, str]]) -> None:
        self.findings = found
        check_, file, term, message = found[0]
        more = f" (and {len(found) - 1} more: blincyto lint)" if len(found) > 1 else ""
        super().__init__(f"policy error in {file or '(graphs)'}: {term}: {message} [{check_}]{more}")


def findings(ontology: Graph, shapes: Graph, declared: Collection_[Node] | None = None) -> list[Finding]:
    """Every load-time mistake of a knowledge base (ontology + criteria tree) and its shapes.

    `declared`: the IRIs the ontology types (rdf:type), if the caller has them already."""
    if declared is None:
        declared = {t for t in ontology.subjects(RDF.type, None) if isinstance(t, URIRef)}
    return [*_declared(ontology, shapes, declared), *_tree(ontology, shapes)]


def refuse(found: list[Finding], origin: Callable[[Node], str]) -> None:
    """Raise PolicyError naming every finding (its file, from `origin(term)`), if there is one."""
    if found:
        raise PolicyError([(f.check, origin(f.term), qname(f.term), f.message) for f in found])


def compiled(compile_: Callable[[], T], ontology: Graph, shapes: Graph, origin: Callable[[Node], str],
             written_from: dict[Node, Node] | None = None) -> T:
    """`compile_()` (the shapes, compiled), or PolicyError for a shape no back end can run.

    `written_from`: shapes the loader wrote (derived readings) -> the author's shape they come from,
    which the finding names."""
    from reasoner.shacl.shape import ShapeError

    try:
        return compile_()
    except ShapeError as exc:
        term = _named(shapes, ontology, exc.shape)
        refuse([Finding("engine", (written_from or {}).get(term, term), exc.finding)], origin)
        raise  # not reached


# -- declared: every project term a shape uses is declared in the ontology ------------------------

_CLASS_OBJECTS = frozenset({SH["class"], SH.targetClass})


def _declared(o: Graph, s: Graph, declared: Collection_[Node]) -> Iterator[Finding]:
    seen: set[tuple[Node, str]] = set()
    heads = list(s.objects(None, SH.path))
    path_cells = {cell for head in heads if isinstance(head, BNode) for cell in _cells(s, head)}
    for subj, pred, obj in s:
        if subj in path_cells:
            continue  # the steps of a path: checked below, as properties
        for term, what in ((pred, "property"), (obj, "class" if pred in _CLASS_OBJECTS else "individual")):
            if isinstance(term, URIRef) and term not in declared and (term, what) not in seen \
                    and str(term).startswith(PROJECT):
                seen.add((term, what))
                yield Finding("declared", _named(s, o, subj),
                              f"uses {what} {qname(term)}, which the ontology does not declare")
    for head in heads:
        for step in _steps(s, head):
            if step not in declared and (step, "path") not in seen and str(step).startswith(PROJECT):
                seen.add((step, "path"))
                yield Finding("declared", _named(s, o, head),
                              f"path uses property {qname(step)}, which the ontology does not declare")


def _cells(g: Graph, head: Node) -> list[Node]:
    cells: list[Node] = []
    while isinstance(head, BNode) and head not in cells:
        cells.append(head)
        head = g.value(head, RDF.rest)
    return cells


def _steps(g: Graph, path: Node) -> Iterator[URIRef]:
    """The IRIs a path goes through (predicates, sequences, inverse, alternative, repetitions)."""
    todo, seen = [path], set()
    while todo:
        p = todo.pop()
        if isinstance(p, URIRef):
            if p != RDF.nil:
                yield p
        elif isinstance(p, BNode) and p not in seen:
            seen.add(p)
            todo.extend(o for _p, o in g.predicate_objects(p))


# -- the criteria tree: every criterion evaluable, every leaf with a shape ----------------------

def _tree(o: Graph, s: Graph) -> Iterator[Finding]:
    criteria = {c for c in o.subjects(RDF.type, BX.Criterion) if isinstance(c, URIRef)}
    for role, p in ROLES:
        for c, shape in o.subject_objects(p):
            if (shape, None, None) not in s:
                yield Finding("reachable", c, f"names {role} {qname(shape)}, which no shapes file defines")
    for c in sorted(criteria):
        children = _children(o, c)
        for child in children:
            if child not in criteria:
                yield Finding("reachable", c, f"lists {qname(child)}, which is not a criterion")
        if not children and (c, BX.shape, None) not in o:
            yield Finding("leaf", c, "is a leaf with no shape: it would always be met")


def _children(o: Graph, c: Node) -> list[Node]:
    out: list[Node] = []
    for p in (BX.allOf, BX.anyOf):
        for head in o.objects(c, p):
            out.extend(Collection(o, head))
    return out


# -- naming ---------------------------------------------------------------------------------------

def _named(s: Graph, o: Graph, node: Node) -> Node:
    """The named shape (or criterion) that a blank node belongs to."""
    seen = set()
    while isinstance(node, BNode) and node not in seen:
        seen.add(node)
        parent = next(iter(s.subjects(None, node)), None) or next(iter(o.subjects(None, node)), None)
        if parent is None:
            break
        node = parent
    return node


def qname(term: Node) -> str:
    """`shp:I.A.3`, `bx:ageInMonths`; another IRI in angle brackets; a blank node as `[]`."""
    text = str(term)
    for prefix, ns in (*PREFIXES.items(), ("sh", SH)):
        if text.startswith(str(ns)):
            return f"{prefix}:{text[len(str(ns)):]}"
    return f"<{text}>" if isinstance(term, URIRef) else "[]"


def file_of(paths: list[Path]) -> Callable[[Node], str]:
    """`origin` for graphs parsed from `paths`: the last file that describes the term (read again,
    only when a finding is reported)."""
    def origin(term: Node) -> str:
        found = ""
        for path in paths:
            part = Graph().parse(path, format="turtle")
            if (term, None, None) in part:
                found = str(path)
        return found
    return origin
