"""Value range constraint components (SHACL 1.0 §4.3): sh:minExclusive, sh:minInclusive,
sh:maxExclusive, sh:maxInclusive. Literals compare as pySHACL's compare_literal does: by value, so
an xsd:decimal threshold is exact."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time

from rdflib import Literal, URIRef
from rdflib.namespace import SH
from rdflib.term import Node

from reasoner.shacl.components.common import per_value
from reasoner.shacl.index import Index
from reasoner.shacl.messages import rules_message
from reasoner.shacl.shape import CompiledShape, Compiler, ShapeError

__all__ = ["COMPILERS", "PARAMETERS"]

PARAMETERS = frozenset({SH.minExclusive, SH.minInclusive, SH.maxExclusive, SH.maxInclusive})


def _compare(v: Literal, m: Literal) -> int:
    """pySHACL's compare_literal (raises TypeError when the two cannot be ordered)."""
    if v.eq(m):
        return 0
    if v.value.__class__ in (datetime, time):
        if v.value == m.value:
            return 0
        if v.value > m.value:
            return 1
    elif v > m:
        return 1
    return -1


def _range_ok(test: Callable[[int], bool]) -> Callable[[Index, Node, Literal], bool]:
    def ok(_idx, v, m):
        if not isinstance(v, Literal):
            return False
        if isinstance(m.value, str) != isinstance(v.value, str):
            return False
        try:
            return test(_compare(v, m))
        except (TypeError, NotImplementedError):
            return False
    return ok


_RANGES = {
    SH.minInclusive: (SH.MinInclusiveConstraintComponent, lambda c: c >= 0, ">="),
    SH.minExclusive: (SH.MinExclusiveConstraintComponent, lambda c: c > 0, ">"),
    SH.maxInclusive: (SH.MaxInclusiveConstraintComponent, lambda c: c <= 0, "<="),
    SH.maxExclusive: (SH.MaxExclusiveConstraintComponent, lambda c: c < 0, "<"),
}


def _range(parameter: URIRef):
    component, test, sign = _RANGES[parameter]

    def compile_(cs: Compiler, shape: CompiledShape, params: set, stack):
        if parameter not in params:
            return None
        rules = list(cs.graph.objects(shape.node, parameter))
        if not all(isinstance(r, Literal) for r in rules):
            raise ShapeError(shape.node, f"a non-literal {cs.graph.qname(parameter)}")
        return per_value(shape, component, rules, _range_ok(test),
                         rules_message(cs.graph, rules, f"Value is not {sign} {{}}", f"Value is not {sign} in ({{}})"))
    return compile_


COMPILERS = (_range(SH.minInclusive), _range(SH.minExclusive), _range(SH.maxInclusive), _range(SH.maxExclusive))
