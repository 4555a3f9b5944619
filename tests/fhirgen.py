"""Test tool: a contract-v1 request written as a Da Vinci PAS request Bundle, the way an EHR sends it.

Facts go where FHIR carries them, as codes (not the contract's strings): the Claim (identifier,
created, ICD-10-CM diagnosis, the PAS certification type, HCPCS J9039 units), Patient.birthDate,
Coverage.class (the payer's plan value), a PractitionerRole with its NUCC specialty, a Condition
coded in SNOMED CT / ICD-O-3 / NCIt, LOINC Observations (weight, height, body surface area,
immunophenotype), RxNorm MedicationRequests (Blincyto with its dose in UCUM, and each other agent),
an AllergyIntolerance. What FHIR does not carry (phase, mode, Ph-like, MRD, continuation answers, a
specialty or condition with no confirmed code) goes into a QuestionnaireResponse whose item linkIds
are the contract's dotted paths.

The code tables below are this tool's own (from ../shared/docs/codes.md and the sources the mapping
cites), not the mapping's, so a round trip tests the mapping rather than echoing it. Drugs are coded
with the knowledge base's own RxNorm codes, as the mapping reads them too (drugs.ttl grows).
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from rdflib import SKOS, URIRef

from reasoner.flow.dotted import get_value

SCT, LOINC, RXNORM = "http://snomed.info/sct", "http://loinc.org", "http://www.nlm.nih.gov/research/umls/rxnorm"
ICD10CM, ICDO3 = "http://hl7.org/fhir/sid/icd-10-cm", "http://terminology.hl7.org/CodeSystem/icd-o-3"
NCIT, NUCC, UCUM = "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl", "http://nucc.org/provider-taxonomy", "http://unitsofmeasure.org"
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
X12_1322 = "https://codesystem.x12.org/005010/1322"
PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"
RXNORM_IRI = "http://purl.bioontology.org/ontology/RXNORM/"
EMPTY_REASON = "http://terminology.hl7.org/CodeSystem/list-empty-reason"

NUCC_CODES = {"hematology-oncology": "207RH0003X", "hematology": "207RH0000X", "medical oncology": "207RX0202X",
              "pediatric hematology-oncology": "2080P0207X", "internal medicine": "207R00000X"}
B_ALL_NAMES = {"b-all"}
DOSE_UNITS = {"mcg/day": "ug/d", "mcg/m2/day": "ug/(m2.d)"}
PLAN = {"commercial": "example-plan-commercial", "HIM": "example-plan-him", "medicaid": "example-plan-medicaid"}
QUESTIONNAIRE_FIELDS = [
    "formulary_status", "diagnosis.mrd.status", "diagnosis.mrd.level_percent", "regimen.phase", "regimen.mode",
    "regimen.cycle", "regimen.day", "dose.supporting_evidence", "continuation.receiving_via_benefit",
    "continuation.days_on_therapy", "continuation.indication_covered", "continuation.responding",
]


class BundleWriter:
    """Writes contract requests as PAS Bundles; `kb` is the engine's knowledge base (for drug codes)."""

    def __init__(self, kb: Any) -> None:
        self.kb = kb

    # ------------------------------------------------------------------ drugs

    def drug_coding(self, name: str) -> dict | None:
        """The RxNorm coding an EHR would send for a drug name (brand code for a brand), or None."""
        drug = self.kb.labels["agent"].get(name.strip().casefold())
        if drug is None:
            return None
        g = self.kb.graph
        brands = {str(b).casefold() for b in g.objects(drug, URIRef("https://w3id.org/blincyto-pa/ontology#brandName"))}
        props = [SKOS.relatedMatch, SKOS.exactMatch] if name.strip().casefold() in brands else [SKOS.exactMatch]
        for prop in props:
            codes = sorted(str(o)[len(RXNORM_IRI):] for o in g.objects(drug, prop) if str(o).startswith(RXNORM_IRI))
            if codes:
                return {"system": RXNORM, "code": codes[0], "display": str(g.value(drug, SKOS.prefLabel))}
        return None

    # ------------------------------------------------------------------ the Bundle

    def bundle(self, request: dict[str, Any]) -> dict[str, Any]:
        r = copy.deepcopy(request)
        rid = r["id"]
        ns = uuid.uuid5(uuid.NAMESPACE_URL, f"urn:blincyto-test:{rid}")

        def url(name: str) -> str:
            return f"urn:uuid:{uuid.uuid5(ns, name)}"

        def ref(name: str) -> dict:
            return {"reference": url(name)}

        date = r["request_date"]
        entries: list[tuple[str, dict]] = []
        answers: dict[str, list[dict]] = {}

        def ask(field: str, answer: dict) -> None:
            answers.setdefault(field, []).append(answer)

        # Patient, payer, prescriber
        entries.append(("patient", {"resourceType": "Patient", "birthDate": r["member"]["birth_date"],
                                    "name": [{"family": "Member", "given": ["Test"]}]}))
        entries.append(("insurer", {"resourceType": "Organization", "name": "Example Health Plan", "active": True}))
        entries.append(("coverage", {
            "resourceType": "Coverage", "status": "active", "beneficiary": ref("patient"), "payor": [ref("insurer")],
            "class": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/coverage-class",
                                            "code": "plan"}]}, "value": PLAN[r["line_of_business"]]}]}))
        entries.append(("practitioner", {"resourceType": "Practitioner", "name": [{"family": "Prescriber"}]}))
        role: dict[str, Any] = {"resourceType": "PractitionerRole", "practitioner": ref("practitioner")}
        specialty = r["prescriber"]["specialty"]
        if specialty.strip().casefold() in NUCC_CODES:
            role["specialty"] = [{"coding": [{"system": NUCC, "code": NUCC_CODES[specialty.strip().casefold()]}]}]
        else:
            ask("prescriber.specialty", {"valueString": specialty})
        entries.append(("role", role))
        consulting = r["prescriber"].get("consulting_specialties")
        if consulting is not None:
            for name in consulting:
                code = NUCC_CODES.get(name.strip().casefold())
                ask("prescriber.consulting_specialties",
                    {"valueCoding": {"system": NUCC, "code": code}} if code else {"valueString": name})
            if not consulting:
                ask("prescriber.consulting_specialties", {"valueCoding": {"system": EMPTY_REASON, "code": "nilknown"}})

        # Diagnosis
        dx = r["diagnosis"]
        codings: list[dict] = []
        if dx["condition"].strip().casefold() in B_ALL_NAMES:
            codings.append({"system": SCT, "code": "277571004", "display": "B-cell acute lymphoblastic leukemia (disorder)"})
            if dx.get("ph_status") == "positive":
                codings.append({"system": ICDO3, "code": "9812/3"})
            elif dx.get("ph_status") == "negative":
                codings.append({"system": NCIT, "code": "C128629"})
            if dx.get("kmt2a_rearranged") is True:
                codings.append({"system": ICDO3, "code": "9813/3"})
        else:
            ask("diagnosis.condition", {"valueString": dx["condition"]})
        if dx.get("ph_status") is not None and not (codings and dx["ph_status"] in ("positive", "negative")):
            ask("diagnosis.ph_status", {"valueString": dx["ph_status"]})
        if dx.get("kmt2a_rearranged") is not None and not (codings and dx["kmt2a_rearranged"] is True):
            ask("diagnosis.kmt2a_rearranged", {"valueBoolean": dx["kmt2a_rearranged"]})
        if dx.get("disease_status") is not None:
            ask("diagnosis.disease_status", {"valueString": dx["disease_status"]})
        if codings:
            condition = {"resourceType": "Condition", "subject": ref("patient"), "code": {"coding": codings},
                         "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                                                            "code": "confirmed"}]}}
            if dx.get("diagnosis_date"):
                condition["onsetDateTime"] = dx["diagnosis_date"]
            entries.append(("condition", condition))
        elif dx.get("diagnosis_date"):
            ask("diagnosis.diagnosis_date", {"valueDate": dx["diagnosis_date"]})
        if dx.get("cd19_positive") is not None:
            text = "positive for CD19, CD10 and TdT" if dx["cd19_positive"] else "negative for CD19; positive for CD10"
            entries.append(("cd19", self._observation(ref("patient"), "101119-6", date, {"valueString": text})))

        # Body measurements
        member = r["member"]
        for key, loinc, unit in (("weight_kg", "29463-7", "kg"), ("height_cm", "8302-2", "cm"), ("bsa_m2", "8277-6", "m2")):
            if member.get(key) is not None:
                quantity = {"value": member[key], "unit": unit, "system": UCUM, "code": unit}
                entries.append((key, self._observation(ref("patient"), loinc, date, {"valueQuantity": quantity})))
        if member.get("hypersensitivity_to_blinatumomab") is True:
            entries.append(("allergy", {
                "resourceType": "AllergyIntolerance", "patient": ref("patient"),
                "code": {"coding": [self.drug_coding("blinatumomab")]},
                "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
                                                   "code": "confirmed"}]}}))
        elif member.get("hypersensitivity_to_blinatumomab") is False:
            ask("member.hypersensitivity_to_blinatumomab", {"valueBoolean": False})

        # Medications: Blincyto (the requested service) and every other agent
        blincyto: dict[str, Any] = {"resourceType": "MedicationRequest", "status": "active", "intent": "order",
                                    "subject": ref("patient"), "authoredOn": date, "requester": ref("role"),
                                    "medicationCodeableConcept": {"coding": [self.drug_coding("blinatumomab")]}}
        dose = r.get("dose") or {}
        if dose.get("value") is not None:
            unit = DOSE_UNITS[dose["unit"]]
            blincyto["dosageInstruction"] = [{"doseAndRate": [{"doseQuantity": {
                "value": dose["value"], "unit": unit, "system": UCUM, "code": unit}}]}]
        entries.append(("blincyto", blincyto))
        agents = (r.get("regimen") or {}).get("with")
        if agents is not None:
            for i, name in enumerate(agents):
                coding = self.drug_coding(name)
                concept = {"coding": [coding]} if coding else {"text": name}
                entries.append((f"agent-{i}", {"resourceType": "MedicationRequest", "status": "active", "intent": "order",
                                               "subject": ref("patient"), "authoredOn": date,
                                               "medicationCodeableConcept": concept}))
            if not agents:
                ask("regimen.with", {"valueCoding": {"system": EMPTY_REASON, "code": "nilknown"}})

        # Questionnaire answers for what FHIR does not carry
        if r["request_type"] != "initial":
            ask("request_type", {"valueString": r["request_type"]})
        for field in QUESTIONNAIRE_FIELDS:
            value = get_value(r, field)
            if value is None:
                continue
            key = {bool: "valueBoolean", int: "valueInteger", float: "valueDecimal", str: "valueString"}[type(value)]
            ask(field, {key: value})
        previous = get_value(r, "continuation.previous_dose")
        if previous is not None:
            unit = DOSE_UNITS[previous["unit"]]
            ask("continuation.previous_dose", {"valueQuantity": {"value": previous["value"], "unit": unit,
                                                                 "system": UCUM, "code": unit}})
        if answers:
            entries.append(("questionnaire", {
                "resourceType": "QuestionnaireResponse", "status": "completed", "subject": ref("patient"),
                "authored": date, "item": [{"linkId": k, "answer": v} for k, v in answers.items()]}))

        # The Claim, first
        item: dict[str, Any] = {
            "sequence": 1,
            "extension": [{"url": PAS + "extension-requestedService", "valueReference": ref("blincyto")}],
            "productOrService": {"coding": [{"system": HCPCS, "code": "J9039"}]},
        }
        if r["request_type"] == "initial":
            item["extension"].insert(0, {"url": PAS + "extension-certificationType", "valueCodeableConcept": {
                "coding": [{"system": X12_1322, "code": "I", "display": "Initial"}]}})
        if r.get("units_billed") is not None:
            item["quantity"] = {"value": r["units_billed"]}
        claim: dict[str, Any] = {
            "resourceType": "Claim", "status": "active",
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}]},
            "use": "preauthorization", "identifier": [{"system": "urn:example:request", "value": rid}],
            "patient": ref("patient"), "created": f"{date}T09:00:00-05:00", "insurer": ref("insurer"),
            "provider": ref("role"), "priority": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/processpriority",
                                                              "code": "normal"}]},
            "insurance": [{"sequence": 1, "focal": True, "coverage": ref("coverage")}],
            "item": [item],
        }
        if dx.get("icd10cm"):
            claim["diagnosis"] = [{"sequence": 1, "diagnosisCodeableConcept": {"coding": [{"system": ICD10CM,
                                                                                           "code": dx["icd10cm"]}]}}]
        entries.insert(0, ("claim", claim))
        return {"resourceType": "Bundle", "type": "collection",
                "identifier": {"system": "urn:example:bundle", "value": f"bundle-{rid}"},
                "timestamp": f"{date}T09:00:00-05:00",
                "entry": [{"fullUrl": url(name), "resource": resource} for name, resource in entries]}

    @staticmethod
    def _observation(subject: dict, loinc: str, date: str, value: dict) -> dict:
        return {"resourceType": "Observation", "status": "final", "subject": subject,
                "code": {"coding": [{"system": LOINC, "code": loinc}]}, "effectiveDateTime": date, **value}
