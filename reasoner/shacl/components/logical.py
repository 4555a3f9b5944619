"""Logical constraint components (SHACL 1.0 §4.6): sh:not, sh:and, sh:or, sh:xone."""

from __future__ import annotations

from rdflib import URIRef
from rdflib.namespace import SH

from reasoner.shacl.components.common import per_value
from reasoner.shacl.messages import stringify, stringify_shapes
from reasoner.shacl.shape import CompiledShape, Compiler

__all__ = ["COMPILERS", "PARAMETERS"]

PARAMETERS = frozenset({SH["not"], SH["and"], SH["or"], SH.xone})


def _logical(parameter: URIRef):
    """§4.6.2 sh:and, §4.6.3 sh:or, §4.6.4 sh:xone: each value node against the list's shapes."""
    component = {SH["or"]: SH.OrConstraintComponent, SH["and"]: SH.AndConstraintComponent,
                 SH.xone: SH.XoneConstraintComponent}[parameter]
    word = {SH["or"]: "one or more shapes in", SH["and"]: "all shapes in", SH.xone: "exactly one shape in"}[parameter]

    def compile_(cs: Compiler, shape: CompiledShape, params: set, stack):
        if parameter not in params:
            return None
        lists = cs.lists(shape, parameter, stack)
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
                text = " , ".join(stringify_shapes(g, c) for c in g.items(heads[0]))
            else:
                text = " and ".join("({})".format(" , ".join(stringify_shapes(g, c) for c in g.items(h))) for h in heads)
            return f"Node {stringify(dg, value)} must conform to {word} {text}"
        return per_value(shape, component, [m for _, m in lists], ok, message,
                         {SH["or"]: "or", SH["and"]: "and", SH.xone: "xone"}[parameter])
    return compile_


def _not(cs: Compiler, shape: CompiledShape, params: set, stack):
    """§4.6.1 sh:not: no value node conforms to the shape."""
    if SH["not"] not in params:
        return None
    g = cs.graph
    nodes = list(g.objects(shape.node, SH["not"]))
    negated = [cs.shape(n, stack) for n in nodes]

    def message(dg, focus, value):
        if len(nodes) == 1:
            return f"Node {stringify(dg, value)} must not conform to shape {stringify_shapes(g, nodes[0])}"
        return "Node {} must not conform to any shapes in {}".format(
            stringify(dg, value), " , ".join(stringify_shapes(g, n) for n in nodes))
    return per_value(shape, SH.NotConstraintComponent, negated, lambda idx, v, n: not n.conforms(idx, v), message,
                     "not")


COMPILERS = (_logical(SH["or"]), _logical(SH["and"]), _logical(SH.xone), _not)
