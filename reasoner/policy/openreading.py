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
  not. A field the contract requires is always sent, so nothing is derived for it: the diagnosis
  (I.A.1, II.A), whose unknown or lineage-less value is missing, states its reading as bx:openShape.
- A value the ontology types `bx:NotStatedValue` counts as not sent (`ph_status: "unknown"`,
  reading 2).
- `sh:or`, `sh:and` and `sh:node` are read member by member; `sh:not X` is not contradicted when X
  does not certainly hold, so X is kept as it is. `sh:xone` is not derived (the author writes the
  reading, `bx:openShape`).

The derivation follows the request node: below a value (inside `sh:node`, `sh:qualifiedValueShape`,
a nested `sh:property`) "not sent" is "no value". A criterion whose reading is not mechanical keeps
an explicit `bx:openShape` (an override: blincyto lint checks it); nothing is derived for it.

The reading is written the short way where that is the same (the validation runs per request): a
property the request carries that can hold no not-sent value just loses its `sh:minCount`, and its
`sh:hasValue X`, on a field of one value, becomes `sh:in ( X )`; a field the contract requires is
never absent, so nothing is added for it (from the JSON Schema).
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
    """What the request sends: per derived property, the request paths of the fields it is derived
    from; and the request paths the contract requires (always sent: never absent)."""

    paths: dict[URIRef, tuple[tuple[URIRef, ...], ...]]
    required: frozenset[tuple[URIRef, ...]] = frozenset()
    not_stated: frozenset[URIRef] = frozenset()  # properties that can hold a bx:NotStatedValue
    single: frozenset[tuple[URIRef, ...]] = frozenset()  # request paths of one value (a JSON scalar)

    @classmethod
    def of(cls, derived_fields: dict[URIRef, tuple[str, ...]], field_of_path: dict[tuple[URIRef, ...], str],
           required_fields: Iterable[str] = (), scalar_fields: Iterable[str] = (),
           ontology: Graph | None = None) -> "Sources":
        path_of_field = {name: path for path, name in field_of_path.items()}
        return cls({prop: tuple(path_of_field[f] for f in fields if f in path_of_field)
                    for prop, fields in derived_fields.items()},
                   frozenset(path_of_field[f] for f in required_fields if f in path_of_field),
                   _not_stated_properties(ontology) if ontology is not None else frozenset(),
                   frozenset(path_of_field[f] for f in scalar_fields if f in path_of_field))

    def always_sent(self, path: tuple[URIRef, ...]) -> bool:
        """A path the request always has: a required field, or derived from required fields only."""
        if path in self.required:
            return True
        sources = self.paths.get(path[-1], ()) if path else ()
        return bool(sources) and all(q in self.required for q in sources)


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
            writer.discard()
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
        self.stack: list[Node] = []
        self.made: list[BNode] = []  # every node written, to take back if nothing changed

    def node(self) -> BNode:
        made = BNode()
        self.made.append(made)
        return made

    def discard(self) -> None:
        """Take back everything written (the shape has no reading of its own)."""
        for node in self.made:
            self.g.remove((node, None, None))

    def node_shape(self, shape: Node, root: bool) -> Node:
        """A copy of `shape` read with absent facts passing; its focus is the request when `root`.
        A shape met again inside itself (recursion) is read as it is."""
        if shape in self.stack:
            return shape
        self.stack.append(shape)
        try:
            return self._copy(shape, root)
        finally:
            self.stack.pop()

    def _copy(self, shape: Node, root: bool) -> BNode:
        g, new = self.g, self.node()
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
        """`sh:property P` of a node shape, read with absent facts passing (`sh:or ( <not sent> P )`)."""
        copy = self.node_shape(prop, root=False)
        if not self._fails_when_absent(prop, root):
            return SH.property, copy
        self.changed = True
        if self._just_drop_min_count(prop, root, copy):
            return SH.property, copy
        return SH["or"], self._list([self._not_sent(prop, root), copy])

    def _member_shape(self, member: Node, root: bool) -> Node:
        """A member of sh:or / sh:and (a node or property shape), read with absent facts passing."""
        if (member, SH.path, None) not in self.g:
            return self.node_shape(member, root)
        copy = self.node_shape(member, root=False)
        if not self._fails_when_absent(member, root):
            return copy
        self.changed = True
        if self._just_drop_min_count(member, root, copy):
            return copy
        holder = self.node()
        self.g.add((holder, SH["or"], self._list([self._not_sent(member, root), copy])))
        return holder

    def _fails_when_absent(self, prop: Node, root: bool) -> bool:
        """`prop` fails on a path with no value, and the path can have none (the request may not
        send it: the contract does not require it)."""
        g = self.g
        if root and self.sources.always_sent(_steps(g, g.value(prop, SH.path))):
            return False
        if (prop, SH.hasValue, None) in g:
            return True
        for p in (SH.minCount, SH.qualifiedMinCount):
            for n in g.objects(prop, p):
                if isinstance(n, Literal) and isinstance(n.value, int) and n.value >= 1:
                    return True
        return False

    def _just_drop_min_count(self, prop: Node, root: bool, copy: Node) -> bool:
        """The common case, written the short way: when "not sent" is just "no value" (a property the
        request carries, that holds no not-sent value) and only sh:minCount fails on no value,
        `sh:or ( [no value] P )` is P without its sh:minCount; and on a field of one value,
        `sh:hasValue X` is `sh:in ( X )` (which passes on no value). Rewrites `copy` if so."""
        g = self.g
        if any(isinstance(n, Literal) and isinstance(n.value, int) and n.value >= 1
               for n in g.objects(prop, SH.qualifiedMinCount)):
            return False
        steps = _steps(g, g.value(prop, SH.path))
        if not steps or steps[-1] in self.sources.not_stated or (root and self.sources.paths.get(steps[-1])):
            return False
        wanted = list(g.objects(prop, SH.hasValue))
        if wanted:
            if len(wanted) > 1 or not root or steps not in self.sources.single:
                return False
            g.remove((copy, SH.hasValue, None))
            g.add((copy, SH["in"], self._list(wanted)))
        g.remove((copy, SH.minCount, None))
        return True

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
        """No value at `path`, or, where the property can hold one, only values that count as not
        sent (bx:NotStatedValue)."""
        node = self.node()
        self.g.add((node, SH.path, path))
        steps = _steps(self.g, path)
        if not steps or steps[-1] in self.sources.not_stated:
            self.g.add((node, SH["class"], BX.NotStatedValue))
        else:
            self.g.add((node, SH.maxCount, Literal(0)))  # a count: cheaper than a class per value
        return node

    def _path(self, steps: tuple[URIRef, ...]) -> Node:
        return steps[0] if len(steps) == 1 else self._list(list(steps))

    def _shape(self, p: URIRef, o: Node) -> BNode:
        node = self.node()
        self.g.add((node, p, o))
        return node

    def _list(self, items: list[Node]) -> BNode:
        head = self.node()
        Collection(self.g, head, items)
        cell = self.g.value(head, RDF.rest)
        while isinstance(cell, BNode):
            self.made.append(cell)
            cell = self.g.value(cell, RDF.rest)
        return head


def _not_stated_properties(o: Graph) -> frozenset[URIRef]:
    """Properties whose range holds a bx:NotStatedValue (bx:phStatus: kb:Ph-unknown)."""
    from rdflib import RDFS

    classes: set[Node] = set()
    for value in o.subjects(RDF.type, BX.NotStatedValue):
        todo = list(o.objects(value, RDF.type))
        while todo:
            c = todo.pop()
            if c not in classes:
                classes.add(c)
                todo.extend(o.objects(c, RDFS.subClassOf))
    return frozenset(p for c in classes for p in o.subjects(RDFS.range, c) if isinstance(p, URIRef))


def _steps(g: Graph, path: Node) -> tuple[URIRef, ...]:
    """The predicates of a predicate or sequence path (empty for another kind of path)."""
    if isinstance(path, URIRef):
        return (path,)
    if (path, RDF.first, None) in g:
        items = tuple(Collection(g, path))
        if all(isinstance(i, URIRef) for i in items):
            return items
    return ()
