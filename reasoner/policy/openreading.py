"""The "not contradicted" reading of a criterion, derived from its one shape (contract v1, reading 1).

A criterion is MET when its shape reports nothing, NOT MET when a fact that was sent contradicts it,
MISSING otherwise (reasoner.flow.explain). "Contradicted" is the shape read with absent facts
passing. This module writes that reading, once per knowledge base at load, as a second node shape
`<shape>-open` beside each criterion's shape, so both back ends (compiled and pySHACL) run it like
any other shape. The author writes the criterion once.

How a shape is read with absent facts passing (the rules are SHACL's own, applied mechanically):

- A property shape that fails when its path has no value (it has `sh:minCount`, `sh:hasValue`, or
  `sh:qualifiedMinCount` of one or more) also passes when the path has no value *and the request did
  not send it*: `sh:or ( <not sent> <the property shape> )`. Every other constraint of SHACL
  already passes on no value.
- "Not sent" is, for a property the request carries, no value; for a property the engine derives
  (`bx:derivedFromField`, ontology/derivations.ttl), no value and some field it is derived from not
  sent. So `prescriber.consulting_specialties: []` is a fact ("no consultation"), its absence is
  not; an unknown diagnosis *name* was sent, so no recognised condition contradicts I.A.1.
- A value the ontology types `bx:NotStatedValue` counts as not sent (`ph_status: "unknown"`,
  reading 2).
- `sh:or`, `sh:and` and `sh:node` are read member by member; `sh:not X` is not contradicted when X
  does not certainly hold, so X is kept as it is. `sh:xone` is not derived (the author writes the
  reading, `bx:openShape`).

The derivation follows the request node: below a value (inside `sh:node`, `sh:qualifiedValueShape`,
a nested `sh:property`) "not sent" is "no value". A criterion whose reading is not mechanical keeps
an explicit `bx:openShape` (an override: blincyto lint checks it); nothing is derived for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rdflib import RDF, BNode, Graph, Literal, URIRef
from rdflib.collection import Collection
from rdflib.namespace import DCTERMS, SH
from rdflib.term import Node

from reasoner.policy.terms import BX

__all__ = ["OpenReadingError", "Sources", "derive", "open_shape_iri"]

SUFFIX = "-open"
_TARGETS = (SH.targetClass, SH.targetNode, SH.targetSubjectsOf, SH.targetObjectsOf)
_COPIED = (DCTERMS.identifier, BX.criterion, DCTERMS.source, BX.policySentence, SH.severity)
_REWRITTEN = frozenset({SH.property, SH["or"], SH["and"], SH.node, SH.qualifiedValueShape, SH.xone})
_METADATA = frozenset({*_TARGETS, *_COPIED, SH.name, SH.message, BX.notMetMessage, RDF.type,
                       URIRef("http://www.w3.org/2000/01/rdf-schema#comment"), BX.asksFor, BX.warningCode})


class OpenReadingError(ValueError):
    """A shape whose not-contradicted reading this module does not derive (names shape and why)."""

    def __init__(self, shape: Node, why: str) -> None:
        super().__init__(f"{why}: write its reading as bx:openShape")
        self.shape = shape
        self.why = why


@dataclass(frozen=True)
class Sources:
    """Per derived property: the request paths of the fields it is derived from."""

    paths: dict[URIRef, tuple[tuple[URIRef, ...], ...]]

    @classmethod
    def of(cls, derived_fields: dict[URIRef, tuple[str, ...]],
           field_of_path: dict[tuple[URIRef, ...], str]) -> "Sources":
        path_of_field = {name: path for path, name in field_of_path.items()}
        return cls({prop: tuple(path_of_field[f] for f in fields if f in path_of_field)
                    for prop, fields in derived_fields.items()})


def open_shape_iri(shape: URIRef, suffix: str = SUFFIX) -> URIRef:
    return URIRef(str(shape) + suffix)


def derive(shapes: Graph, criteria_shapes: Iterable[URIRef], sources: Sources,
           suffix: str = SUFFIX) -> dict[URIRef, URIRef]:
    """Add to `shapes` the open reading of every shape that has one; shape -> its open shape
    (`<shape>-open`).

    A shape that cannot be missing (its reading equals the shape: nothing in it fails on an absent
    fact) gets none: any result of it is NOT MET."""
    out: dict[URIRef, URIRef] = {}
    for shape in criteria_shapes:
        writer = _Writer(shapes, sources)
        body = writer.node_shape(shape, root=True)
        if not writer.changed:
            continue
        iri = open_shape_iri(shape, suffix)
        if (iri, None, None) in shapes:
            raise OpenReadingError(shape, f"{iri} exists already (a hand-written reading?)")
        for p, o in shapes.predicate_objects(body):
            shapes.add((iri, p, o))
        shapes.remove((body, None, None))
        _metadata(shapes, shape, iri)
        out[shape] = iri
    return out


def _metadata(g: Graph, shape: URIRef, iri: URIRef) -> None:
    g.add((iri, RDF.type, SH.NodeShape))
    for p in (*_TARGETS, *_COPIED):
        for o in g.objects(shape, p):
            g.add((iri, p, o))
    name = g.value(shape, SH.name)
    if name is not None:
        g.add((iri, SH.name, Literal(f"{name} (not contradicted)")))
    for m in (list(g.objects(shape, BX.notMetMessage)) or list(g.objects(shape, SH.message))):
        g.add((iri, SH.message, m))


class _Writer:
    """One shape's open reading, written as new blank nodes beside the original ones."""

    def __init__(self, g: Graph, sources: Sources) -> None:
        self.g = g
        self.sources = sources
        self.changed = False

    def node_shape(self, shape: Node, root: bool) -> BNode:
        """A copy of `shape` read with absent facts passing; its focus is the request when `root`."""
        g, new = self.g, BNode()
        is_property = (shape, SH.path, None) in g
        inner_root = root and not is_property  # below a property shape the focus is a value
        for p, o in list(g.predicate_objects(shape)):
            if p in _METADATA and p not in (RDF.type,):
                continue
            if p == SH.xone:
                raise OpenReadingError(shape, "sh:xone")
            if p == SH.property:
                g.add((new, *self._member(o, inner_root)))
            elif p in (SH["or"], SH["and"]):
                members = [self._member_shape(m, inner_root) for m in Collection(g, o)]
                g.add((new, p, self._list(members)))
            elif p == SH.node:
                g.add((new, SH.node, self.node_shape(o, root=False)))
            elif p == SH.qualifiedValueShape:
                g.add((new, p, self.node_shape(o, root=False)))
            else:
                g.add((new, p, o))
        return new

    def _member(self, prop: Node, root: bool) -> tuple[URIRef, Node]:
        """`sh:property P` of a node shape, read with absent facts passing."""
        copy = self.node_shape(prop, root=False)
        if not self._fails_when_absent(prop):
            return SH.property, copy
        self.changed = True
        holder = BNode()
        self.g.add((holder, SH.property, copy))
        return SH["or"], self._list([self._not_sent(prop, root), holder])

    def _member_shape(self, member: Node, root: bool) -> Node:
        """A member of sh:or / sh:and (a node or property shape), read with absent facts passing."""
        if (member, SH.path, None) not in self.g:
            return self.node_shape(member, root)
        copy = self.node_shape(member, root=False)
        if not self._fails_when_absent(member):
            return copy
        self.changed = True
        holder = BNode()
        self.g.add((holder, SH["or"], self._list([self._not_sent(member, root), copy])))
        return holder

    def _fails_when_absent(self, prop: Node) -> bool:
        g = self.g
        if (prop, SH.hasValue, None) in g:
            return True
        for p in (SH.minCount, SH.qualifiedMinCount):
            for n in g.objects(prop, p):
                if isinstance(n, Literal) and isinstance(n.value, int) and n.value >= 1:
                    return True
        return False

    def _not_sent(self, prop: Node, root: bool) -> Node:
        """A shape for "the request did not send what `prop`'s path reads" (at the request node)."""
        path = self.g.value(prop, SH.path)
        steps = _steps(self.g, path)
        source_paths = self.sources.paths.get(steps[-1], ()) if root and steps else ()
        if not source_paths:
            return self._absent(path)
        # derived: no value, and some field it is derived from not sent
        sources = [self._absent(self._path(q)) for q in source_paths]
        either = sources[0] if len(sources) == 1 else self._shape(SH["or"], self._list(sources))
        return self._shape(SH["and"], self._list([self._absent(path), either]))

    def _absent(self, path: Node) -> BNode:
        """No value at `path`, or only values that count as not sent (bx:NotStatedValue)."""
        node = BNode()
        self.g.add((node, SH.path, path))
        self.g.add((node, SH["class"], BX.NotStatedValue))
        return node

    def _path(self, steps: tuple[URIRef, ...]) -> Node:
        return steps[0] if len(steps) == 1 else self._list(list(steps))

    def _shape(self, p: URIRef, o: Node) -> BNode:
        node = BNode()
        self.g.add((node, p, o))
        return node

    def _list(self, items: list[Node]) -> BNode:
        head = BNode()
        Collection(self.g, head, items)
        return head


def _steps(g: Graph, path: Node) -> tuple[URIRef, ...]:
    """The predicates of a predicate or sequence path (empty for another kind of path)."""
    if isinstance(path, URIRef):
        return (path,)
    if (path, RDF.first, None) in g:
        items = tuple(Collection(g, path))
        if all(isinstance(i, URIRef) for i in items):
            return items
    return ()
