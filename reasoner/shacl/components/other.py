"""Other constraint components (SHACL 1.0 §4.8): sh:hasValue, sh:in.

sh:closed / sh:ignoredProperties are not compiled (a shape using them is refused at load)."""

from __future__ import annotations

from rdflib.namespace import SH
from rdflib.term import Node

from reasoner.shacl.components.common import per_value
from reasoner.shacl.messages import stringify, stringify_shapes
from reasoner.shacl.shape import CompiledShape, Compiler, ShapeError

__all__ = ["COMPILERS", "PARAMETERS"]

PARAMETERS = frozenset({SH.hasValue, SH["in"]})

_HasValueConstraintComponent = SH.HasValueConstraintComponent  # made once: SH.x builds a new URIRef


def _has_value(cs: Compiler, shape: CompiledShape, params: set, stack):
    """§4.8.3 sh:hasValue: the value is among the value nodes."""
    if SH.hasValue not in params:
        return None
    wanted = set(cs.graph.objects(shape.node, SH.hasValue))
    g = cs.graph

    def message(dg, focus, value):
        the_set = [stringify_shapes(g, s) for s in wanted]
        if shape.path is not None:
            return "Node {}->{} does not contain a value in the set: {}".format(
                stringify(dg, focus), stringify_shapes(g, shape.path), the_set)
        return "Node {} value is not a in the set of values: {}".format(stringify(dg, focus), the_set)

    def holds(idx, focus, values):
        for hv in wanted:
            if hv not in values:  # values is a set: hash and term equality, as pySHACL's ==
                return False
        return True

    def report(idx, focus, values, out):
        for hv in wanted:
            if hv not in values:
                out.append((focus, None, shape, _HasValueConstraintComponent, message))
    holds.spec = ("has_value", list(wanted), _HasValueConstraintComponent, message)
    return holds, report


def _in(cs: Compiler, shape: CompiledShape, params: set, stack):
    """§4.8.2 sh:in: each value node is a member of the list."""
    if SH["in"] not in params:
        return None
    g = cs.graph
    heads = list(g.objects(shape.node, SH["in"]))
    if len(heads) != 1:
        raise ShapeError(shape.node, "more than one sh:in")
    allowed: set[Node] = set()
    for item in g.items(heads[0]):
        allowed.add(item)

    def message(dg, focus, value):
        return "Value {} not in list {}".format(stringify(dg, value), [stringify_shapes(g, v) for v in allowed])
    return per_value(shape, SH.InConstraintComponent, [None], lambda _idx, v, _r: v in allowed, message,
                     "in", allowed)


COMPILERS = (_has_value, _in)
