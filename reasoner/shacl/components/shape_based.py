"""Shape-based constraint components (SHACL 1.0 §4.7): sh:node, sh:property, sh:qualifiedValueShape
with sh:qualifiedMinCount / sh:qualifiedMaxCount."""

from __future__ import annotations

from rdflib import Literal
from rdflib.namespace import SH

from reasoner.shacl.messages import stringify, stringify_shapes
from reasoner.shacl.shape import CompiledShape, Compiler, Result, ShapeError, UnsupportedShape

__all__ = ["COMPILERS", "PARAMETERS"]

PARAMETERS = frozenset({SH.node, SH.property, SH.qualifiedValueShape, SH.qualifiedMinCount, SH.qualifiedMaxCount})

_NodeConstraintComponent = SH.NodeConstraintComponent
_QualifiedMaxCountConstraintComponent = SH.QualifiedMaxCountConstraintComponent
_QualifiedMinCountConstraintComponent = SH.QualifiedMinCountConstraintComponent


def _node(cs: Compiler, shape: CompiledShape, params: set, stack):
    """§4.7.1 sh:node: each value node conforms to the node shape."""
    if SH.node not in params:
        return None
    g = cs.graph
    nodes = list(g.objects(shape.node, SH.node))
    targets = [cs.shape(n, stack) for n in nodes]
    for t in targets:
        if t.path is not None:
            raise UnsupportedShape(shape.node, f"sh:node {t.node} is a property shape")

    def message(dg, focus, value):
        if len(nodes) < 2:
            text = "Value does not conform to Shape {}.".format(stringify_shapes(g, nodes[0]))
        else:
            text = "Value must conform to every Shape in ('{}').".format("', '".join(stringify_shapes(g, n) for n in nodes))
        return text + " See details for more information."

    def holds(idx, focus, values):
        for t in targets:
            for v in values:
                if not t.conforms(idx, v):
                    return False
        return True

    def report(idx, focus, values, out):
        for t in targets:
            for v in values:
                details: list[Result] = []
                t.report(idx, v, details)
                if details:
                    out.append((focus, v, shape, _NodeConstraintComponent, message, details))
    holds.spec = ("node", targets, _NodeConstraintComponent, message)
    return holds, report


def _property(cs: Compiler, shape: CompiledShape, params: set, stack):
    """§4.7.2 sh:property: each value node conforms to the property shape."""
    if SH.property not in params:
        return None
    children = cs.children(shape, SH.property, stack)
    for child in children:
        if child.path is None:
            raise ShapeError(shape.node, f"sh:property {child.node} has no sh:path (SHACL 1.0 §4.7.2)")

    def holds(idx, focus, values):
        for child in children:
            for v in values:
                if not child.conforms(idx, v):
                    return False
        return True

    def report(idx, focus, values, out):
        for child in children:
            for v in values:
                child.report(idx, v, out)
    holds.spec = ("property", children)
    return holds, report


def _qualified(cs: Compiler, shape: CompiledShape, params: set, stack):
    """§4.7.3 sh:qualifiedValueShape: how many value nodes conform to the qualified shape."""
    if SH.qualifiedValueShape not in params:
        if params & {SH.qualifiedMinCount, SH.qualifiedMaxCount}:
            raise UnsupportedShape(shape.node, "sh:qualifiedMinCount/MaxCount without sh:qualifiedValueShape")
        return None
    g = cs.graph
    if shape.path is None:  # pySHACL would ignore it, with a warning
        raise ShapeError(shape.node, "sh:qualifiedValueShape on a node shape (only property shapes have it)")
    disjoint = list(g.objects(shape.node, SH.qualifiedValueShapesDisjoint))
    if disjoint and any(bool(d.value) for d in disjoint if isinstance(d, Literal)):
        raise UnsupportedShape(shape.node, "sh:qualifiedValueShapesDisjoint true")
    counts = {}
    for p in (SH.qualifiedMinCount, SH.qualifiedMaxCount):
        vals = list(g.objects(shape.node, p))
        if len(vals) > 1 or (vals and not (isinstance(vals[0], Literal) and isinstance(vals[0].value, int))):
            raise ShapeError(shape.node, f"{g.qname(p)} must be one integer")
        counts[p] = vals[0].value if vals else None
    low, high = counts[SH.qualifiedMinCount], counts[SH.qualifiedMaxCount]
    if low is None and high is None:
        raise UnsupportedShape(shape.node, "sh:qualifiedValueShape without a qualified count")
    nodes = list(set(g.objects(shape.node, SH.qualifiedValueShape)))
    value_shapes = [cs.shape(n, stack) for n in nodes]

    def message(dg, focus, value):
        names = ",".join(stringify_shapes(g, n) for n in nodes)
        count = (f" MinCount {low}" if low is not None else "") + (f" MaxCount {high}" if high is not None else "")
        if len(nodes) > 1:
            return f"Focus node does not conform to shapes{count}: ({names})"
        return f"Focus node does not conform to shape{count}: {names}"

    def failures(idx, values):
        for vs in value_shapes:
            n = sum(1 for v in values if vs.conforms(idx, v))
            if high is not None and n > high:
                yield _QualifiedMaxCountConstraintComponent
            if low is not None and n < low:
                yield _QualifiedMinCountConstraintComponent

    def holds(idx, focus, values):
        if not values and (low is None or low < 1):
            return True
        return next(failures(idx, values), None) is None

    def report(idx, focus, values, out):
        if not values and (low is None or low < 1):
            return
        for component in failures(idx, values):
            out.append((focus, None, shape, component, message))
    holds.spec = ("qualified", value_shapes, low, high, _QualifiedMinCountConstraintComponent,
                  _QualifiedMaxCountConstraintComponent, message)
    return holds, report


COMPILERS = (_node, _qualified, _property)
