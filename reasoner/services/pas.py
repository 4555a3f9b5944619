"""Da Vinci PAS: `Claim/$submit`, `Claim/$inquire`, and the clinician's final decision on a pended claim.

- `$submit`: a PAS request Bundle in, the PAS response Bundle out (reasoner.fhir.response: A1 with
  the authorization number and period, A4 pended otherwise). Every claim is kept (claims.py), keyed
  by its Claim.identifier; resubmitting the same identifier (or a PAS Claim update whose `related`
  Claim has it) re-evaluates the new Bundle and answers with the same authorization number, never a
  second one. A claim a clinician has decided is final: a new request needs a new Claim.
- `$inquire`: a PAS inquiry Bundle (its Claim names the authorization number, PAS extension
  authorizationNumber, or the original Claim.identifier) -> Parameters with the claim's current
  response Bundle; 404 when no claim matches.
- `$clinician-decision`: Parameters (the claim, `decision` = a code of ontology/services.ttl,
  `reason`, `note`), sent with a clinician's token: the clinician's identity comes from the token,
  never from the body. The claim must be pended. The decision is kept as PROV-O (claims.review_quads)
  and the claim's response becomes A1 (certified, with the number and period) or A3 (not certified,
  with the reason). A3 is written here and only here.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from dateutil.relativedelta import relativedelta

from reasoner.fhir.bundle import open_bundle, reference_of
from reasoner.fhir.errors import FhirInputError
from reasoner.fhir.evaluate import evaluate_bundle
from reasoner.fhir.mapping import mapping_for
from reasoner.fhir.response import response_for
from reasoner.flow.engine import Reasoner
from reasoner.services.claims import REVIEW_BASE, ClaimRecord, ClaimStore, Review, lean_quads, new_authorization, now
from reasoner.services.errors import ServiceError, from_fhir
from reasoner.flow.dotted import get_value
from reasoner.services.fields import form_model
from reasoner.services.settings import ServiceSettings, settings_for

__all__ = ["Decided", "Pas", "Prepared", "claim_key", "decide"]

CERTIFIED, PENDED, NOT_CERTIFIED = "certified", "pended", "not-certified"


def claim_key(claim: dict[str, Any]) -> str | None:
    """A Claim's business identifier as "system|value" (its first identifier with a value)."""
    for ident in claim.get("identifier") or []:
        if isinstance(ident, dict) and isinstance(ident.get("value"), str) and ident["value"].strip():
            system = ident.get("system") if isinstance(ident.get("system"), str) else ""
            return f"{system}|{ident['value'].strip()}"
    return None


def _parameter(params: dict[str, Any], name: str) -> dict[str, Any] | None:
    for p in params.get("parameter") or []:
        if isinstance(p, dict) and p.get("name") == name:
            return p
    return None


def _param_path(name: str) -> str:
    return f"Parameters.parameter.where(name = '{name}')"


@dataclass
class Prepared:
    key: str
    record: ClaimRecord | None
    authorization: str | None


@dataclass
class Decided:
    """What deciding a Bundle gives (picklable: it may come from a worker process)."""

    determination: dict[str, Any]
    request: dict[str, Any]
    response: dict[str, Any]
    quads: list[Any]
    activity: str
    authorization: str


def decide(engine: Reasoner, obj: Any, authorization: str | None) -> Decided:
    """Read and decide a PAS Bundle; its response under `authorization` (a new number when None).

    Pure CPU, no store: the service runs it in a worker process when it has any."""
    try:
        fhir = evaluate_bundle(obj, engine)
    except FhirInputError as exc:
        raise from_fhir(exc) from None
    det = fhir.determination
    number = authorization or new_authorization(det["policy"])
    activity, quads = lean_quads(fhir.evaluation)
    response = response_for(fhir.evaluation, engine.kb, fhir.extraction, authorization=number)
    mark(response, settings_for(engine.kb), number)
    return Decided(det, fhir.extraction.request, response, quads, activity, number)


def mark(response: dict[str, Any], settings: ServiceSettings, authorization: str) -> None:
    """The authorization number on the ClaimResponse (PAS extension), whatever its state."""
    claim_response = response["entry"][0]["resource"]
    claim_response.setdefault("extension", []).append(
        {"url": settings.extensions["authorization-number"], "valueString": authorization})


class Pas:
    """The PAS operations over a reasoner and a claim store."""

    def __init__(self, engine: Reasoner, claims: ClaimStore) -> None:
        self.engine = engine
        self.claims = claims
        self.settings: ServiceSettings = settings_for(engine.kb)

    # ------------------------------------------------------------------ $submit

    def submit(self, obj: Any) -> dict[str, Any]:
        """$submit in this process: prepare (the store), decide (CPU), commit (the store)."""
        prepared = self.prepare(obj)
        return self.commit(prepared, decide(self.engine, obj, prepared.authorization))

    def prepare(self, obj: Any) -> "Prepared":
        """The Bundle's Claim, its key and what the store knows of it (refusals before any work)."""
        try:
            bundle = open_bundle(obj)
        except FhirInputError as exc:
            raise from_fhir(exc) from None
        claim = bundle.claim
        if claim is None:
            raise ServiceError(422, "a PAS request Bundle starts with its Claim (use preauthorization)", "Bundle.entry[0]",
                               "required")
        key = claim_key(claim.resource)
        if key is None:
            raise ServiceError(422, "the Claim needs an identifier with a value: the request is tracked by it",
                               f"{claim.path}.identifier", "required")
        record = self.claims.get(key) or self._related(bundle, claim)
        if record is not None and record.review is not None:
            raise ServiceError(422, "this request has a clinician's final decision; send a new Claim (a new "
                               "identifier) to request again", f"{claim.path}.identifier", "business-rule")
        return Prepared(key, record, record.authorization if record is not None else None)

    def commit(self, prepared: "Prepared", decided: "Decided") -> dict[str, Any]:
        """Store the determination and the claim (same number on a resubmission); the response."""
        self.claims.add_quads(decided.quads)
        det = decided.determination
        status = CERTIFIED if det["decision"] == "approve" else PENDED
        record = prepared.record
        if record is None:
            record = ClaimRecord(prepared.key, decided.authorization, status, decided.request, det, decided.response,
                                 determination_iri=decided.activity)
        else:
            record.status, record.request, record.determination = status, decided.request, det
            record.response = decided.response
            record.submissions += 1
            record.updated = now()
            record.determination_iri = decided.activity
        self.claims.save(record)
        return decided.response

    def _related(self, bundle: Any, claim: Any) -> ClaimRecord | None:
        """A PAS Claim update: the claim its `related.claim` names (by identifier or a Claim in the Bundle)."""
        for related in claim.resource.get("related") or []:
            ref = related.get("claim") if isinstance(related, dict) else None
            if not isinstance(ref, dict):
                continue
            key = claim_key({"identifier": [ref["identifier"]]}) if isinstance(ref.get("identifier"), dict) else None
            if key is None and reference_of(ref) is not None:
                target = bundle.resolve(ref)
                key = claim_key(target.resource) if target is not None and target.type == "Claim" else None
            record = self.claims.get(key) if key else None
            if record is not None:
                return record
        return None

    # ------------------------------------------------------------------ $inquire

    def inquire(self, obj: Any) -> dict[str, Any]:
        try:
            bundle = open_bundle(obj)
        except FhirInputError as exc:
            raise from_fhir(exc) from None
        if bundle.claim is None:
            raise ServiceError(422, "a PAS inquiry Bundle starts with its Claim", "Bundle.entry[0]", "required")
        record = self._find(bundle.claim.resource)
        if record is None:
            raise ServiceError(404, "no prior-authorization request matches this inquiry (authorization number or "
                               "Claim identifier)", "Bundle.entry[0].resource", "not-found")
        return {"resourceType": "Parameters", "parameter": [{"name": "return", "resource": record.response}]}

    def _find(self, claim: dict[str, Any]) -> ClaimRecord | None:
        url = self.settings.extensions["authorization-number"]
        numbers = [e.get("valueString") for e in claim.get("extension") or [] if isinstance(e, dict) and e.get("url") == url]
        for item in claim.get("item") or []:
            if isinstance(item, dict):
                numbers += [e.get("valueString") for e in item.get("extension") or []
                            if isinstance(e, dict) and e.get("url") == url]
        for number in numbers:
            if isinstance(number, str) and number:
                record = self.claims.by_authorization(number)
                if record is not None:
                    return record
        key = claim_key(claim)
        return self.claims.get(key) if key else None

    # ------------------------------------------------------------------ clinician decision

    def clinician_decision(self, params: Any, clinician: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(params, dict) or params.get("resourceType") != "Parameters":
            raise ServiceError(400, "must be a Parameters resource", "Parameters.resourceType", "structure")
        decision_p = _parameter(params, "decision")
        code = decision_p.get("valueCode") if decision_p else None
        decision = self.settings.decisions.get(code) if isinstance(code, str) else None
        if decision is None:
            raise ServiceError(422, "decision must be one of: " + ", ".join(sorted(self.settings.decisions)),
                               _param_path("decision"), "code-invalid")
        reason_p, note_p = _parameter(params, "reason"), _parameter(params, "note")
        reason = reason_p.get("valueString") if reason_p else None
        note = note_p.get("valueString") if note_p else None
        if decision.needs_reason and not (isinstance(reason, str) and reason.strip()):
            raise ServiceError(422, f"a decision of {decision.code} needs the clinician's reason", _param_path("reason"),
                               "required")
        record = self._claim_of(params)
        if record is None:
            raise ServiceError(404, "no prior-authorization request has that authorization number or Claim identifier",
                               _param_path("authorization-number"), "not-found")
        if record.status != PENDED:
            raise ServiceError(409, f"the request is {record.status}, not pended: a clinician decides pended requests",
                               _param_path("authorization-number"), "business-rule")
        review = Review(decision.code, decision.action_code, reason.strip() if isinstance(reason, str) and reason.strip() else None,
                        note.strip() if isinstance(note, str) and note.strip() else None, clinician, now(),
                        REVIEW_BASE + str(uuid.uuid4()))
        record.response = self._final_response(record, review, decision)
        record.status = CERTIFIED if decision.certifies else NOT_CERTIFIED
        record.review = review
        record.updated = now()
        self.claims.save(record, review)
        return record.response

    def _claim_of(self, params: dict[str, Any]) -> ClaimRecord | None:
        number = _parameter(params, "authorization-number")
        if number and isinstance(number.get("valueString"), str):
            found = self.claims.by_authorization(number["valueString"])
            if found is not None:
                return found
        ident = _parameter(params, "claim-identifier")
        if ident and isinstance(ident.get("valueIdentifier"), dict):
            key = claim_key({"identifier": [ident["valueIdentifier"]]})
            return self.claims.get(key) if key else None
        return None

    def _approval_months(self, record: ClaimRecord) -> int | None:
        model = form_model(self.engine.kb)
        kind = get_value(record.request, model.type_field)
        return next((r.criterion.approval_months for r in model.roots
                     if r.type_value == kind and r.criterion.approval_months is not None), None)

    def _final_response(self, record: ClaimRecord, review: Review, decision: Any) -> dict[str, Any]:
        """The pended response made final by a clinician: A1 with the number and period, or A3 with the reason."""
        ext = self.settings.extensions
        bundle = copy.deepcopy(record.response)
        created = datetime.now(timezone.utc)
        bundle["timestamp"] = created.isoformat()
        response = bundle["entry"][0]["resource"]
        response["created"] = created.isoformat()
        period = None
        request_date = get_value(record.request, _request_date_field(self.engine))
        months = self._approval_months(record) if decision.certifies else None
        if months and isinstance(request_date, str):
            start = date.fromisoformat(request_date)
            period = {"start": start.isoformat(), "end": (start + relativedelta(months=months)).isoformat()}
        for item in response.get("item") or []:
            item["extension"] = [e for e in item.get("extension") or []
                                 if e.get("url") not in (ext["pre-auth-issue-date"], ext["pre-auth-period"])]
            if decision.certifies:
                item["extension"].append({"url": ext["pre-auth-issue-date"], "valueDate": created.date().isoformat()})
                if period:
                    item["extension"].append({"url": ext["pre-auth-period"], "valuePeriod": period})
            if not item["extension"]:
                del item["extension"]
            for adjudication in item.get("adjudication") or []:
                for action in adjudication.get("extension") or []:
                    if action.get("url") != ext["review-action"]:
                        continue
                    parts = [p for p in action.get("extension") or [] if p.get("url") not in (ext["review-action-code"], "number")]
                    parts.insert(0, {"url": ext["review-action-code"], "valueCodeableConcept": {"coding": [{
                        "system": self.settings.review_action_system, "code": decision.action_code,
                        "display": decision.action_display}]}})
                    if decision.certifies:
                        parts.append({"url": "number", "valueString": record.authorization})
                    action["extension"] = parts
        reviewer = [{"url": "wasHumanReviewedFlag", "valueBoolean": True}]
        ident = review.clinician.get("identifier")
        if isinstance(ident, dict) and ident.get("value"):
            reviewer.append({"url": "reviewerNPI", "valueIdentifier": {k: ident[k] for k in ("system", "value") if ident.get(k)}})
        response["extension"] = [e for e in response.get("extension") or [] if e.get("url") != ext["reviewer"]]
        response["extension"].insert(0, {"url": ext["reviewer"], "extension": reviewer})
        if decision.certifies:
            response["preAuthRef"] = record.authorization
            if period:
                response["preAuthPeriod"] = period
            response["disposition"] = "Certified by clinician review."
        else:
            response.pop("preAuthRef", None)
            response.pop("preAuthPeriod", None)
            response["disposition"] = f"Not certified by clinician review: {review.reason}"
        notes = [n for n in response.get("processNote") or []]
        notes.append({"number": len(notes) + 1, "type": "display",
                      "text": f"Clinician review: {decision.action_display}." + (f" Reason: {review.reason}" if review.reason else "")})
        response["processNote"] = notes
        # the request for more information is moot once a clinician has decided
        asked = {ref.get("reference") for ref in response.pop("communicationRequest", []) or []}
        kept = []
        for entry in bundle["entry"]:
            if entry.get("fullUrl") in asked:
                about = {a.get("reference") for a in entry["resource"].get("about") or []}
                asked |= about
                continue
            kept.append(entry)
        bundle["entry"] = [e for e in kept if e.get("fullUrl") not in asked]
        return bundle


def _request_date_field(engine: Reasoner) -> str:
    return mapping_for(engine.kb).request_date_field
