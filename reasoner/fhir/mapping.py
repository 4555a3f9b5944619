"""The FHIR mapping (ontology/fhir-mapping.ttl), read once per knowledge base into lookup tables.

Nothing here knows a field, a code or a resource type: they are all read from the graph. The drug
codes are the knowledge base's own (every drug's skos:exactMatch / skos:relatedMatch IRIs under the
RxNorm IRI base), so a drug added to drugs.ttl with its code is recognised in FHIR at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rdflib import RDF, SKOS, Literal, URIRef

from reasoner.flow.check import request_schema
from reasoner.policy.kb import BX, KB, KnowledgeBase

__all__ = ["CodeEntry", "FhirMapping", "Source", "mapping_for"]

DRUG_CLASSES = (BX.Drug, BX.NamedRegimen)


@dataclass(frozen=True)
class CodeEntry:
    """A code that counts: its systems (FHIR URIs; empty for a plain string value) and what it says."""

    systems: frozenset[str]
    code: str
    sets: tuple[tuple[str, Any], ...]
    finding: str | None = None
    finding_message: str | None = None
    fallback: bool = False  # a weaker reading: gives way to other sources without a conflict


@dataclass(frozen=True)
class Source:
    """One place a fact is read from (see ontology/fhir-mapping.ttl for each attribute)."""

    name: str
    fields: tuple[str, ...]
    resource_type: str
    from_: str | None
    whose: str | None
    code_path: str | None
    entries: tuple[CodeEntry, ...]
    value_path: str | None
    kind: str | None
    sets_field: str | None
    target_unit: str | None
    date_path: str | None
    selection: str
    status_path: str | None
    accepted: frozenset[str]
    precedence: int
    true_patterns: tuple[str, ...]
    false_patterns: tuple[str, ...]
    excludes_covered_drug: bool
    fallback: bool

    def lookup(self, system: str | None, code: str) -> CodeEntry | None:
        for entry in self.entries:
            if entry.code == code and ((system in entry.systems) if entry.systems else system is None):
                return entry
        return None


@dataclass(frozen=True)
class FhirMapping:
    """Everything the evaluator reads from the knowledge base."""

    sources: tuple[Source, ...]
    questionnaire: Source
    conversions: dict[tuple[str, str], Decimal]
    drug_by_code: dict[tuple[str, str], URIRef]
    drug_names: dict[URIRef, str]
    covered_drug: URIRef | None
    dose_units: dict[str, str]  # UCUM code -> contract spelling
    empty_list_codes: frozenset[tuple[str, str]]
    member_paths: tuple[str, ...]
    requested_service_url: str | None
    covered_drug_path: str | None
    request_date_field: str
    field_types: dict[str, dict]  # dotted contract field -> its JSON Schema
    required: tuple[str, ...]  # dotted required fields (contract v1)


def mapping_for(kb: KnowledgeBase) -> FhirMapping:
    """The mapping of a knowledge base, built on first use and kept on it (it never changes)."""
    cached = kb.__dict__.get("_fhir_mapping")
    if cached is None:
        cached = kb.__dict__["_fhir_mapping"] = _load(kb)
    return cached


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------

def _text(g, s, p) -> str | None:
    value = g.value(s, p)
    return None if value is None else str(value)


def _contract_value(g, value) -> Any:
    """A KB individual's contract spelling (skos:notation, else skos:prefLabel); a literal as itself."""
    if isinstance(value, Literal):
        return value.toPython()
    return str(g.value(value, SKOS.notation) or g.value(value, SKOS.prefLabel) or value)


def _systems(g, system) -> frozenset[str]:
    return frozenset() if system is None else frozenset(str(o) for o in g.objects(system, BX.fhirSystem))


def _entries(g, table) -> list[CodeEntry]:
    message = _text(g, table, BX.findingMessage)
    fallback = bool(g.value(table, BX.fallback, default=Literal(False)).toPython())
    out = []
    for node in g.objects(table, BX.entry):
        sets = tuple(sorted((str(g.value(s, BX.requestField)), _contract_value(g, g.value(s, BX.value)))
                            for s in g.objects(node, BX.sets)))
        out.append(CodeEntry(_systems(g, g.value(node, BX.codeSystem)), str(g.value(node, SKOS.notation)), sets,
                             _text(g, node, BX.finding), message, fallback))
    return sorted(out, key=lambda e: (e.code, sorted(e.systems)))


def _source(g, node, fields: tuple[str, ...], covered: list[CodeEntry], name: str) -> Source:
    tables = list(g.objects(node, BX.codeTable))
    entries: list[CodeEntry] = []
    for table in sorted(tables):
        entries.extend(covered if table == KB["fhir-codes-covered-drug"] else _entries(g, table))
    kind = g.value(node, BX.valueKind)
    selection = g.value(node, BX.selection)
    return Source(
        name=name,
        fields=fields,
        resource_type=str(g.value(node, BX.resourceType)),
        from_=_text(g, node, BX["from"]),
        whose=_text(g, node, BX.whosePath),
        code_path=_text(g, node, BX.codePath),
        entries=tuple(entries),
        value_path=_text(g, node, BX.valuePath),
        kind=None if kind is None else str(kind).rsplit("fhir-kind-", 1)[-1],
        sets_field=_text(g, node, BX.setsField),
        target_unit=_text(g, node, BX.targetUnit),
        date_path=_text(g, node, BX.datePath),
        selection="single" if selection is None else str(selection).rsplit("fhir-select-", 1)[-1],
        status_path=_text(g, node, BX.statusPath),
        accepted=frozenset(str(o) for o in g.objects(node, BX.acceptedStatus)),
        precedence=int(g.value(node, BX.precedence).toPython()),
        true_patterns=tuple(sorted(str(o) for o in g.objects(node, BX.truePattern))),
        false_patterns=tuple(sorted(str(o) for o in g.objects(node, BX.falsePattern))),
        excludes_covered_drug=bool(g.value(node, BX.excludesCoveredDrug, default=Literal(False)).toPython()),
        fallback=bool(g.value(node, BX.fallback, default=Literal(False)).toPython()),
    )


def _drug_codes(kb: KnowledgeBase, settings) -> tuple[dict[tuple[str, str], URIRef], dict[URIRef, str]]:
    g = kb.graph
    props = list(g.objects(settings, BX.drugCodeProperty))
    by_code: dict[tuple[str, str], URIRef] = {}
    names: dict[URIRef, str] = {}
    for system in g.objects(settings, BX.drugCodeSystem):
        base = _text(g, system, BX.iriBase)
        uris = _systems(g, system)
        for drug in sorted(s for s, types in kb.types.items() if types & set(DRUG_CLASSES)):
            names[drug] = str(g.value(drug, SKOS.prefLabel) or drug)
            for p in props:
                for code in g.objects(drug, p):
                    if base and isinstance(code, URIRef) and str(code).startswith(base):
                        for uri in uris:
                            by_code.setdefault((uri, str(code)[len(base):]), drug)
    return by_code, names


def _field_types() -> tuple[dict[str, dict], tuple[str, ...]]:
    schema = request_schema()

    def resolve(sub: dict) -> dict:
        while "$ref" in sub:
            sub = schema["$defs"][sub["$ref"].rsplit("/", 1)[-1]]
        return sub

    types: dict[str, dict] = {}
    required: list[str] = []

    def walk(node: dict, prefix: str) -> None:
        for name in node.get("required", []):
            required.append(prefix + name)
        for name, sub in node.get("properties", {}).items():
            sub = resolve(sub)
            types[prefix + name] = sub
            if sub.get("type") == "object":
                walk(sub, prefix + name + ".")

    walk(schema, "")
    # a nested field is required only under a required object (dose.value is not, member.birth_date is)
    kept = [f for f in required if all(".".join(f.split(".")[:i]) in required for i in range(1, f.count(".") + 1))]
    return types, tuple(kept)


def _load(kb: KnowledgeBase) -> FhirMapping:
    g = kb.graph
    settings = next(iter(g.subjects(RDF.type, BX.FhirMapping)), None)
    if settings is None:
        raise LookupError("the knowledge base has no FHIR mapping (ontology/fhir-mapping.ttl)")
    drug_by_code, drug_names = _drug_codes(kb, settings)
    policies = list(kb.policies.values())
    covered = policies[0].covered_drug if len(policies) == 1 else kb.policies.get(
        request_schema()["properties"]["policy"].get("default"), policies[0]).covered_drug
    covered_entries = [CodeEntry(frozenset({system}), code, ()) for (system, code), drug in sorted(drug_by_code.items())
                       if drug == covered]
    sources = []
    for field_node in sorted(g.subjects(RDF.type, BX.FhirField)):
        fields = tuple(sorted(str(o) for o in g.objects(field_node, BX.requestField)))
        for i, node in enumerate(sorted(g.objects(field_node, BX.fhirSource), key=str)):
            sources.append(_source(g, node, fields, covered_entries, f"{_text(g, field_node, SKOS.prefLabel)}#{i}"))
    q = next(iter(g.subjects(RDF.type, BX.FhirQuestionnaireSource)))
    conversions = {(str(g.value(c, BX.fromUnit)), str(g.value(c, BX.toUnit))): Decimal(str(g.value(c, BX.factor)))
                   for c in g.subjects(RDF.type, BX.UnitConversion)}
    dose_units = {str(u): str(g.value(s, BX.contractSpelling)) for s, u in g.subject_objects(BX.ucum)
                  if g.value(s, BX.contractSpelling) is not None}
    empty = frozenset((system, str(g.value(node, SKOS.notation)))
                      for node in g.objects(settings, BX.emptyListCode)
                      for system in _systems(g, g.value(node, BX.codeSystem)))
    types, required = _field_types()
    return FhirMapping(
        sources=tuple(sorted(sources, key=lambda s: (s.precedence, s.name))),
        questionnaire=_source(g, q, (), [], "questionnaire"),
        conversions=conversions,
        drug_by_code=drug_by_code,
        drug_names=drug_names,
        covered_drug=covered,
        dose_units=dose_units,
        empty_list_codes=empty,
        member_paths=tuple(sorted(str(o) for o in g.objects(settings, BX.memberPath))),
        requested_service_url=_text(g, settings, BX.requestedServiceUrl),
        covered_drug_path=_text(g, settings, BX.identifiesCoveredDrug),
        request_date_field=_text(g, settings, BX.requestDateField) or "request_date",
        field_types=types,
        required=required,
    )
