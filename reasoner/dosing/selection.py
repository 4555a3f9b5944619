"""Which Section V row (indication) a request falls under, three-valued: a row holds when every
selector holds, is out when one is contradicted, else it is unknown and the fields that would settle
it are named."""

from __future__ import annotations

from dataclasses import dataclass

from rdflib import Graph, URIRef
from rdflib.term import Node

from reasoner.dosing.tables import Indication, SectionV

__all__ = ["Selection", "select"]

@dataclass(frozen=True)
class Selection:
    """The request's indication; the other rows it also fits; what would settle it when unknown."""

    indication: Indication | None
    also_fits: tuple[Indication, ...]
    missing: tuple[str, ...]


def _follow(g: Graph, node: Node, path: tuple[URIRef, ...]) -> set[Node]:
    nodes: set[Node] = {node}
    for p in path:
        nodes = {o for n in nodes for o in g.objects(n, p)}
    return nodes


def select(sv: SectionV, g: Graph, node: URIRef) -> Selection:
    """Three-valued: a row holds when every selector holds, is out when one is contradicted, else unknown."""
    fits: list[Indication] = []
    missing: set[str] = set()
    reached: dict[tuple[URIRef, ...], set[Node]] = {}  # indications share their selectors' paths
    for ind in sv.indications:
        absent, out = [], False
        for sel in ind.selectors:
            found = reached.get(sel.path)
            if found is None:
                found = reached[sel.path] = _follow(g, node, sel.path)
            sent = found - sel.unknown
            if not sent:
                absent.append(sel.field)
            elif not sent & sel.values:
                out = True
        if out:
            continue
        if absent:
            missing.update(absent)
        else:
            fits.append(ind)
    if fits:
        return Selection(fits[0], tuple(fits[1:]), ())
    return Selection(None, (), tuple(sorted(missing)))
