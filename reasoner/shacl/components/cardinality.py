"""Cardinality constraint components (SHACL 1.0 §4.2): sh:minCount, sh:maxCount."""

from __future__ import annotations

from rdflib import URIRef
from rdflib.namespace import SH

from reasoner.shacl.components.common import one_int
from reasoner.shacl.messages import count_message
from reasoner.shacl.shape import CompiledShape, Compiler, ShapeError

__all__ = ["COMPILERS", "PARAMETERS"]

PARAMETERS = frozenset({SH.minCount, SH.maxCount})


def _count(param: URIRef, word: str, within, component):
    """§4.2.1 sh:minCount / §4.2.2 sh:maxCount: the same check with its own bound and comparison."""
    def compile_(cs: Compiler, shape: CompiledShape, params: set, stack):
        if param not in params:
            return None
        if shape.path is None:
            raise ShapeError(shape.node, f"{cs.graph.qname(param)} on a node shape (only property shapes have it)")
        n = one_int(cs.graph, shape.node, param)
        message = count_message(word, n, shape, cs.graph)

        def holds(idx, focus, values):
            return within(len(values), n)

        def report(idx, focus, values, out):
            if not within(len(values), n):
                out.append((focus, None, shape, component, message))
        holds.spec = ("count", ">=" if param == SH.minCount else "<=", n, component, message)
        return holds, report
    return compile_


_min_count = _count(SH.minCount, "Less than", lambda k, n: k >= n, SH.MinCountConstraintComponent)
_max_count = _count(SH.maxCount, "More than", lambda k, n: k <= n, SH.MaxCountConstraintComponent)

COMPILERS = (_min_count, _max_count)
