"""Other constraint components (SHACL 1.0 §4.8): sh:closed with sh:ignoredProperties, sh:hasValue, sh:in."""

from __future__ import annotations

from rdflib import RDF, RDFS, XSD, Literal
from rdflib.namespace import SH
from rdflib.term import Node

from reasoner.shacl.components.common import per_value
from reasoner.shacl.messages import stringify, stringify_shapes
from reasoner.shacl.shape import CompiledShape, Compiler, ShapeError

__all__ = ["COMPILERS", "PARAMETERS"]

PARAMETERS = frozenset({SH.closed, SH.ignoredProperties, SH.hasValue, SH["in"]})

_HasValueConstraintComponent = SH.HasValueConstraintComponent  # made once: SH.x builds a new URIRef
_ClosedConstraintComponent = SH.ClosedConstraintComponent
# pySHACL's ClosedConstraintComponent.ALWAYS_IGNORE: a triple the RDFS entailment regime adds to every
# node (the suite runs without inference, but pySHACL skips it whatever the regime)
_ALWAYS_IGNORED = (RDF.type, RDFS.Resource)


def _items(cs: Compiler, shape: CompiledShape, head: Node, what: str) -> list[Node]:
    try:
        return list(cs.graph.items(head))
    except ValueError:  # rdflib: "List contains a recursive rdf:rest reference"
        raise ShapeError(shape.node, f"{what} is a list that loops back on itself") from None


def _closed(cs: Compiler, shape: CompiledShape, params: set, stack):
    """§4.8.1 sh:closed, sh:ignoredProperties: a result for each triple whose subject is a value node
    and whose predicate is neither the sh:path of one of the shape's sh:property shapes nor listed in
    sh:ignoredProperties; its sh:resultPath is that predicate and its sh:value that object."""
    if SH.closed not in params:
        if SH.ignoredProperties in params:
            raise ShapeError(shape.node, "sh:ignoredProperties without sh:closed (SHACL 1.0 §4.8.1)")
        return None
    g = cs.graph
    closed = list(g.objects(shape.node, SH.closed))
    if len(closed) != 1 or not isinstance(closed[0], Literal) or closed[0].datatype != XSD.boolean:
        raise ShapeError(shape.node, "sh:closed must be one xsd:boolean")
    if closed[0].value is not True:
        return None  # sh:closed false: nothing is closed
    allowed: set[Node] = set()
    for head in g.objects(shape.node, SH.ignoredProperties):
        allowed.update(_items(cs, shape, head, "sh:ignoredProperties"))
    for child in g.objects(shape.node, SH.property):
        allowed.update(g.objects(child, SH.path))  # a deactivated property shape's path too, as pySHACL
    allowed_ = frozenset(allowed)
    at = shape.at
    rdf_type, resource = _ALWAYS_IGNORED

    def message(dg, focus, value):
        return "Node {} is closed. It cannot have value: {}".format(stringify(dg, focus), stringify(dg, value))

    def offending(idx, values):
        """(predicate, object) of every triple of a value node that the shape does not allow."""
        out = idx.out
        for v in values:
            by_p = out.get(v)
            if by_p:
                for p, objects in by_p.items():
                    if p not in allowed_:
                        for o in objects:
                            if p != rdf_type or o != resource:
                                yield p, o

    def holds(idx, focus, values):
        return next(offending(idx, values), None) is None

    def report(idx, focus, values, results):
        for p, o in offending(idx, values):
            results.append((focus, o, at(p), _ClosedConstraintComponent, message))
    holds.spec = ("closed", allowed_, _ClosedConstraintComponent, message, at)
    return holds, report


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
    allowed: set[Node] = set(_items(cs, shape, heads[0], "sh:in"))

    def message(dg, focus, value):
        return "Value {} not in list {}".format(stringify(dg, value), [stringify_shapes(g, v) for v in allowed])
    return per_value(shape, SH.InConstraintComponent, [None], lambda _idx, v, _r: v in allowed, message,
                     "in", allowed)


COMPILERS = (_closed, _has_value, _in)
