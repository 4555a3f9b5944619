"""Result messages as pySHACL words them, made only when a report graph is built."""

from __future__ import annotations

from collections.abc import Callable

from rdflib import Graph
from rdflib.term import Node

from reasoner.shacl.shape import CompiledShape

__all__ = ["stringify", "count_message", "rules_message"]


def stringify(graph: Graph, node: Node) -> str:
    from pyshacl.rdfutil import stringify_node  # only when a report graph is built

    return stringify_node(graph, node)


def count_message(word: str, n: int, shape: CompiledShape, sg: Graph) -> Callable:
    def message(dg, focus, value):
        if shape.path is not None:
            return "{} {} values on {}->{}".format(word, n, stringify(dg, focus), stringify(sg, shape.path))
        return "{} {} values on {}".format(word, n, stringify(dg, focus))
    return message


def rules_message(sg: Graph, rules: list, one: str, many: str) -> Callable:
    def message(dg, focus, value):
        if len(rules) < 2:
            return one.format(stringify(sg, rules[0]))
        return many.format(", ".join(stringify(sg, r) for r in rules))
    return message
