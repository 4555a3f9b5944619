"""A determination as a Da Vinci PAS response Bundle: the ClaimResponse first, then what it references.

- approve: every item adjudicated with review action A1 (certified in total, X12 306), `preAuthRef`
  and `preAuthPeriod` (from the request date for the approval months, as the contract counts months);
- needs-info: A4 (pended), a CommunicationRequest for LOINC 102089-0 ("complete the payer's
  questionnaire") about a Questionnaire whose items are exactly the fields to send (linkId = the
  contract's dotted path, so the answers come back as a QuestionnaireResponse the mapping reads);
- refer and deny: A4 (pended) for clinician review, each failed criterion (number, message, the
  policy's sentence) and the referral in `processNote`. Never A3 (not certified): an adverse
  medical-necessity decision is a clinician's (42 CFR 422.566(d), 438.210(b)(3); docs/fhir.md).

The review-action codes and the PAS extension URLs are data (ontology/fhir-response.ttl).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from decimal import Decimal
from datetime import date, datetime, timezone
from typing import Any

from dateutil.relativedelta import relativedelta
from rdflib.namespace import DCTERMS

from reasoner.fhir.mapping import mapping_for
from reasoner.fhir.request import Extraction
from reasoner.policy.kb import BX, KB, KnowledgeBase

__all__ = ["dumps", "response_bundle", "response_for"]

ADJUDICATION = "http://terminology.hl7.org/CodeSystem/adjudication"
CLAIM_TYPE = "http://terminology.hl7.org/CodeSystem/claim-type"


def _settings(kb: KnowledgeBase) -> dict[str, Any]:
    """The response's codes and URLs from the knowledge base (once per knowledge base)."""
    cached = kb.__dict__.get("_fhir_response")
    if cached is not None:
        return cached
    g = kb.graph
    node = KB["fhir-response"]

    def text(p) -> str:
        value = g.value(node, p)
        if value is None:
            raise LookupError(f"ontology/fhir-response.ttl: kb:fhir-response has no {p}")
        return str(value)

    actions = {}
    for action in g.objects(node, BX.reviewAction):
        for decision in g.objects(action, BX.forDecision):
            actions[str(decision)] = {"code": str(g.value(action, BX.actionCode)), "display": str(g.value(action, BX.actionDisplay)),
                                      "system": text(BX.reviewActionSystem)}
    policy = next(iter(kb.policies.values()), None)
    cached = kb.__dict__["_fhir_response"] = {
        "actions": actions,
        "extension": {str(g.value(e, BX.role)): str(g.value(e, BX.url)) for e in g.objects(node, BX.extension)},
        "questionnaire_request": {"code": text(BX.questionnaireRequestCode), "system": text(BX.questionnaireRequestSystem)},
        "identifier_system": text(BX.identifierSystem),
        "contract_system": text(BX.contractValueSystem),
        "insurer": str(g.value(policy.iri, DCTERMS.publisher) or "payer") if policy else "payer",
    }
    return cached


def _ref(entry) -> dict[str, str]:
    return {"reference": entry.full_url or f"{entry.type}/{entry.resource.get('id')}"}


def _pre_auth_ref(det: dict[str, Any], request_date: str) -> str:
    digest = hashlib.sha256(f"{det['policy']}|{det['id']}|{request_date}".encode()).hexdigest()[:12].upper()
    return f"{det['policy']}-{digest}"


def _review_action(settings: dict, decision: str, number: str | None) -> dict[str, Any]:
    action = settings["actions"][decision]
    ext: list[dict[str, Any]] = [{"url": settings["extension"]["review-action-code"], "valueCodeableConcept": {
        "coding": [{"system": action["system"], "code": action["code"], "display": action["display"]}]}}]
    if number:
        ext.append({"url": "number", "valueString": number})
    return {"url": settings["extension"]["review-action"], "extension": ext}


def _notes(det: dict[str, Any]) -> list[dict[str, Any]]:
    notes: list[str] = []
    for f in det.get("failed") or []:
        text = f"{f['criterion']} [{f['kind']}] {f.get('message', '')}"
        if f.get("policy_text"):
            text += f" Policy: \"{f['policy_text']}\""
        if f.get("needs"):
            text += f" Send: {', '.join(f['needs'])}."
        notes.append(text)
    referral = det.get("referral")
    if referral:
        notes.append(f"Referral: {referral.get('policy', '')} (section {referral.get('section', '')}"
                     f"{', ' + referral['policy_name'] if referral.get('policy_name') else ''}). {referral.get('reason', '')}")
    if det.get("clinician_review_required"):
        notes.append("Pended for clinician review: the reasoner recommends, a clinician decides an adverse determination.")
    return [{"number": i, "type": "display", "text": t} for i, t in enumerate(notes, 1)]


def _questionnaire(det: dict[str, Any], kb: KnowledgeBase, settings: dict) -> dict[str, Any] | None:
    """The fields a needs-info determination asks for, as Questionnaire items (linkId = dotted path)."""
    types = mapping_for(kb).field_types
    asked: dict[str, list[str]] = {}
    for f in det.get("failed") or []:
        if f.get("kind") == "missing":
            for name in f.get("needs") or []:
                asked.setdefault(name, []).append(f"{f['criterion']}: {f.get('message', '')}")
    if not asked:
        return None
    items = []
    for name, why in asked.items():
        schema = types.get(name, {})
        item: dict[str, Any] = {"linkId": name, "text": f"{name} (needed for {'; '.join(why)})",
                                "type": _item_type(schema), "required": True}
        if "enum" in schema:
            item["answerOption"] = [{"valueCoding": {"system": settings["contract_system"], "code": str(v)}}
                                    for v in schema["enum"]]
        if schema.get("type") == "array":
            item["repeats"] = True
        items.append(item)
    return {"resourceType": "Questionnaire", "status": "active", "title": f"Information needed for request {det['id']}",
            "item": items}


def _item_type(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return "choice"
    kind = schema.get("type")
    if kind == "boolean":
        return "boolean"
    if kind == "integer":
        return "integer"
    if kind == "number":
        return "decimal"
    if kind == "object":
        return "quantity"
    if schema.get("format") == "date":
        return "date"
    return "string"


def response_bundle(det: dict[str, Any], kb: KnowledgeBase, extraction: Extraction | None = None,
                    request_date: str | None = None, created: datetime | None = None,
                    authorization: str | None = None) -> dict[str, Any]:
    """The PAS response Bundle for a determination (see the module doc).

    `extraction` (from read_bundle) supplies the request Bundle's Claim, Patient, insurer and provider,
    which the response references and carries; without it (a contract request answered in FHIR) the
    response stands alone, referencing the request by its identifier. `authorization`: the payer's
    number for this request (a service keeps it across resubmissions); else one derived from the
    request's id and date.
    """
    settings = _settings(kb)
    decision = det["decision"]
    created = created or datetime.now(timezone.utc)
    ns = uuid.uuid5(uuid.NAMESPACE_URL, f"urn:blincyto:response:{det['id']}:{created.isoformat()}")

    def url(name: str) -> str:
        return f"urn:uuid:{uuid.uuid5(ns, name)}"

    bundle = extraction.bundle if extraction is not None else None
    request_date = request_date or (extraction.request["request_date"] if extraction else None)
    entries: list[dict[str, Any]] = []
    claim = bundle.claim if bundle is not None else None
    patient = bundle.patient if bundle is not None else None

    if patient is not None:
        patient_ref = _ref(patient)
    else:
        patient_ref = {"reference": url("patient")}
        entries.append({"fullUrl": url("patient"), "resource": {"resourceType": "Patient"}})
    insurer_entry = bundle.resolve(claim.resource.get("insurer")) if claim is not None else None
    if insurer_entry is not None:
        insurer_ref = _ref(insurer_entry)
    else:
        insurer_ref = {"reference": url("insurer")}
        entries.append({"fullUrl": url("insurer"), "resource": {"resourceType": "Organization", "name": settings["insurer"]}})
    requestor_entry = bundle.resolve(claim.resource.get("provider")) if claim is not None else None

    pended = decision != "approve"
    pre_auth = (authorization or _pre_auth_ref(det, request_date or "")) if not pended else None
    period = None
    if not pended and request_date and det.get("approval_months"):
        start = date.fromisoformat(request_date)
        period = {"start": start.isoformat(), "end": (start + relativedelta(months=int(det["approval_months"]))).isoformat()}

    items = []
    sequences = [i.get("sequence") for i in (claim.resource.get("item") or [])] if claim is not None else []
    for sequence in [s for s in sequences if isinstance(s, int)] or [1]:
        item: dict[str, Any] = {"itemSequence": sequence, "adjudication": [{
            "category": {"coding": [{"system": ADJUDICATION, "code": "submitted"}]},
            "extension": [_review_action(settings, decision, pre_auth)]}]}
        if period is not None:
            item["extension"] = [{"url": settings["extension"]["pre-auth-issue-date"], "valueDate": created.date().isoformat()},
                                 {"url": settings["extension"]["pre-auth-period"], "valuePeriod": period}]
        items.append(item)

    response: dict[str, Any] = {
        "resourceType": "ClaimResponse",
        "extension": [{"url": settings["extension"]["reviewer"], "extension": [
            {"url": "wasHumanReviewedFlag", "valueBoolean": False}]}],
        "identifier": [{"system": settings["identifier_system"], "value": det["id"]}],
        "status": "active",
        "type": claim.resource.get("type") if claim is not None and claim.resource.get("type") else
        {"coding": [{"system": CLAIM_TYPE, "code": "professional"}]},
        "use": "preauthorization",
        "patient": patient_ref,
        "created": created.isoformat(),
        "insurer": insurer_ref,
        "outcome": "complete",
        "disposition": _disposition(det),
        "item": items,
    }
    if requestor_entry is not None:
        response["requestor"] = _ref(requestor_entry)
    if claim is not None:
        response["request"] = _ref(claim)
    else:
        response["request"] = {"identifier": {"system": settings["identifier_system"], "value": det["id"]}}
    if pre_auth:
        response["preAuthRef"] = pre_auth
    if period:
        response["preAuthPeriod"] = period
    notes = _notes(det)
    if notes:
        response["processNote"] = notes
    questionnaire = _questionnaire(det, kb, settings) if decision == "needs-info" else None
    if questionnaire is not None:
        code = settings["questionnaire_request"]
        communication = {"resourceType": "CommunicationRequest", "status": "active", "subject": patient_ref,
                         "about": [{"reference": url("questionnaire")}], "requester": insurer_ref,
                         "payload": [{"contentString": code["code"]}],
                         "reasonCode": [{"coding": [{"system": code["system"], "code": code["code"]}],
                                         "text": "complete the payer's questionnaire"}]}
        response["communicationRequest"] = [{"reference": url("communication")}]
        entries.append({"fullUrl": url("communication"), "resource": communication})
        entries.append({"fullUrl": url("questionnaire"), "resource": questionnaire})

    carried = []
    if bundle is not None:
        for entry in (patient, insurer_entry, requestor_entry, claim):
            if entry is not None and entry not in carried:
                carried.append(entry)
    out_entries = [{"fullUrl": url("claim-response"), "resource": response}]
    out_entries += [{"fullUrl": e.full_url, "resource": e.resource} if e.full_url else {"resource": e.resource}
                    for e in carried]
    out_entries += entries
    out: dict[str, Any] = {"resourceType": "Bundle", "type": "collection", "timestamp": created.isoformat(),
                           "identifier": {"system": settings["identifier_system"], "value": det["id"]},
                           "entry": out_entries}
    return out


def _disposition(det: dict[str, Any]) -> str:
    decision = det["decision"]
    if decision == "approve":
        return f"Certified: {', '.join(det.get('pathways') or [])} ({det.get('approval_months')} months)."
    if decision == "needs-info":
        return "Pended: information is missing; complete the questionnaire."
    return f"Pended for clinician review (recommendation: {decision})."


def response_for(evaluation: Any, kb: KnowledgeBase, extraction: Extraction | None = None,
                 authorization: str | None = None) -> dict[str, Any]:
    """The response Bundle of an engine Evaluation (its request date read from the request graph)."""
    request_date = evaluation.request_graph.value(evaluation.request_iri, BX.requestDate)
    return response_bundle(evaluation.determination, kb, extraction,
                           request_date=None if request_date is None else str(request_date),
                           created=evaluation.ended_at, authorization=authorization)


def _number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def dumps(resource: dict[str, Any], **kwargs: Any) -> str:
    """JSON of a resource; the input Bundle's exact decimals written as JSON numbers."""
    return json.dumps(resource, ensure_ascii=False, default=_number, **kwargs)
