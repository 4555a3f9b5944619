"""Which Section V row (indication) a request falls under, three-valued: a row holds when every
selector holds, is out when one is contradicted, else it is unknown and the fields that would settle
it are named. A row is also out when the diagnosis is not its disease (bx:forDisease)."""

from __future__ import annotations

from dataclasses import dataclass

from rdflib import Graph, URIRef
from rdflib.term import Node

from reasoner.dosing.tables import Indication, SectionV
from reasoner.policy.kb import BX
from reasoner.shacl.datagraph import follow

__all__ = ["RuledOut", "Selection", "select"]

# The diagnosis's disease, as enrich derives it from `diagnosis.condition` (ontology/derivations.ttl).
DISEASE_PATH = (BX.diagnosis, BX.condition)
DISEASE_FIELD = "diagnosis.condition"


@dataclass(frozen=True)
class RuledOut:
    """A row the request does not fit: the field whose value contradicts it, and what the row asks."""

    indication: Indication
    field: str
    requires: str


@dataclass(frozen=True)
class Selection:
    """The request's indication; the other rows it also fits; what would settle it when unknown;
    and, for every row it does not fit, why."""

    indication: Indication | None
    also_fits: tuple[Indication, ...]
    missing: tuple[str, ...]
    ruled_out: tuple[RuledOut, ...] = ()


def _follow(g: Graph, node: Node, path: tuple[URIRef, ...]) -> set[Node]:
    return follow(g, node, path)


def select(sv: SectionV, g: Graph, node: URIRef) -> Selection:
    """Three-valued: a row holds when every selector holds, is out when one is contradicted, else unknown."""
    fits: list[Indication] = []
    missing: set[str] = set()
    ruled_out: list[RuledOut] = []
    reached: dict[tuple[URIRef, ...], set[Node]] = {}  # indications share their selectors' paths
    for ind in sv.indications:
        if ind.diseases:
            found = reached.get(DISEASE_PATH)
            if found is None:
                found = reached[DISEASE_PATH] = _follow(g, node, DISEASE_PATH)
            if not found & ind.diseases:  # the condition is required: a name the KB does not know is not it
                ruled_out.append(RuledOut(ind, DISEASE_FIELD, ind.disease_label))
                continue
        absent, out = [], None
        for sel in ind.selectors:
            found = reached.get(sel.path)
            if found is None:
                found = reached[sel.path] = _follow(g, node, sel.path)
            sent = found - sel.unknown
            if not sent:
                absent.append(sel.field)
            elif not sent & sel.values:
                out = out or RuledOut(ind, sel.field, sel.label)
        if out is not None:
            ruled_out.append(out)
            continue
        if absent:
            missing.update(absent)
        else:
            fits.append(ind)
    if fits:
        return Selection(fits[0], tuple(fits[1:]), (), tuple(ruled_out))
    return Selection(None, (), tuple(sorted(missing)), tuple(ruled_out))
