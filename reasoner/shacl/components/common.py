"""What the constraint-component compilers share: value-by-value checks and integer parameters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rdflib import XSD, Graph, Literal, URIRef
from rdflib.term import Node

from reasoner.shacl.index import Index
from reasoner.shacl.shape import CompiledShape, ShapeError

__all__ = ["one_int", "per_value"]


def one_int(g: Graph, shape: Node, p: URIRef) -> int:
    vals = list(g.objects(shape, p))
    if len(vals) != 1 or not isinstance(vals[0], Literal) or vals[0].datatype != XSD.integer or int(vals[0]) < 0:
        raise ShapeError(shape, f"{g.qname(p)} must be one non-negative xsd:integer")
    return int(vals[0])


def per_value(shape: CompiledShape, component: URIRef, rules: list, ok: Callable[[Index, Node, Any], bool],
              message: Callable, inline: str | None = None, param: Any = None) -> tuple[Callable, Callable]:
    """A constraint checked value by value, once per rule (pySHACL reports each failing pair).

    `inline` names the check for the code generator (`reasoner.shacl.codegen`: "in", "class", "or",
    "and", "xone", "not"), which then writes it out instead of calling `ok`; `param` is what it needs."""
    def holds(idx, focus, values):
        for rule in rules:
            for v in values:
                if not ok(idx, v, rule):
                    return False
        return True

    def report(idx, focus, values, out):
        for rule in rules:
            for v in values:
                if not ok(idx, v, rule):
                    out.append((focus, v, shape, component, message))
    holds.spec = ("per_value", component, rules, ok, message, inline, param)
    return holds, report
