"""Property paths (SHACL 1.0 §2.3.1, "SHACL Property Paths"): a path compiled into a function from a
focus node to its value nodes over the run's `Index`.

Predicate, sequence, inverse (of a predicate), alternative, zero-or-more, one-or-more and
zero-or-one paths. The inverse of a complex path is not compiled (`UnsupportedShape`: the shape runs
through pySHACL); a node that is no SHACL path raises `ShapeError` at load time.
"""

from __future__ import annotations

from collections.abc import Callable

from rdflib import RDF, Graph, Literal, URIRef
from rdflib.collection import Collection
from rdflib.namespace import SH
from rdflib.term import Node

from reasoner.shacl.index import Index
from reasoner.shacl.shape import ShapeError, UnsupportedShape, Values

__all__ = ["PATH_KINDS", "compile_path"]

PATH_KINDS = (SH.inversePath, SH.alternativePath, SH.zeroOrMorePath, SH.oneOrMorePath, SH.zeroOrOnePath)


def compile_path(g: Graph, shape: Node, path: Node) -> Callable[[Index, Node], Values]:
    if isinstance(path, URIRef):
        def predicate(idx: Index, focus: Node) -> Values:
            by_p = idx.out.get(focus)
            return set(by_p.get(path, ())) if by_p else set()
        return predicate
    if isinstance(path, Literal):
        raise ShapeError(shape, "a literal sh:path")
    if (path, RDF.first, None) in g:
        steps = [compile_path(g, shape, p) for p in Collection(g, path)]
        if not steps:
            raise ShapeError(shape, "an empty sequence path")

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
    kinds = [(p, o) for p, o in g.predicate_objects(path) if p in PATH_KINDS]
    if len(kinds) != 1:
        raise ShapeError(shape, f"the path {path!r} is not a SHACL property path (§2.3.1)")
    kind, inner = kinds[0]
    if kind == SH.inversePath:
        if not isinstance(inner, URIRef):
            raise UnsupportedShape(shape, "sh:inversePath of a complex path")

        def inverse(idx: Index, focus: Node) -> Values:
            return set(idx.subjects(inner, focus))
        return inverse
    if kind == SH.alternativePath:
        options = [compile_path(g, shape, p) for p in Collection(g, inner)]

        def alternative(idx: Index, focus: Node) -> Values:
            out: set[Node] = set()
            for option in options:
                out |= option(idx, focus)
            return out
        return alternative
    step = compile_path(g, shape, inner)
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
