"""Section V as data: the label's dosing read from the knowledge base once, kept as plain tables.

The schedules, the indications and how a request selects one, the vial and the billing unit come
from SPARQL over the knowledge base (queries/*.rq, run by Oxigraph), once per KnowledgeBase. No
figure lives here: every one is read from ontology/section-v.ttl.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from rdflib import URIRef
from rdflib.term import Node

from reasoner.policy.cache import remember
from reasoner.policy.kb import KnowledgeBase
from reasoner.policy.resources import data_dir
from reasoner.shacl.datagraph import exact

__all__ = ["Cycle", "Indication", "Product", "Schedule", "SectionV", "Segment", "Selector", "query", "section_v"]

@dataclass(frozen=True)
class Segment:
    """A day range of a cycle: a dose (amount and unit) or a treatment-free interval."""

    iri: URIRef
    first_day: int
    last_day: int
    amount: Decimal | None
    unit: URIRef | None
    unit_spelling: str | None
    per_bsa: bool
    step_up: bool
    free_days: int | None

    @property
    def days(self) -> int:
        return self.last_day - self.first_day + 1

    @property
    def is_dose(self) -> bool:
        return self.amount is not None

    def covers(self, day: int) -> bool:
        return self.first_day <= day <= self.last_day


@dataclass(frozen=True)
class Cycle:
    """One numbered cycle of a schedule, with its phase and the policy's grouping label."""

    number: int
    phase: URIRef
    phase_label: str
    group_label: str
    optional: bool
    length_days: int
    segments: tuple[Segment, ...]

    def segment_on(self, day: int) -> Segment | None:
        return next((s for s in self.segments if s.covers(day)), None)


@dataclass(frozen=True)
class Schedule:
    """The dosing of one indication for one weight band."""

    iri: URIRef
    indication: URIRef
    band: URIRef
    max_daily_mcg: Decimal
    cycles: tuple[Cycle, ...]

    def cycle(self, number: int) -> Cycle | None:
        return next((c for c in self.cycles if c.number == number), None)

    @property
    def last_cycle(self) -> int:
        return max(c.number for c in self.cycles)

    @property
    def units(self) -> frozenset[URIRef]:
        return frozenset(s.unit for c in self.cycles for s in c.segments if s.unit is not None)


@dataclass(frozen=True)
class Selector:
    """One condition of an indication: the request field holds one of `values`."""

    iri: URIRef
    field: str
    path: tuple[URIRef, ...]
    values: frozenset[URIRef]
    unknown: frozenset[URIRef]
    label: str = ""  # what the row asks of the field, in words ("in remission")


@dataclass(frozen=True)
class Indication:
    iri: URIRef
    label: str
    course: str
    max_daily_mcg: Decimal
    precedence: int
    selectors: tuple[Selector, ...]
    diseases: frozenset[URIRef] = frozenset()  # bx:forDisease: a diagnosis of another disease fits no row
    disease_label: str = ""


@dataclass(frozen=True)
class Product:
    """Section VI and the billing code: vial strength, HCPCS code, mcg per billing unit."""

    label: str
    strength_mcg: Decimal
    code: str
    code_label: str
    mcg_per_unit: Decimal


@dataclass(frozen=True)
class SectionV:
    indications: tuple[Indication, ...]  # by selection precedence
    schedules: dict[tuple[URIRef, URIRef], Schedule]
    product: Product | None
    boxed_warnings: tuple[URIRef, ...]
    # answers already worked out (the tables never change; requests ask the same few questions)
    _memo: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    def schedule(self, indication: URIRef | None, band: URIRef | None) -> Schedule | None:
        return self.schedules.get((indication, band)) if indication and band else None

    def last_cycle(self, indication: URIRef) -> int | None:
        key = ("last", indication)
        if key not in self._memo:
            lasts = [s.last_cycle for (i, _), s in self.schedules.items() if i == indication]
            self._memo[key] = max(lasts) if lasts else None
        return self._memo[key]

    def band_units(self, band: URIRef | None, indication: URIRef | None = None) -> frozenset[URIRef]:
        """The unit(s) Section V doses a weight band in (of one indication, else of every one)."""
        key = ("units", band, indication)
        if key not in self._memo:
            self._memo[key] = frozenset().union(*(s.units for (i, b), s in self.schedules.items()
                                                  if b == band and (indication is None or i == indication)))
        return self._memo[key]


def query(name: str) -> str:
    """The text of queries/<name>.rq (shipped in the wheel as reasoner/queries)."""
    return (data_dir("queries") / f"{name}.rq").read_text(encoding="utf-8")


_LOCK = threading.Lock()
_ATTR = "_section_v_tables"


def section_v(kb: KnowledgeBase, drug: URIRef | None) -> SectionV:
    """Section V of `drug`, read from the KB on first use and kept on the KnowledgeBase."""
    cache: dict[URIRef | None, SectionV] = kb.__dict__.setdefault(_ATTR, {})
    if drug not in cache:
        with _LOCK:
            if drug not in cache:
                cache[drug] = remember(kb.cache_key, f"section-v {drug}", lambda: _load(kb, drug))
    return cache[drug]


def _num(node: Node | None) -> Decimal | None:
    """A figure of the label as the exact decimal the KB writes (15, 0.05, 9.0)."""
    return None if node is None else exact(node)


def _int(node: Node | None) -> int | None:
    return None if node is None else int(node.toPython())


def _rows(kb: KnowledgeBase, name: str, bindings: dict[str, URIRef]) -> list[SimpleNamespace]:
    """queries/<name>.rq over the knowledge base, by Oxigraph: the same SPARQL, without loading
    rdflib's SPARQL engine and query parser at every process start.
    The KB is copied into an in-memory Oxigraph store once; terms come back as the KB's own objects.
    Each row has the query's variables as attributes (None when unbound)."""
    import pyoxigraph as ox

    from reasoner.policy.oxigraph import from_oxigraph, to_oxigraph  # Oxigraph only when the tables are not cached

    store = kb.__dict__.get("_oxigraph")
    if store is None:
        store = kb.__dict__["_oxigraph"] = ox.Store()
        bnodes: dict = {}
        store.extend(ox.Quad(to_oxigraph(s, bnodes), to_oxigraph(p, bnodes), to_oxigraph(o, bnodes))
                     for s, p, o in kb.graph)
    text = query(name)
    for variable, value in bindings.items():  # as rdflib's initBindings: a trailing VALUES joins it
        text += f"\nVALUES ?{variable} {{ <{value}> }}"
    solutions = store.query(text)
    names = [v.value for v in solutions.variables]
    return [SimpleNamespace(**{n: from_oxigraph(solution[n]) for n in names}) for solution in solutions]


def _load(kb: KnowledgeBase, drug: URIRef | None) -> SectionV:
    bindings = {"drug": drug} if drug is not None else {}
    field_paths = {name: path for path, name in kb.field_of_path.items()}

    selectors: dict[URIRef, dict[URIRef, dict[str, Any]]] = {}
    heads: dict[URIRef, Any] = {}
    diseases: dict[URIRef, set[URIRef]] = {}
    disease_labels: dict[URIRef, set[str]] = {}
    for row in _rows(kb, "indications", bindings):
        heads.setdefault(row.indication, row)
        if row.disease is not None:
            diseases.setdefault(row.indication, set()).add(row.disease)
            disease_labels.setdefault(row.indication, set()).add(str(row.diseaseLabel or kb.name_of(row.disease)))
        if row.selector is None:
            continue
        field = str(row.field)
        if field not in field_paths:
            raise LookupError(f"{row.selector}: bx:requestField {field!r} is not a contract field")
        sel = selectors.setdefault(row.indication, {}).setdefault(
            row.selector, {"field": field, "values": set(), "unknown": set(), "label": str(row.selectorLabel or "")})
        sel["values"].add(row.value)
        if row.unknownValue is not None:
            sel["unknown"].add(row.unknownValue)
    indications = tuple(sorted(
        (Indication(i, str(r.label), str(r.course), exact(r.maxDailyMcg), int(r.precedence.toPython()),
                    tuple(Selector(s, d["field"], field_paths[d["field"]], frozenset(d["values"]),
                                   frozenset(d["unknown"]), d["label"])
                          for s, d in sorted(selectors.get(i, {}).items())),
                    frozenset(diseases.get(i, ())), " or ".join(sorted(disease_labels.get(i, ()))))
         for i, r in heads.items()),
        key=lambda ind: (ind.precedence, str(ind.iri))))
    known = {i.iri for i in indications}

    rows: dict[tuple[URIRef, URIRef], dict[int, dict[str, Any]]] = {}
    meta: dict[tuple[URIRef, URIRef], tuple[URIRef, Decimal]] = {}
    for r in _rows(kb, "schedule", {}):
        if r.indication not in known:
            continue
        key = (r.indication, r.band)
        meta[key] = (r.schedule, exact(r.maxDailyMcg))
        cycle = rows.setdefault(key, {}).setdefault(int(r.cycle.toPython()), {
            "phase": r.phase, "phase_label": str(r.phaseLabel), "group_label": str(r.groupLabel),
            "optional": bool(r.optional.toPython()), "length_days": int(r.lengthDays.toPython()), "segments": []})
        cycle["segments"].append(Segment(
            iri=r.segment, first_day=int(r.firstDay.toPython()), last_day=int(r.lastDay.toPython()),
            amount=_num(r.amount), unit=r.unit, unit_spelling=None if r.unitSpelling is None else str(r.unitSpelling),
            per_bsa=bool(r.perBsa.toPython()) if r.perBsa is not None else False,
            step_up=bool(r.stepUp.toPython()), free_days=_int(r.freeDays)))
    schedules = {
        key: Schedule(meta[key][0], key[0], key[1], meta[key][1], tuple(
            Cycle(n, c["phase"], c["phase_label"], c["group_label"], c["optional"], c["length_days"],
                  tuple(sorted(c["segments"], key=lambda s: s.first_day)))
            for n, c in sorted(cycles.items())))
        for key, cycles in rows.items()}

    product, boxed = None, []
    for r in _rows(kb, "product", bindings):
        product = product or Product(str(r.productLabel), exact(r.strengthMcg), str(r.codeNotation),
                                     str(r.codeLabel), exact(r.mcgPerUnit))
        if r.boxedWarning is not None and r.boxedWarning not in boxed:
            boxed.append(r.boxedWarning)
    return SectionV(indications, schedules, product, tuple(boxed))
