"""Da Vinci CRD over CDS Hooks: discovery, and order-sign / order-select for the policy's drug.

`GET /cds-services` lists the services of ontology/services.ttl with their prefetch templates (the
Patient, the active Coverage, the ordering practitioner, and the Conditions and Observations the FHIR
mapping reads, the latter with the mapping's own observation codes).

A hook call's draft orders that are MedicationRequests for the policy's drug (the knowledge base's
codes of its bx:coversDrug) are each evaluated on a Bundle of the prefetched resources and all the
draft orders (the other drugs ordered with it are its regimen), plus what an order-time check
answers itself (ontology/services.ttl bx:orderAnswer: the request type). The answer is one CDS
Hooks `systemActions` update per such order: the order with the CRD coverage-information extension.

- approve: covered, pa-needed `satisfied` with the authorization number (one per order, derived from
  it; kept in the claim store as a certified request, so that $inquire finds it);
- needs-info, or a required fact the order data lacks: pa-needed `auth-needed`, doc-needed
  `clinical` (purpose `withpa`) and the questionnaire's canonical (DTR) — at order-sign only;
  order-select (a secondary hook) never asks for documentation;
- refer, deny: pa-needed `auth-needed` (a clinician will decide).

Orders for anything else get no action. A request without a Coverage is refused (400, as CRD says).
"""

from __future__ import annotations

import copy
import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from reasoner.fhir.errors import FhirInputError
from reasoner.fhir.evaluate import evaluate_bundle
from reasoner.fhir.mapping import mapping_for
from reasoner.fhir.response import response_for
from reasoner.fhir.values import codings
from reasoner.flow.engine import Reasoner
from reasoner.services.claims import ClaimRecord, ClaimStore, lean_quads
from reasoner.services.pas import Decided, mark
from reasoner.services.errors import ServiceError
from reasoner.flow.dotted import put_value
from reasoner.services.questionnaire import answers_of
from reasoner.services.settings import CdsServiceInfo, settings_for

__all__ = ["Answer", "Crd"]


def _resources(value: Any) -> list[dict[str, Any]]:
    """A prefetched value: a resource, or a (searchset) Bundle of them."""
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        return []
    if value["resourceType"] == "Bundle":
        return [e["resource"] for e in value.get("entry") or []
                if isinstance(e, dict) and isinstance(e.get("resource"), dict) and isinstance(e["resource"].get("resourceType"), str)]
    return [value]


def _ref(resource: dict[str, Any]) -> str | None:
    return f"{resource['resourceType']}/{resource['id']}" if isinstance(resource.get("id"), str) else None


@dataclass
class Answer:
    """A hook's answer, and the authorizations it gave (key, what was decided) still to be kept."""

    response: dict[str, Any]
    authorizations: list[tuple[str, Decided]]


class Crd:
    """The CDS services of a knowledge base."""

    def __init__(self, engine: Reasoner, claims: ClaimStore | None = None) -> None:
        """`claims`: where `commit` keeps authorizations (a worker process that only evaluates has none)."""
        self.engine = engine
        self.claims = claims
        self.settings = settings_for(engine.kb)
        self.services = {s.id: s for s in self.settings.cds_services}
        mapping = mapping_for(engine.kb)
        self._covered = {(system, code) for (system, code), drug in mapping.drug_by_code.items()
                         if drug == mapping.covered_drug}
        observation_codes = sorted({(system, e.code) for s in mapping.sources if s.resource_type == "Observation"
                                    for e in s.entries for system in e.systems})
        self._observation_codes = ",".join(f"{system}|{code}" for system, code in observation_codes)

    # ------------------------------------------------------------------ discovery

    def discovery(self) -> dict[str, Any]:
        services = []
        for s in self.settings.cds_services:
            prefetch = {}
            for key, query, with_codes in s.prefetch:
                prefetch[key] = f"{query}&code={self._observation_codes}" if with_codes and self._observation_codes else query
            services.append({"hook": s.hook, "id": s.id, "title": s.title, "description": s.description,
                             "prefetch": prefetch})
        return {"services": services}

    # ------------------------------------------------------------------ a hook call

    def call(self, service_id: str, body: Any) -> dict[str, Any]:
        """A hook call in this process: evaluate (CPU), then keep the authorizations it gave (the store)."""
        return self.commit(self.evaluate(service_id, body))

    def evaluate(self, service_id: str, body: Any) -> "Answer":
        """The hook's answer and the authorizations to keep (pure CPU: the service may run it in a worker)."""
        service = self.services.get(service_id)
        if service is None:
            raise ServiceError(404, "no CDS service with that id (see GET /cds-services)", "", "not-found")
        if not isinstance(body, dict) or body.get("hook") != service.hook:
            raise ServiceError(400, f"this service answers the {service.hook} hook (the request's `hook`)", "hook", "structure")
        context = body.get("context")
        if not isinstance(context, dict):
            raise ServiceError(400, "the request has no context object", "context", "structure")
        orders_bundle = context.get("draftOrders")
        if not isinstance(orders_bundle, dict) or orders_bundle.get("resourceType") != "Bundle":
            raise ServiceError(400, "context.draftOrders must be a Bundle of the orders", "context.draftOrders", "structure")
        orders = _resources(orders_bundle)
        selected = context.get("selections") if service.hook == "order-select" else None
        prefetch = body.get("prefetch") if isinstance(body.get("prefetch"), dict) else {}
        medications = {_ref(r): r for r in [*orders, *(r for v in prefetch.values() for r in _resources(v))]
                       if r.get("resourceType") == "Medication" and _ref(r)}
        ours = [o for o in orders if o.get("resourceType") == "MedicationRequest" and self._is_covered_drug(o, medications)
                and (selected is None or _ref(o) in (selected or []))]
        answer = Answer({"cards": [], "systemActions": []}, [])
        for order in ours:
            answer.response["systemActions"].append(self._action(service, body, order, orders, medications, answer))
        return answer

    def commit(self, answer: "Answer") -> dict[str, Any]:
        """Keep each authorization the answer gives as a certified request ($inquire finds it), once."""
        for key, decided in answer.authorizations:
            if self.claims.get(key) is None:
                self.claims.add_quads(decided.quads)
                self.claims.save(ClaimRecord(key, decided.authorization, "certified", decided.request,
                                             decided.determination, decided.response, determination_iri=decided.activity))
        return answer.response

    def _is_covered_drug(self, order: dict[str, Any], medications: dict[str | None, dict[str, Any]]) -> bool:
        """Is the order for the policy's drug (its code, or the code of the Medication it references)?"""
        concept = order.get("medicationCodeableConcept")
        reference = order.get("medicationReference")
        ref = reference.get("reference") if isinstance(reference, dict) else None
        if not isinstance(concept, dict) and isinstance(ref, str):
            target = medications.get("/".join(ref.rstrip("/").split("/")[-2:]))
            concept = target.get("code") if target is not None else None
        return any((s, c) in self._covered for s, c, _ in codings([concept] if isinstance(concept, dict) else []))

    def _bundle(self, body: dict[str, Any], order: dict[str, Any], orders: list[dict[str, Any]],
                medications: dict[str | None, dict[str, Any]]) -> dict[str, Any]:
        prefetch = body.get("prefetch") if isinstance(body.get("prefetch"), dict) else {}
        resources: list[dict[str, Any]] = []
        seen = set()
        for value in prefetch.values():
            for r in _resources(value):
                key = _ref(r) or id(r)
                if key not in seen:
                    seen.add(key)
                    resources.append(r)
        # this order and the other drugs ordered with it (the regimen), not the drug's other orders
        resources += [o for o in orders if o.get("resourceType") == "MedicationRequest"
                      and (o is order or not self._is_covered_drug(o, medications))]
        resources += [m for m in medications.values() if (_ref(m) or id(m)) not in seen]
        patients = [r for r in resources if r["resourceType"] == "Patient"]
        if not any(r["resourceType"] == "Coverage" for r in resources):
            raise ServiceError(400, "no Coverage: send the member's active Coverage (prefetch `coverage`)",
                               "prefetch.coverage", "required")
        answers: dict[str, Any] = {}
        for name, value in self.settings.order_answers:
            put_value(answers, name, value)
        items = [{"linkId": k, "answer": v} for k, v in answers_of(self.engine, answers).items()]
        qr = {"resourceType": "QuestionnaireResponse", "status": "completed", "item": items}
        if patients and _ref(patients[0]):
            qr["subject"] = {"reference": _ref(patients[0])}
        resources.append(qr)
        ident = order.get("id") if isinstance(order.get("id"), str) else str(body.get("hookInstance") or uuid.uuid4())
        return {"resourceType": "Bundle", "type": "collection",
                "identifier": {"system": self.settings.identifier_system, "value": f"crd-{ident}"},
                "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "entry": [{"resource": r} for r in resources]}

    def _action(self, service: CdsServiceInfo, body: dict[str, Any], order: dict[str, Any],
                orders: list[dict[str, Any]], medications: dict[str | None, dict[str, Any]],
                answer: "Answer") -> dict[str, Any]:
        bundle = self._bundle(body, order, orders, medications)
        coverage = next(r for e in bundle["entry"] if (r := e["resource"])["resourceType"] == "Coverage")
        try:
            fhir = evaluate_bundle(bundle, self.engine)
            decision = fhir.determination["decision"]
        except FhirInputError as exc:
            if exc.code == "structure":
                raise ServiceError(400, exc.reason, exc.expression, exc.code) from None
            fhir, decision = None, "needs-info"  # a fact the order lacks: the questionnaire will ask for it
        codes = self.settings.coverage[decision]
        ext: list[dict[str, Any]] = [
            {"url": "coverage", "valueReference": {"reference": _ref(coverage) or "Coverage"}},
            {"url": "covered", "valueCode": codes["covered"]},
            {"url": "pa-needed", "valueCode": codes["pa-needed"]},
        ]
        if "doc-needed" in codes and service.announces_documentation:
            ext.append({"url": "doc-needed", "valueCode": codes["doc-needed"]})
            if "doc-purpose" in codes:
                ext.append({"url": "doc-purpose", "valueCode": codes["doc-purpose"]})
            policy = next(iter(self.engine.kb.policies.values()))
            ext.append({"url": "questionnaire", "valueCanonical": self.settings.questionnaire_base + policy.identifier})
        ext.append({"url": "date", "valueDate": datetime.now(timezone.utc).date().isoformat()})
        ext.append({"url": "coverage-assertion-id", "valueString": str(uuid.uuid4())})
        if codes["pa-needed"] == "satisfied" and fhir is not None:
            ext.append({"url": "satisfied-pa-id", "valueString": self._authorize(fhir, answer)})
        updated = copy.deepcopy(order)
        updated.setdefault("extension", []).append({"url": self.settings.extensions["coverage-information"], "extension": ext})
        return {"type": "update", "description": f"Coverage information for this order ({codes['pa-needed']})",
                "resource": updated}

    def _authorize(self, fhir: Any, answer: "Answer") -> str:
        """The authorization an approving order carries: one number per order (the same order, the same
        number), kept by `commit` as a certified request."""
        key = f"{self.settings.identifier_system}|crd-{fhir.determination['id']}"
        policy = fhir.determination["policy"]
        number = f"{policy}-{hashlib.sha256(key.encode()).hexdigest()[:12].upper()}"
        activity, quads = lean_quads(fhir.evaluation)
        response = response_for(fhir.evaluation, self.engine.kb, fhir.extraction, authorization=number)
        mark(response, self.settings, number)
        answer.authorizations.append((key, Decided(fhir.determination, fhir.extraction.request, response, quads,
                                                   activity, number)))
        return number
