"""The data graph indexed once per validation run: what every compiled constraint reads.

A graph over a SmallStore (what `reasoner.flow.lift` builds) already holds these dictionaries; any
other graph is indexed once here.
"""

from __future__ import annotations

from collections.abc import Iterable

from rdflib import RDFS, Graph, Literal
from rdflib.term import Node

from reasoner.shacl.datagraph import TYPE, SmallStore, canonical

__all__ = ["Index"]

SUBCLASS = canonical(RDFS.subClassOf)


class Index:
    """Subject -> predicate -> objects (and predicate -> object -> subjects) of one data graph."""

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
        self.typed: dict[Node, dict[Node, None]] = pos.get(TYPE, {})  # class -> its instances (targets)
        self.subclassing = SUBCLASS in pos  # the data graph states rdfs:subClassOf itself
        self.paths: dict[tuple[int, Node], set] = {}  # (path number, focus) -> value nodes, this run

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
        types = by_p.get(TYPE) if by_p else None
        if not types:
            return False
        if cls in types:
            return True
        if not self.subclassing:
            return False
        seen = set(types)
        todo = list(types)
        while todo:
            for sup in self.objects(todo.pop(), SUBCLASS):
                if sup == cls:
                    return True
                if sup not in seen:
                    seen.add(sup)
                    todo.append(sup)
        return False
