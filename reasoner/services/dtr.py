"""Da Vinci DTR: `Questionnaire/$questionnaire-package` and the adaptive `Questionnaire/$next-question`.

`$questionnaire-package` takes the DTR input Parameters (coverage, order, and, since no CQL runs on
the client, the other resources of the order's record the payer may read: Patient, Condition,
Observation, PractitionerRole, ... as further parameters) or a Bundle of them, and answers the DTR
output Parameters: one package Bundle with the generated Questionnaire first and the draft
QuestionnaireResponse pre-filled from those resources (questionnaire.py says why server-side).

`$next-question` (SDC, as DTR profiles it) takes Parameters with a QuestionnaireResponse whose
contained Questionnaire holds the questions asked so far, and answers the same with the next
question appended (adaptive.py), or with status `completed` once no unanswered question can change
the decision. The answers so far are read with the FHIR mapping (linkId = contract field), so an
answer means here what it means to $submit. A question asked and left without an answer is
declined: it is not asked again.
"""

from __future__ import annotations

import copy
from typing import Any

from reasoner.fhir.bundle import open_bundle
from reasoner.fhir.errors import FhirInputError
from reasoner.fhir.request import read_bundle
from reasoner.flow.engine import Reasoner
from reasoner.services.adaptive import next_question
from reasoner.services.errors import ServiceError, from_fhir
from reasoner.services.fields import form_model
from reasoner.services.questionnaire import build_questionnaire, render_item, prefill, trial_base
from reasoner.services.settings import settings_for
from reasoner.flow.check import request_schema

__all__ = ["Dtr"]

CONTAINED_ID = "asked"


def _bundle_of(obj: Any) -> dict[str, Any]:
    """The order's resources as a collection Bundle (from DTR Parameters, or a Bundle as sent)."""
    if isinstance(obj, dict) and obj.get("resourceType") == "Bundle":
        return obj
    if not isinstance(obj, dict) or obj.get("resourceType") != "Parameters":
        raise ServiceError(400, "must be DTR $questionnaire-package Parameters (coverage, order, ...) or a Bundle",
                           "Parameters.resourceType", "structure")
    entries = []
    for i, p in enumerate(obj.get("parameter") or []):
        resource = p.get("resource") if isinstance(p, dict) else None
        if isinstance(resource, dict):
            if resource.get("resourceType") == "Bundle":
                entries += [e for e in resource.get("entry") or [] if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
            else:
                entries.append({"resource": resource})
    if not any(e["resource"].get("resourceType") == "Coverage" for e in entries):
        raise ServiceError(422, "the coverage parameter is required (the member's Coverage)",
                           "Parameters.parameter.where(name = 'coverage')", "required")
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def _flat(items: Any) -> list[dict[str, Any]]:
    out = []
    for item in items or []:
        if isinstance(item, dict):
            out.append(item)
            out += _flat(item.get("item"))
            for answer in item.get("answer") or []:
                if isinstance(answer, dict):
                    out += _flat(answer.get("item"))
    return out


def _without_answer(items: Any, link: str) -> list[dict[str, Any]]:
    out = []
    for item in items or []:
        if not isinstance(item, dict) or item.get("linkId") == link:
            continue
        out.append(dict(item, item=_without_answer(item["item"], link)) if item.get("item") else item)
    return out


class Dtr:
    """The DTR operations over a reasoner."""

    def __init__(self, engine: Reasoner) -> None:
        self.engine = engine
        self.settings = settings_for(engine.kb)

    # ------------------------------------------------------------------ $questionnaire-package

    def package(self, obj: Any) -> dict[str, Any]:
        bundle = _bundle_of(obj)
        try:
            extraction = read_bundle(bundle, self.engine.kb, partial=True)
        except FhirInputError as exc:
            raise from_fhir(exc) from None
        request = extraction.request
        _, placed = trial_base(self.engine, request)
        form = build_questionnaire(self.engine, request)
        indexed = extraction.bundle
        subject = {"reference": indexed.patient.ref} if indexed is not None and indexed.patient is not None else None
        orders = [e for e in indexed.entries if e.type in ("MedicationRequest", "ServiceRequest", "DeviceRequest")] \
            if indexed is not None else []
        context = [{"reference": e.ref} for e in orders if not e.ref.startswith("Bundle.")]
        response = prefill(self.engine, form, request, placed, subject, context, _request_id(request))
        package = {"resourceType": "Bundle", "type": "collection",
                   "entry": [{"fullUrl": f"{form.questionnaire['url']}|{form.questionnaire['version']}",
                              "resource": form.questionnaire},
                             {"fullUrl": f"urn:uuid:{response['id']}", "resource": response}]}
        out: dict[str, Any] = {"resourceType": "Parameters", "parameter": [{"name": "packagebundle", "resource": package}]}
        notes = [f["message"] for f in extraction.findings if f.get("message")]
        if notes:
            out["parameter"].append({"name": "outcome", "resource": {"resourceType": "OperationOutcome", "issue": [
                {"severity": "information", "code": "informational", "diagnostics": n} for n in notes]}})
        return out

    # ------------------------------------------------------------------ $next-question

    def next_question(self, obj: Any) -> dict[str, Any]:
        response = self._response_of(obj)
        contained = [r for r in response.get("contained") or [] if isinstance(r, dict)
                     and r.get("resourceType") == "Questionnaire"]
        asked_q = contained[0] if contained else None
        if asked_q is None:
            asked_q = self._adaptive_questionnaire()
            response["contained"] = [asked_q] + [r for r in response.get("contained") or []]
            response["questionnaire"] = f"#{asked_q['id']}"
        answered = {i.get("linkId") for i in _flat(response.get("item")) if i.get("answer")}
        asked = [i.get("linkId") for i in _flat(asked_q.get("item")) if i.get("type") not in ("display", "group")]
        request = self._request_of(response)
        step = next_question(self.engine, request, set(asked))
        model = form_model(self.engine.kb)
        if step.question is None:
            response["status"] = "completed"
        else:
            response["status"] = "in-progress"
            item = render_item(self.settings, self.engine.kb, model, model.fields[step.question], request_schema().get("$id", ""))
            help_items = [i for i in item.get("item", []) if i.get("type") == "display"]
            if help_items:
                help_items[0]["text"] = f"{help_items[0]['text']} Asked now: {step.why}."
            if step.question in asked:  # asked again (its answer could not be used): moved last
                asked_q["item"] = [i for i in asked_q.get("item", []) if i.get("linkId") != step.question]
            if step.question in answered:  # an answer it has does not settle it: cleared, to be answered anew
                response["item"] = _without_answer(response.get("item"), step.question)
            asked_q.setdefault("item", []).append(item)
        return {"resourceType": "Parameters", "parameter": [{"name": "return", "resource": response}]}

    def _adaptive_questionnaire(self) -> dict[str, Any]:
        policy = next(iter(self.engine.kb.policies.values()))
        return {"resourceType": "Questionnaire", "id": CONTAINED_ID,
                "url": f"{self.settings.questionnaire_base}{policy.identifier}-adaptive",
                "version": policy.version_label, "status": "active", "subjectType": ["Patient"],
                "title": "Adaptive questionnaire: the questions that can change the decision", "item": []}

    def _response_of(self, obj: Any) -> dict[str, Any]:
        if isinstance(obj, dict) and obj.get("resourceType") == "Parameters":
            for p in obj.get("parameter") or []:
                if isinstance(p, dict) and p.get("name") == "questionnaire-response":
                    obj = p.get("resource")
                    break
            else:
                raise ServiceError(422, "the questionnaire-response parameter is required",
                                   "Parameters.parameter.where(name = 'questionnaire-response')", "required")
        if not isinstance(obj, dict) or obj.get("resourceType") != "QuestionnaireResponse":
            raise ServiceError(400, "must be Parameters with a questionnaire-response, or a QuestionnaireResponse",
                               "Parameters.resourceType", "structure")
        return copy.deepcopy(obj)

    def _request_of(self, response: dict[str, Any]) -> dict[str, Any]:
        """The answers so far as a (possibly incomplete) contract request, read by the FHIR mapping."""
        answers = copy.deepcopy(response)
        answers.pop("contained", None)
        answers["status"] = "completed"  # the mapping reads finished answers; these are the ones so far
        patient: dict[str, Any] = {"resourceType": "Patient", "id": "member"}
        subject = answers.get("subject")
        if isinstance(subject, dict) and isinstance(subject.get("reference"), str) and "/" in subject["reference"]:
            kind, _, ident = subject["reference"].rstrip("/").rpartition("/")
            if kind.rsplit("/", 1)[-1] == "Patient" and ident:
                patient["id"] = ident
        answers["subject"] = {"reference": f"Patient/{patient['id']}"}
        ident = response.get("identifier") if isinstance(response.get("identifier"), dict) else None
        bundle = {"resourceType": "Bundle", "type": "collection",
                  "identifier": ident or {"system": self.settings.identifier_system,
                                          "value": str(response.get("id") or "questionnaire-response")},
                  "entry": [{"resource": patient}, {"resource": answers}]}
        try:
            open_bundle(bundle)
            return read_bundle(bundle, self.engine.kb, partial=True).request
        except FhirInputError as exc:
            raise ServiceError(422 if exc.code != "structure" else 400,
                               exc.reason, "QuestionnaireResponse.item", exc.code) from None


def _request_id(request: dict[str, Any]) -> str | None:
    """The request's id: the schema's first required string field without a format (the caller's id)."""
    schema = request_schema()
    for name in schema.get("required", []):
        sub = schema["properties"].get(name, {})
        if sub.get("type") == "string" and "format" not in sub and isinstance(request.get(name), str):
            return request[name]
    return None
