"""Result messages as pySHACL words them, made only when a report graph is built."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from functools import lru_cache

from rdflib import Graph
from rdflib.term import Node

from reasoner.shacl.shape import CompiledShape

__all__ = ["one_report", "stringify", "stringify_shapes", "count_message", "rules_message"]


_WORDS = threading.local()  # while one report is written: what each node of its graphs was worded


@contextlib.contextmanager
def one_report() -> Iterator[None]:
    """Word each node once while one report is written (its graphs do not change meanwhile)."""
    old = getattr(_WORDS, "memo", None)
    _WORDS.memo = {}
    try:
        yield
    finally:
        _WORDS.memo = old


def stringify(graph: Graph, node: Node) -> str:
    from pyshacl.rdfutil import stringify_node  # only when a report graph is built

    memo = getattr(_WORDS, "memo", None)
    if memo is None:
        return stringify_node(graph, node)
    key = (id(graph), type(node), str(node), getattr(node, "datatype", None), getattr(node, "language", None))
    text = memo.get(key)
    if text is None:
        text = memo[key] = stringify_node(graph, node)
    return text


@lru_cache(maxsize=8192)
def stringify_shapes(graph: Graph, node: Node) -> str:
    """`stringify` of a node of the shapes graph, which never changes: worded once, not in every report."""
    return stringify(graph, node)


def count_message(word: str, n: int, shape: CompiledShape, sg: Graph) -> Callable:
    def message(dg, focus, value):
        if shape.path is not None:
            return "{} {} values on {}->{}".format(word, n, stringify(dg, focus), stringify_shapes(sg, shape.path))
        return "{} {} values on {}".format(word, n, stringify(dg, focus))
    return message


def rules_message(sg: Graph, rules: list, one: str, many: str) -> Callable:
    def message(dg, focus, value):
        if len(rules) < 2:
            return one.format(stringify_shapes(sg, rules[0]))
        return many.format(", ".join(stringify_shapes(sg, r) for r in rules))
    return message
