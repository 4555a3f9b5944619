"""The numbers a policy sentence states against the numbers its shape tests (for `blincyto lint`).

A criterion's shape quotes the policy ("Age ≥ 1 month;") and tests a threshold
(`sh:minInclusive 1`). When an edit changes one and not the other ("Age ≥ 1 month" over
`sh:minInclusive 2`), every decision at the boundary is wrong and nothing in a determination shows
it. So: every threshold a criterion's shapes test (sh:minInclusive, sh:minExclusive,
sh:maxInclusive, sh:maxExclusive) must be a number its sentence states, and where the sentence puts
a comparison before that number ("≥ N", "at least N", "does not exceed N", "< N") the shape must
compare the same way (inclusive or exclusive, lower or upper bound). A sentence that states no
number ("alternating with multiagent therapy", read as two or more other agents) is not compared:
the reading is the author's, and the shape's sh:message says it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from rdflib import BNode, Graph, Literal
from rdflib.collection import Collection
from rdflib.namespace import SH
from rdflib.term import Node

__all__ = ["Mismatch", "mismatches", "stated"]

BOUNDS = {SH.minInclusive: "min-inclusive", SH.minExclusive: "min-exclusive",
          SH.maxInclusive: "max-inclusive", SH.maxExclusive: "max-exclusive"}

# What a comparison word before a number means (checked longest first).
_OPERATORS = (
    (r"≥|>=|at least|no less than|not less than|minimum of", "min-inclusive"),
    (r">|more than|greater than|older than|over|exceeds|exceeding|above", "min-exclusive"),
    (r"≤|<=|at most|no more than|not more than|does not exceed|do not exceed|not exceed|not to exceed|"
     r"up to|maximum of", "max-inclusive"),
    (r"<|less than|fewer than|younger than|under|below", "max-exclusive"),
)
_NUMBER = r"(\d+(?:\.\d+)?)"
_COMPARISON = re.compile("(" + "|".join(f"(?:{words})" for words, _ in _OPERATORS) + r")\s*" + _NUMBER,
                         re.IGNORECASE)
_PARTS = (SH.property, SH["not"], SH.node, SH.qualifiedValueShape)
_LISTS = (SH["or"], SH["and"], SH.xone)


@dataclass(frozen=True)
class Mismatch:
    shape: Node
    parameter: Node
    value: Decimal
    message: str


def stated(sentence: str) -> dict[Decimal, set[str]]:
    """Every number of a sentence, with the comparisons written before it (maybe none)."""
    out: dict[Decimal, set[str]] = {}
    for m in re.finditer(r"\d+(?:\.\d+)?", sentence):
        out.setdefault(Decimal(m.group(0)), set())
    for m in _COMPARISON.finditer(sentence):
        word = m.group(1).lower()
        kind = next(k for words, k in _OPERATORS if re.fullmatch(words, word, re.IGNORECASE))
        out.setdefault(Decimal(m.group(2)), set()).add(kind)
    return out


def mismatches(shapes: Graph, shape: Node, sentence: str) -> Iterator[Mismatch]:
    """The thresholds of `shape` (and its blank-node parts) that `sentence` does not state."""
    numbers = stated(sentence)
    if not numbers:
        return
    shown = ", ".join(_plain(n) for n in sorted(numbers))
    for node in _parts(shapes, shape):
        for p, kind in BOUNDS.items():
            for lit in shapes.objects(node, p):
                value = _decimal(lit)
                if value is None:
                    continue
                name = shapes.namespace_manager.normalizeUri(p)
                if value not in numbers:
                    yield Mismatch(shape, p, value, f"tests {name} {_plain(value)}, but its policy sentence "
                                                    f"states {shown}")
                elif numbers[value] and kind not in numbers[value]:
                    said = " or ".join(sorted(numbers[value]))
                    yield Mismatch(shape, p, value, f"tests {name} {_plain(value)}, but its policy sentence "
                                                    f"compares {_plain(value)} as {said}")


def _parts(g: Graph, shape: Node) -> Iterator[Node]:
    todo, seen = [shape], set()
    while todo:
        node = todo.pop()
        if node in seen:
            continue
        seen.add(node)
        yield node
        for p in _PARTS:
            todo.extend(o for o in g.objects(node, p) if isinstance(o, BNode))
        for p in _LISTS:
            for head in g.objects(node, p):
                todo.extend(o for o in Collection(g, head) if isinstance(o, BNode))


def _decimal(lit: Node) -> Decimal | None:
    if not isinstance(lit, Literal):
        return None
    try:
        return Decimal(str(lit))
    except InvalidOperation:
        return None


def _plain(d: Decimal) -> str:
    return format(d.normalize(), "f")
