"""`isomorphic(a, b)` as rdflib decides it, asked of fewer triples.

An isomorphism renames blank nodes only, so it maps a triple without a blank node onto itself: two
graphs are isomorphic exactly when their triples without blank nodes are the same set and their
triples with one are isomorphic. The first part is a set comparison; rdflib's canonicalisation (the
slow part) then runs on the second only (a request graph: ~30 of ~100 triples).
"""

from __future__ import annotations

from rdflib import BNode, Graph
from rdflib.compare import isomorphic

__all__ = ["isomorphic_graphs"]


def _split(g: Graph) -> tuple[set, Graph]:
    ground, blank = set(), Graph()
    for t in g:
        if isinstance(t[0], BNode) or isinstance(t[2], BNode) or isinstance(t[1], BNode):
            blank.add(t)
        else:
            ground.add(t)
    return ground, blank


def isomorphic_graphs(a: Graph, b: Graph) -> bool:
    """The same answer as `rdflib.compare.isomorphic(a, b)`."""
    (ground_a, blank_a), (ground_b, blank_b) = _split(a), _split(b)
    return ground_a == ground_b and isomorphic(blank_a, blank_b)
