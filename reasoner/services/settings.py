"""The services' codes and URLs (ontology/services.ttl, ontology/fhir-response.ttl), read once per knowledge base."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rdflib import RDF, RDFS, SKOS, Literal

from reasoner.policy.kb import BX, KnowledgeBase

__all__ = ["ServiceSettings", "CdsServiceInfo", "settings_for"]


@dataclass(frozen=True)
class ClinicianDecision:
    code: str
    action_code: str
    action_display: str
    certifies: bool
    needs_reason: bool


@dataclass(frozen=True)
class CdsServiceInfo:
    id: str
    hook: str
    title: str
    description: str
    prefetch: tuple[tuple[str, str, bool], ...]  # (key, query, completed with observation codes)
    announces_documentation: bool


@dataclass(frozen=True)
class ServiceSettings:
    decisions: dict[str, ClinicianDecision]
    extensions: dict[str, str]  # role -> canonical URL
    questionnaire_base: str
    order_answers: tuple[tuple[str, Any], ...]
    coverage: dict[str, dict[str, str]]  # decision -> {covered, pa-needed, doc-needed, doc-purpose}
    cds_services: tuple[CdsServiceInfo, ...]
    review_action_system: str
    contract_system: str
    identifier_system: str


def _one(g, node, p) -> Any:
    value = g.value(node, p)
    if value is None:
        raise LookupError(f"ontology/services.ttl: {node} has no {p}")
    return value.toPython() if isinstance(value, Literal) else value


def settings_for(kb: KnowledgeBase) -> ServiceSettings:
    """The settings of a knowledge base, read on first use and kept on it."""
    cached = kb.__dict__.get("_service_settings")
    if cached is None:
        cached = kb.__dict__["_service_settings"] = _load(kb)
    return cached


def _load(kb: KnowledgeBase) -> ServiceSettings:
    g = kb.graph
    node = next(iter(g.subjects(RDF.type, BX.ServiceSettings)), None)
    response = next(iter(g.subjects(RDF.type, BX.FhirResponseSettings)), None)
    if node is None or response is None:
        raise LookupError("the knowledge base has no service settings (ontology/services.ttl, fhir-response.ttl)")
    decisions = {}
    for d in g.objects(node, BX.clinicianDecision):
        code = str(_one(g, d, BX.decisionCode))
        decisions[code] = ClinicianDecision(code, str(_one(g, d, BX.actionCode)), str(_one(g, d, BX.actionDisplay)),
                                            bool(_one(g, d, BX.certifies)), bool(_one(g, d, BX.needsReason)))
    extensions = {str(_one(g, e, BX.role)): str(_one(g, e, BX.url))
                  for holder in (node, response) for e in g.objects(holder, BX.extension)}
    coverage: dict[str, dict[str, str]] = {}
    for row in g.objects(node, BX.coverageInformation):
        codes = {name: str(g.value(row, p)) for name, p in (("covered", BX.covered), ("pa-needed", BX.paNeeded),
                                                             ("doc-needed", BX.docNeeded), ("doc-purpose", BX.docPurpose))
                 if g.value(row, p) is not None}
        for decision in g.objects(row, BX.forDecision):
            coverage[str(decision)] = codes
    services = []
    for s in sorted(g.objects(node, BX.cdsService)):
        prefetch = tuple(sorted((str(_one(g, p, BX.prefetchKey)), str(_one(g, p, BX.prefetchQuery)),
                                 bool(g.value(p, BX.withObservationCodes, default=Literal(False)).toPython()))
                                for p in g.objects(s, BX.prefetch)))
        services.append(CdsServiceInfo(str(_one(g, s, BX.serviceId)), str(_one(g, s, BX.hook)),
                                       str(g.value(s, SKOS.prefLabel)), str(g.value(s, RDFS.comment) or ""),
                                       prefetch, bool(_one(g, s, BX.announcesDocumentation))))
    answers = tuple(sorted((str(_one(g, a, BX.requestField)), _one(g, a, BX.value))
                           for a in g.objects(node, BX.orderAnswer)))
    return ServiceSettings(
        decisions=decisions, extensions=extensions, questionnaire_base=str(_one(g, node, BX.questionnaireBase)),
        order_answers=answers, coverage=coverage, cds_services=tuple(services),
        review_action_system=str(_one(g, response, BX.reviewActionSystem)),
        contract_system=str(_one(g, response, BX.contractValueSystem)),
        identifier_system=str(_one(g, response, BX.identifierSystem)))
