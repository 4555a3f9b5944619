"""A small in-memory rdflib Store for one request graph: plain dicts, no contexts, cheap to fill.

rdflib's default Memory store keeps three indexes plus context bookkeeping for every triple, which
makes adding the hundred-odd triples of a request graph cost more than validating it. A request graph
is small, lives for one evaluation and has a single context, so two dictionaries do: subject ->
predicate -> objects and predicate -> object -> subjects. The SHACL engine (`reasoner.shacl.index.Index`)
reads them directly instead of re-indexing the graph. Anything else sees an ordinary `rdflib.Graph`.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterable, Iterator
from decimal import Decimal
from functools import lru_cache
from typing import Any

from rdflib.graph import Graph
from rdflib.namespace import RDF, XSD
from rdflib.store import Store
from rdflib.term import BNode, Literal, Node

__all__ = ["TYPE", "HashedLiteral", "SmallGraph", "SmallStore", "blank", "canonical", "decimal", "exact", "follow",
           "literal", "shared",
           "small_graph"]

_NO_CONTEXTS: tuple = ()


class SmallStore(Store):
    """Triples in insertion order, indexed by subject and by predicate (not context-aware)."""

    context_aware = False
    formula_aware = False
    transaction_aware = False
    graph_aware = False

    def __init__(self) -> None:
        super().__init__()
        self.spo: dict[Node, dict[Node, dict[Node, None]]] = {}
        self.pos: dict[Node, dict[Node, dict[Node, None]]] = {}
        self._size = 0

    def add(self, triple: tuple[Node, Node, Node], context: Any = None, quoted: bool = False) -> None:
        s, p, o = triple
        self.add_objects(s, p, (o,))

    def add_objects(self, s: Node, p: Node, objects: Iterable[Node]) -> None:
        """`add((s, p, o))` for every o, with the dictionary lookups done once."""
        by_p = self.spo.get(s)
        if by_p is None:
            by_p = self.spo[s] = {}
        objs = by_p.get(p)
        if objs is None:
            objs = by_p[p] = {}
        by_o = self.pos.get(p)
        if by_o is None:
            by_o = self.pos[p] = {}
        for o in objects:
            if o in objs:
                continue
            objs[o] = None
            subjects = by_o.get(o)
            if subjects is None:
                by_o[o] = {s: None}
            else:
                subjects[s] = None
            self._size += 1

    def add_each(self, p: Node, pairs: Iterable[tuple[Node, Iterable[Node]]]) -> None:
        """`add_objects(s, p, objects)` for every (s, objects): one call for many subjects (the type
        closures of a request's KB individuals), a new subject's objects copied in one step."""
        spo, by_o = self.spo, self.pos.get(p)
        if by_o is None:
            by_o = self.pos[p] = {}
        size = 0
        for s, objects in pairs:
            by_p = spo.get(s)
            if by_p is None:
                spo[s] = {p: dict.fromkeys(objects)}
                fresh = objects
            else:
                objs = by_p.get(p)
                if objs is None:
                    objs = by_p[p] = {}
                fresh = [o for o in objects if o not in objs]
                objs.update(dict.fromkeys(fresh))
            for o in fresh:
                subjects = by_o.get(o)
                if subjects is None:
                    by_o[o] = {s: None}
                else:
                    subjects[s] = None
            size += len(fresh)
        self._size += size

    def objects_with(self, table: dict) -> list[tuple[Node, Any]]:
        """(object, table[object]) for every object of the graph that is a key of `table`, each once.
        Reads the objects off the index (no set of them), and skips the request's own literals
        (their hash is Python's, and `table` is keyed by KB terms)."""
        found: dict[Node, Any] = {}
        for by_o in self.pos.values():
            for o in by_o:
                if o.__class__ is not HashedLiteral and o not in found:
                    value = table.get(o)
                    if value:
                        found[o] = value
        return list(found.items())

    def addN(self, quads) -> None:  # noqa: N802 - rdflib's name
        for s, p, o, _c in quads:
            self.add((s, p, o))

    def remove(self, triple: tuple, context: Any = None) -> None:
        for s, p, o in list(self._match(*triple)):
            del self.spo[s][p][o]
            if not self.spo[s][p]:
                del self.spo[s][p]
                if not self.spo[s]:
                    del self.spo[s]
            del self.pos[p][o][s]
            if not self.pos[p][o]:
                del self.pos[p][o]
                if not self.pos[p]:
                    del self.pos[p]
            self._size -= 1

    def triples(self, triple_pattern: tuple, context: Any = None) -> Iterator[tuple[tuple, Any]]:
        for t in self._match(*triple_pattern):
            yield t, iter(_NO_CONTEXTS)

    def _match(self, s: Node | None, p: Node | None, o: Node | None) -> list[tuple[Node, Node, Node]]:
        """Matching triples, as a list: callers may add to the graph while they iterate."""
        if s is not None:
            by_p = self.spo.get(s)
            if not by_p:
                return []
            if p is not None:
                objs = by_p.get(p)
                if not objs:
                    return []
                if o is not None:
                    return [(s, p, o)] if o in objs else []
                return [(s, p, x) for x in objs]
            return [(s, p_, x) for p_, objs in by_p.items() for x in objs if o is None or x == o]
        if p is not None:
            by_o = self.pos.get(p)
            if not by_o:
                return []
            if o is not None:
                return [(x, p, o) for x in by_o.get(o, ())]
            return [(x, p, o_) for o_, subjects in by_o.items() for x in subjects]
        return [(s_, p_, x) for s_, by_p in self.spo.items() for p_, objs in by_p.items() for x in objs
                if o is None or x == o]

    def __len__(self, context: Any = None) -> int:
        return self._size

    def contexts(self, triple: Any = None) -> Iterator[Any]:
        return iter(_NO_CONTEXTS)


class SmallGraph(Graph):
    """An rdflib Graph over a SmallStore whose hot calls go straight to the dictionaries.

    `add` skips rdflib's per-term assertions (the engine only adds terms it made), and `objects` /
    `value` with a subject and a plain predicate read the index without rdflib's generator layers.
    Every other call, and every other form of these, is rdflib's own.
    """

    def __init__(self) -> None:
        self._small = SmallStore()
        # a name from `blank()`: rdflib's default, BNode(), draws a uuid4 (a fifth of a lift)
        super().__init__(store=self._small, identifier=blank())

    def add(self, triple: tuple[Node, Node, Node]) -> "SmallGraph":
        s, p, o = triple  # SmallStore.add_objects for one object, written out: the hottest call of a request
        store = self._small
        by_p = store.spo.get(s)
        if by_p is None:
            by_p = store.spo[s] = {}
        objs = by_p.get(p)
        if objs is None:
            objs = by_p[p] = {}
        elif o in objs:
            return self
        objs[o] = None
        by_o = store.pos.get(p)
        if by_o is None:
            store.pos[p] = {o: {s: None}}
        else:
            subjects = by_o.get(o)
            if subjects is None:
                by_o[o] = {s: None}
            else:
                subjects[s] = None
        store._size += 1
        return self

    def add_objects(self, s: Node, p: Node, objects: Iterable[Node]) -> None:
        """Many objects of one subject and predicate at once (see SmallStore.add_objects)."""
        self._small.add_objects(s, p, objects)

    def add_each(self, p: Node, pairs: Iterable[tuple[Node, Iterable[Node]]]) -> None:
        """Many subjects' objects of one predicate at once (see SmallStore.add_each)."""
        self._small.add_each(p, pairs)

    def objects_with(self, table: dict) -> list[tuple[Node, Any]]:
        """(object, table[object]) for the objects that are keys of `table` (SmallStore.objects_with)."""
        return self._small.objects_with(table)

    def all_objects(self) -> set[Node]:
        """Every object of the graph, once."""
        return {o for by_p in self._small.spo.values() for objs in by_p.values() for o in objs}

    def objects(self, subject: Any = None, predicate: Any = None, unique: bool = False) -> Iterator[Node]:
        if subject is None or predicate is None or isinstance(subject, list) or not isinstance(predicate, Node):
            return super().objects(subject, predicate, unique)
        by_p = self._small.spo.get(subject)
        objs = by_p.get(predicate) if by_p else None
        return iter(list(objs)) if objs else iter(_NO_CONTEXTS)

    def value(self, subject: Any = None, predicate: Any = None, object: Any = None,  # noqa: A002 - rdflib's name
              default: Node | None = None, any: bool = True) -> Node | None:  # noqa: A002
        if object is not None or subject is None or predicate is None or not any:
            return super().value(subject, predicate, object, default, any)
        by_p = self._small.spo.get(subject)
        objs = by_p.get(predicate) if by_p else None
        return next(iter(objs)) if objs else default


def follow_index(spo: dict, node: Node, path: tuple[Node, ...]) -> set[Node]:
    """The nodes a sequence of predicates (SHACL 1.0 §2.3.1.1) reaches from `node` in a
    subject -> predicate -> objects index: the compiled and the generated shapes read paths with it."""
    nodes: set[Node] = {node}
    for p in path:
        nxt: set[Node] = set()
        for n in nodes:
            by_p = spo.get(n)
            if by_p:
                found = by_p.get(p)
                if found:
                    nxt.update(found)
        if not nxt:
            return nxt
        nodes = nxt
    return nodes


def follow(g: Graph, node: Node, path: tuple[Node, ...]) -> set[Node]:
    """The nodes a sequence of predicates reaches from `node` (a SmallGraph's index read directly)."""
    if isinstance(g, SmallGraph):
        return follow_index(g._small.spo, node, path)
    nodes: set[Node] = {node}
    for p in path:
        nodes = {o for n in nodes for o in g.objects(n, p)}
    return nodes


def small_graph() -> SmallGraph:
    """An rdflib Graph over a fresh SmallStore."""
    return SmallGraph()


_CANONICAL: dict[Node, Node] = {}


def canonical(node: Node) -> Node:
    """One object per RDF term (KB, shapes, lifted vocabulary): a dict lookup of the very same object
    skips rdflib's slow term comparison. Equality is unchanged; only identity is shared."""
    return _CANONICAL.setdefault(node, node)


TYPE = canonical(RDF.type)  # rdf:type, the one object every module uses
_DECIMAL = canonical(XSD.decimal)


def shared(node: Node) -> Node:
    """The canonical object of `node` if there is one, else `node` (adds nothing: per-request terms
    must not grow the table)."""
    return _CANONICAL.get(node, node)


def literal(value: Any, datatype: Node | None = None) -> Literal:
    """`Literal(value, datatype=datatype)`, made once per distinct value: literals are immutable, and
    rdflib spends more making one (parsing, normalising) than a request graph spends on a triple.

    The key keeps apart what Python calls equal but RDF writes differently (True and 1, 1 and 1.0,
    0.0 and -0.0, Decimal 1.0 and 1.00)."""
    key = repr(value) if isinstance(value, (float, Decimal)) else value
    return _literal(type(value), key, value, datatype)


def exact(value: Any) -> Decimal:
    """A number as the exact decimal it was written as: an int or a Decimal as it is, a float as its
    shortest repr (the digits a JSON text sent: 0.8 is 0.8, not 0.8000000000000000444), a literal or
    a string by its lexical form. Arithmetic on these is exact, so a threshold is never crossed by
    binary noise (15 x 0.8 is 12.0, not 12.000000000000002)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str):  # a Literal is a str: its lexical form
        return Decimal(str(value))
    raise TypeError(f"not a number: {type(value).__name__}")


def decimal(x: Decimal | int) -> Literal:
    """An xsd:decimal literal of an exact number. A float is refused: convert it with `exact` first,
    where the decision of what it means is visible."""
    if isinstance(x, (float, bool)):
        raise TypeError("decimal() takes a Decimal or an int; use exact() on a float")
    return literal(Decimal(x), _DECIMAL)


class HashedLiteral(Literal):
    """A Literal that keeps its hash. rdflib works a Literal's hash out in Python on every dictionary
    lookup (its lexical form, language and datatype), and a request's literals are looked up a
    hundred times a request (indexing the graph, validating it); this one works it out once. Equal
    to, hashed as, ordered and written as the Literal it is; a copy or a pickle is a plain Literal."""

    __slots__ = ("_hash",)

    def __new__(cls, value: Any, lang: str | None = None, datatype: Node | None = None,
                normalize: bool | None = None) -> "HashedLiteral":
        self = super().__new__(cls, value, lang=lang, datatype=datatype, normalize=normalize)
        self._hash = Literal.__hash__(self)
        return self

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return "rdflib.term.Literal" + Literal.__repr__(self)[len("HashedLiteral"):]


@lru_cache(maxsize=4096)  # bounded: memory stays flat; nine in ten lookups hit
def _literal(_kind: type, _key: Any, value: Any, datatype: Node | None) -> Literal:
    return HashedLiteral(value, datatype=datatype)


# Blank nodes: a random prefix per process and a counter, instead of rdflib's uuid4 per node. Labels
# stay unique across requests, stores and worker processes (the prefix is drawn again after a fork).
_BLANK = {"prefix": "", "serial": itertools.count()}


def _new_prefix() -> None:
    _BLANK["prefix"] = "b" + uuid.uuid4().hex
    _BLANK["serial"] = itertools.count()


_new_prefix()
if hasattr(os, "register_at_fork"):  # POSIX; elsewhere worker processes are spawned, not forked
    os.register_at_fork(after_in_child=_new_prefix)


def blank() -> BNode:
    """A fresh blank node (made as BNode(label) makes one, without its two Python-level __new__)."""
    return _new_str(BNode, f"{_BLANK['prefix']}x{next(_BLANK['serial'])}")


_new_str = str.__new__
