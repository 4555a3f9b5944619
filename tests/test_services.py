"""`blincyto serve-fhir` over HTTP: PAS, the clinician's decision, DTR (package and adaptive), CRD, errors, security.

Every test drives the running service with a real HTTP client (httpx); the server is started by a
fixture on a free loopback port (its own store directory and token file) and always stopped. Every
FHIR body the service answers is validated with fhir.resources (R4B models, docs/fhir.md). Requests
are the contract cases of tests/cases written as PAS Bundles by tests/fhirgen.py (the cases that
need an extra knowledge-base file are left to the in-process tests, the service loads the shipped one).
"""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from typer.testing import CliRunner

from services_util import FHIR_JSON, answer_for, answers, enabled, fhir_server, flat, get, held, hook_request, questions, without

CASES_DIR = Path(__file__).parent / "cases"
CASES = {p.stem: json.loads(p.read_text()) for p in sorted(CASES_DIR.glob("*.json"))}
PLAIN_CASES = {k: v for k, v in CASES.items() if not v.get("kb")}
X12_306 = "https://codesystem.x12.org/005010/306"
PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"
AUTH_EXT = PAS + "extension-authorizationNumber"
COVERAGE_EXT = "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information"
MARKER = "Zqxv-marker-81c4"  # a value that must never come back in an error nor reach the log


# ---------------------------------------------------------------------------------------------
# Fixtures and helpers
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with fhir_server(tmp_path_factory.mktemp("fhir")) as s:
        yield s


@pytest.fixture(scope="module")
def writer():
    from fhirgen import BundleWriter
    from reasoner.flow.engine import default_reasoner

    return BundleWriter(default_reasoner().kb)


def valid(resource: dict[str, Any]) -> dict[str, Any]:
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return resource


def post(client, path: str, body: Any, headers: dict | None = None):
    return client.post(path, content=json.dumps(body), headers={**FHIR_JSON, **(headers or {})})


def claim_response(bundle: dict[str, Any]) -> dict[str, Any]:
    assert bundle["resourceType"] == "Bundle"
    resource = bundle["entry"][0]["resource"]
    assert resource["resourceType"] == "ClaimResponse"
    return resource


def action(cr: dict[str, Any]) -> str:
    codes = {e["valueCodeableConcept"]["coding"][0]["code"]
             for item in cr["item"] for adj in item["adjudication"] for ra in adj["extension"]
             for e in ra["extension"] if "valueCodeableConcept" in e}
    assert len(codes) == 1, codes
    return codes.pop()


def authorization(cr: dict[str, Any]) -> str:
    return next(e["valueString"] for e in cr["extension"] if e["url"] == AUTH_EXT)


def human_reviewed(cr: dict[str, Any]) -> bool:
    reviewer = next(e for e in cr["extension"] if e["url"].endswith("extension-claimResponseReviewer"))
    return next(e["valueBoolean"] for e in reviewer["extension"] if e["url"] == "wasHumanReviewedFlag")


def fresh(case: dict[str, Any]) -> dict[str, Any]:
    """The case's request under a new id (each test its own claims)."""
    request = copy.deepcopy(case["request"])
    request["id"] = f"{request['id']}-{uuid.uuid4().hex[:8]}"
    return request


def inquiry(claim_bundle: dict[str, Any], number: str | None = None) -> dict[str, Any]:
    """A PAS inquiry Bundle for a submitted Claim: its identifier, or an authorization number."""
    claim = copy.deepcopy(claim_bundle["entry"][0]["resource"])
    patient = next(e for e in claim_bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    insurer = next(e for e in claim_bundle["entry"] if e["fullUrl"] == claim["insurer"]["reference"])
    provider = next(e for e in claim_bundle["entry"] if e["fullUrl"] == claim["provider"]["reference"])
    practitioner = next(e for e in claim_bundle["entry"] if e["fullUrl"] == provider["resource"]["practitioner"]["reference"])
    inquiry_claim = {k: claim[k] for k in ("resourceType", "status", "type", "use", "patient", "created", "insurer",
                                           "provider", "priority", "insurance", "identifier")}
    inquiry_claim["insurance"] = [{"sequence": 1, "focal": True, "coverage": claim["insurance"][0]["coverage"]}]
    coverage = next(e for e in claim_bundle["entry"] if e["fullUrl"] == claim["insurance"][0]["coverage"]["reference"])
    if number is not None:
        inquiry_claim["identifier"] = [{"system": "urn:example:inquiry", "value": uuid.uuid4().hex}]
        inquiry_claim["extension"] = [{"url": AUTH_EXT, "valueString": number}]
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"fullUrl": "urn:uuid:" + str(uuid.uuid4()), "resource": inquiry_claim},
                      patient, insurer, provider, practitioner, coverage]}


def inquire(client, claim_bundle: dict[str, Any], number: str | None = None) -> dict[str, Any]:
    r = post(client, "/Claim/$inquire", inquiry(claim_bundle, number))
    assert r.status_code == 200, r.text
    params = valid(r.json())
    return claim_response(valid(params["parameter"][0]["resource"]))


def decide(client, number: str, decision: str, reason: str | None = None, note: str | None = None):
    params = [{"name": "authorization-number", "valueString": number}, {"name": "decision", "valueCode": decision}]
    if reason:
        params.append({"name": "reason", "valueString": reason})
    if note:
        params.append({"name": "note", "valueString": note})
    return post(client, "/Claim/$clinician-decision", {"resourceType": "Parameters", "parameter": params})


# ---------------------------------------------------------------------------------------------
# CapabilityStatement
# ---------------------------------------------------------------------------------------------

def test_metadata_lists_exactly_what_is_served(server):
    with server.client() as c:
        cap = valid(c.get("/metadata").json())
        listed = {(r["type"], op["name"]) for rest in cap["rest"] for r in rest["resource"] for op in r["operation"]}
        assert listed == {("Claim", "submit"), ("Claim", "inquire"), ("Claim", "clinician-decision"),
                          ("Questionnaire", "questionnaire-package"), ("Questionnaire", "next-question")}
        assert not any(r.get("interaction") for rest in cap["rest"] for r in rest["resource"])
        for kind, name in listed:  # each listed operation is there (a bad body, not a missing route)
            assert c.post(f"/{kind}/${name}", content=b"{}", headers=FHIR_JSON).status_code not in (404, 405)
        for path in ("/Claim/$validate", "/Claim", "/Patient/1", "/Questionnaire/$populate"):
            r = c.post(path, content=b"{}", headers=FHIR_JSON)
            assert r.status_code == 404 and valid(r.json())["resourceType"] == "OperationOutcome"
        assert c.get("/Claim/$submit").status_code == 405


# ---------------------------------------------------------------------------------------------
# PAS $submit: every decision
# ---------------------------------------------------------------------------------------------

def test_every_case_through_submit(server, writer):
    expected_codes = {"approve": "A1", "needs-info": "A4", "refer": "A4", "deny": "A4"}
    seen = set()
    with server.client() as c:
        for name, case in PLAIN_CASES.items():
            bundle = writer.bundle(fresh(case))
            r = post(c, "/Claim/$submit", bundle)
            assert r.status_code == 200, (name, r.text)
            cr = claim_response(valid(r.json()))
            decision = case["expect"]["decision"]
            seen.add(decision)
            assert action(cr) == expected_codes[decision], name
            assert authorization(cr).startswith("CP.PHAR.312-")
            assert human_reviewed(cr) is False
            if decision == "approve":
                assert cr["preAuthRef"] == authorization(cr) and cr["preAuthPeriod"]["start"]
            else:
                assert "preAuthRef" not in cr
            kinds = {e["resource"]["resourceType"] for e in r.json()["entry"]}
            assert ("Questionnaire" in kinds) == (decision == "needs-info"), name
            if decision in ("refer", "deny"):
                assert "clinician review" in cr["disposition"]
    assert seen == {"approve", "needs-info", "refer", "deny"}


def test_resubmission_with_the_questionnaire_answers_the_same_authorization(server, writer):
    case = CASES["IA2-internal-medicine-no-consultation-sent-needs-info"]
    request = fresh(case)
    bundle = writer.bundle(request)
    with server.client() as c:
        first = claim_response(valid(post(c, "/Claim/$submit", bundle).json()))
        assert action(first) == "A4"
        number = authorization(first)
        questionnaire = next(e["resource"] for e in post(c, "/Claim/$submit", bundle).json()["entry"]
                             if e["resource"]["resourceType"] == "Questionnaire")
        assert [i["linkId"] for i in questionnaire["item"]] == ["prescriber.consulting_specialties"]
        assert authorization(claim_response(post(c, "/Claim/$submit", bundle).json())) == number  # same claim, same number
        more = copy.deepcopy(bundle)
        more["entry"].append({"fullUrl": "urn:uuid:" + str(uuid.uuid4()), "resource": {
            "resourceType": "QuestionnaireResponse", "status": "completed",
            "subject": bundle["entry"][0]["resource"]["patient"],
            "item": [{"linkId": "prescriber.consulting_specialties", "answer": [{"valueString": "hematology"}]}]}})
        second = claim_response(valid(post(c, "/Claim/$submit", more).json()))
        assert action(second) == "A1"
        assert second["preAuthRef"] == number and authorization(second) == number
        assert action(inquire(c, bundle)) == "A1"
        assert action(inquire(c, bundle, number)) == "A1"


# ---------------------------------------------------------------------------------------------
# Pended -> clinician -> $inquire
# ---------------------------------------------------------------------------------------------

def test_pended_then_clinician_not_certified_then_inquire(server, writer):
    bundle = writer.bundle(fresh(CASES["IA1-aml-refer-him"]))
    with server.client() as c, server.client("clinician") as doctor, server.client(None) as anonymous:
        pended = claim_response(valid(post(c, "/Claim/$submit", bundle).json()))
        assert action(pended) == "A4"
        number = authorization(pended)
        assert action(inquire(c, bundle)) == "A4"
        # who may decide
        assert decide(anonymous, number, "not-certified", "x").status_code == 401
        refused = decide(c, number, "not-certified", "Diagnosis is AML, not B-ALL.")
        assert refused.status_code == 403 and valid(refused.json())["issue"][0]["code"] == "forbidden"
        # what a decision needs
        assert decide(doctor, number, "not-certified").status_code == 422  # an adverse decision needs its reason
        assert decide(doctor, number, "deny-it", "x").status_code == 422
        assert decide(doctor, "CP.PHAR.312-000000000000", "approve").status_code == 404
        r = decide(doctor, number, "not-certified", "Diagnosis is AML, not B-ALL; refer to the off-label policy.",
                   "Discussed with the prescriber.")
        assert r.status_code == 200, r.text
        final = claim_response(valid(r.json()))
        assert action(final) == "A3" and human_reviewed(final) is True
        assert "preAuthRef" not in final and "AML" in final["disposition"]
        reviewer = next(e for e in final["extension"] if e["url"].endswith("claimResponseReviewer"))
        assert {"url": "reviewerNPI", "valueIdentifier": {"system": "http://hl7.org/fhir/sid/us-npi",
                                                          "value": "1234567893"}} in reviewer["extension"]
        inquired = inquire(c, bundle)
        assert action(inquired) == "A3" and human_reviewed(inquired) is True
        assert action(inquire(c, bundle, number)) == "A3"
        # final: neither decided again nor resubmitted as the same request
        assert decide(doctor, number, "approve").status_code == 409
        again = post(c, "/Claim/$submit", bundle)
        assert again.status_code == 422 and valid(again.json())["issue"][0]["code"] == "business-rule"


def test_pended_then_clinician_approves(server, writer):
    bundle = writer.bundle(fresh(CASES["IA2-internal-medicine-consulting-cardiology-deny"]))
    with server.client() as c, server.client("clinician") as doctor:
        pended = claim_response(post(c, "/Claim/$submit", bundle).json())
        assert action(pended) == "A4"
        number = authorization(pended)
        final = claim_response(valid(decide(doctor, number, "approve", note="Hematology consult documented by fax.").json()))
        assert action(final) == "A1" and final["preAuthRef"] == number and human_reviewed(final)
        assert final["preAuthPeriod"]["start"] == CASES["IA2-internal-medicine-consulting-cardiology-deny"]["request"]["request_date"]
        assert action(inquire(c, bundle)) == "A1"


def test_automated_decisions_never_answer_a3(server, writer):
    with server.client() as c:
        for name in ("IA1-t-all-refer-commercial", "IA2-internal-medicine-empty-consultation-deny", "IIA2-not-responding-deny"):
            cr = claim_response(post(c, "/Claim/$submit", writer.bundle(fresh(CASES[name]))).json())
            assert action(cr) == "A4", name


def test_claims_and_reviews_are_kept_in_the_store_as_prov_o(tmp_path, writer):
    import pyoxigraph as ox

    bundle = writer.bundle(fresh(CASES["IA4a-mrd-negative-refer"]))
    with fhir_server(tmp_path) as s:
        with s.client() as c, s.client("clinician") as doctor:
            number = authorization(claim_response(post(c, "/Claim/$submit", bundle).json()))
            assert decide(doctor, number, "not-certified", "MRD-negative disease in remission.", "Second reviewer agreed.").status_code == 200
        store = s.store
    with fhir_server(tmp_path, args=("--store", str(store))) as s2:  # the same store, a new process
        with s2.client() as c:
            assert action(inquire(c, bundle, number)) == "A3"
    db = ox.Store.read_only(str(store))
    rows = list(db.query("""
        PREFIX prov: <http://www.w3.org/ns/prov#> PREFIX bx: <https://w3id.org/blincyto-pa/ontology#>
        PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
        SELECT ?name ?reason ?note ?code ?decision WHERE { GRAPH ?g {
          ?review a prov:Activity , bx:ClinicianReview ; prov:wasAssociatedWith ?agent ; prov:used ?determination ;
                  prov:generated ?d .
          ?agent a prov:Agent , prov:Person ; rdfs:label ?name .
          ?d prov:wasAttributedTo ?agent ; bx:reviewReason ?reason ; rdfs:comment ?note ; bx:actionCode ?code ;
             bx:reviewDecision ?decision . }
          GRAPH ?h { ?determination a prov:Activity } }"""))
    assert [(r["name"].value, r["reason"].value, r["note"].value, r["code"].value, r["decision"].value) for r in rows] == [
        ("Dr. Test Reviewer", "MRD-negative disease in remission.", "Second reviewer agreed.", "A3", "not-certified")]
    status = list(db.query(f"""PREFIX bx: <https://w3id.org/blincyto-pa/ontology#>
        SELECT ?s WHERE {{ GRAPH ?g {{ ?c bx:authorizationNumber "{number}" ; bx:claimStatus ?s }} }}"""))
    assert [r["s"].value for r in status] == ["not-certified"]


# ---------------------------------------------------------------------------------------------
# DTR $questionnaire-package
# ---------------------------------------------------------------------------------------------

def _package(client, order: dict[str, Any]) -> tuple[dict, dict]:
    """$questionnaire-package with DTR Parameters: the coverage, the order, and the record's other resources."""
    record = held(order)
    params = {"resourceType": "Parameters", "parameter": [
        {"name": {"Coverage": "coverage", "MedicationRequest": "order"}.get(e["resource"]["resourceType"], "data"),
         "resource": e["resource"]} for e in record["entry"]]}
    r = post(client, "/Questionnaire/$questionnaire-package", params)
    assert r.status_code == 200, r.text
    out = valid(r.json())
    assert out["parameter"][0]["name"] == "packagebundle"
    package = valid(out["parameter"][0]["resource"])
    q, qr = package["entry"][0]["resource"], package["entry"][1]["resource"]
    assert q["resourceType"] == "Questionnaire" and qr["resourceType"] == "QuestionnaireResponse"
    assert qr["questionnaire"] == f"{q['url']}|{q['version']}"
    return valid(q), valid(qr)


def _send_back(writer, request: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    """A PAS Bundle of the request's FHIR data with the completed QuestionnaireResponse instead of fhirgen's."""
    pas = without(writer.bundle(request), "QuestionnaireResponse")
    answered = copy.deepcopy(response)
    answered.pop("contained", None)
    answered["status"] = "completed"
    answered["subject"] = pas["entry"][0]["resource"]["patient"]
    pas["entry"].append({"fullUrl": "urn:uuid:" + str(uuid.uuid4()), "resource": valid(answered)})
    return pas


def _order(writer, request: dict[str, Any]) -> dict[str, Any]:
    return without(writer.bundle(request), "QuestionnaireResponse", "Claim")


def _completed(q: dict, qr: dict, request: dict) -> dict:
    """The pre-filled response completed the way a provider would: every enabled question the request answers."""
    done = copy.deepcopy(qr)
    items = {i["linkId"]: i for i in flat(q["item"]) if i["type"] not in ("group", "display")}
    known = answers(done)
    flat_items = [{"linkId": link, "answer": answer_for(items[link], get(request, link))}
                  for link in items if link not in known and get(request, link) is not None]
    done["item"] = [{"linkId": link, "answer": a} for link, a in known.items()] + flat_items
    done["status"] = "completed"
    return done


@pytest.mark.parametrize("name", ["IA4ciii-adult-pomp-approve", "IA4e-interfant21-two-year-old-diagnosed-as-infant-approve",
                                  "IA4e-infant-interfant06-no-diagnosis-date-approve", "IIA3a-increase-within-28-approve",
                                  "IA4a-cr-mrd-positive-approve", "IA5a-dose-not-sent-needs-info"])
def test_questionnaire_package(server, writer, name):
    from reasoner.flow.check import request_schema

    case = CASES[name]
    request = fresh(case)
    with server.client() as c:
        q, qr = _package(c, _order(writer, request))
        schema = request_schema()
        for item in flat(q["item"]):
            if item["type"] in ("group", "display"):
                continue
            link = item["linkId"]
            sub = schema
            for part in link.split("."):
                sub = sub["properties"][part]
                sub = schema["$defs"][sub["$ref"].rsplit("/", 1)[1]] if "$ref" in sub else sub
            if "enum" in sub:  # answer options are the contract's enumeration, named by the knowledge base
                assert [o["valueCoding"]["code"] for o in item["answerOption"]] == sub["enum"]
                assert all(o["valueCoding"]["display"] for o in item["answerOption"])
        assert {"member.birth_date", "diagnosis.ph_status", "regimen.mode", "dose", "continuation.responding",
                "diagnosis.kmt2a_rearranged"} <= questions(q)
        assert "member.hypersensitivity_to_blinatumomab" not in questions(q)  # a warning's fact, not a criterion's
        weight = next(i for i in flat(q["item"]) if i["linkId"] == "member.weight_kg")
        assert weight["extension"][0]["valueCoding"]["code"] == "kg"
        # pre-filled from the order's FHIR data, server-side, marked as such
        given = answers(qr)
        assert given["member.birth_date"][0]["valueDate"] == request["member"]["birth_date"]
        assert all(a["extension"][0]["extension"][0]["valueCode"] == "auto-server" for v in given.values() for a in v)
        if request["member"].get("weight_kg") is not None:
            assert given["member.weight_kg"][0]["valueDecimal"] == request["member"]["weight_kg"]
        # enableWhen, read as R4 defines it, with the provider's answers
        done = _completed(q, qr, request)
        on = enabled(q, done)
        infant = case["expect"]["decision"] == "approve" and "IA4e" in name
        assert ("diagnosis.kmt2a_rearranged" in on) == infant, name
        continuation = request["request_type"] == "continuation"
        assert ("continuation.responding" in on) == continuation
        assert ("regimen.phase" in on) == (not continuation)
        assert "formulary_status" not in on  # no label change the policy does not reflect: never asked
        # the completed response, sent back in a PAS Bundle, fills those fields
        cr = claim_response(valid(post(c, "/Claim/$submit", _send_back(writer, request, done)).json()))
        assert action(cr) == ("A1" if case["expect"]["decision"] == "approve" else "A4"), name


def test_no_infant_questions_for_an_adult(server, writer):
    request = fresh(CASES["IA4ciii-adult-pomp-approve"])
    with server.client() as c:
        q, qr = _package(c, _order(writer, request))
        assert "request_type" not in answers(qr)  # no PAS Claim in an order: the form asks it first
        qr["item"].append({"linkId": "request_type", "answer": answer_for(
            next(i for i in q["item"] if i["linkId"] == "request_type"), "initial")})
        on = enabled(q, qr)  # the pre-filled answers (the adult's diagnosis date is in the record)
        assert "diagnosis.kmt2a_rearranged" not in on
        assert "diagnosis.diagnosis_date" in on
        baby = copy.deepcopy(qr)
        for item in flat(baby["item"]):
            if item["linkId"] == "diagnosis.diagnosis_date":
                item["answer"] = [{"valueDate": request["member"]["birth_date"]}]  # had it been diagnosed at birth
        assert "diagnosis.kmt2a_rearranged" in enabled(q, baby)


# ---------------------------------------------------------------------------------------------
# DTR $next-question (adaptive)
# ---------------------------------------------------------------------------------------------

def _adaptive(client, writer, request: dict[str, Any]) -> tuple[dict, list[str]]:
    _, qr = _package(client, _order(writer, request))
    response = {k: v for k, v in qr.items() if k != "questionnaire"}
    asked: list[str] = []
    for _ in range(40):
        r = post(client, "/Questionnaire/$next-question",
                 {"resourceType": "Parameters", "parameter": [{"name": "questionnaire-response", "resource": response}]})
        assert r.status_code == 200, r.text
        response = valid(valid(r.json())["parameter"][0]["resource"])
        if response["status"] == "completed":
            return response, asked
        item = response["contained"][0]["item"][-1]
        assert item["linkId"] not in asked, "a question asked twice"
        asked.append(item["linkId"])
        value = get(request, item["linkId"])
        response["item"] = [i for i in response.get("item", []) if i["linkId"] != item["linkId"]] + [
            {"linkId": item["linkId"], **({"answer": answer_for(item, value)} if value is not None else {})}]
    raise AssertionError("the adaptive form did not finish")


@pytest.mark.parametrize("name", ["IA4a-cr-mrd-positive-approve", "IA2-internal-medicine-no-consultation-sent-needs-info",
                                  "IA1-aml-refer-him", "IA2-internal-medicine-empty-consultation-deny",
                                  "IA4e-kmt2a-missing-needs-info", "IIA1-days-29-deny", "IIA3a-increase-above-28-needs-info"])
def test_adaptive_form_reaches_the_complete_requests_decision(server, writer, name):
    case = CASES[name]
    request = fresh(case)
    with server.client() as c:
        q, qr = _package(c, _order(writer, request))
        final, asked = _adaptive(c, writer, request)
        full_blank = enabled(q, _completed(q, qr, request)) - set(answers(qr))
        assert len(asked) <= len(full_blank), (asked, full_blank)
        cr = claim_response(post(c, "/Claim/$submit", _send_back(writer, request, final)).json())
        assert action(cr) == ("A1" if case["expect"]["decision"] == "approve" else "A4")


def test_adaptive_decision_equals_complete_over_cases_and_generated():
    """In-process, every case (with its extra knowledge base) and generated requests: same decision, fewer questions."""
    from adaptive_run import run_all

    report = run_all(generated=60, full_every=8)
    assert report["mismatches"] == [], report["mismatches"][:5]
    assert report["asked"] < report["full"], report


# ---------------------------------------------------------------------------------------------
# CRD
# ---------------------------------------------------------------------------------------------

def _coverage_info(resource: dict[str, Any]) -> dict[str, Any]:
    ext = next(e for e in resource["extension"] if e["url"] == COVERAGE_EXT)
    return {e["url"]: next(v for k, v in e.items() if k.startswith("value")) for e in ext["extension"]}


def test_crd_discovery(server):
    with server.client() as c:
        services = {s["hook"]: s for s in c.get("/cds-services").json()["services"]}
    assert set(services) == {"order-sign", "order-select"}
    for s in services.values():
        assert {"patient", "coverage", "practitioner"} <= set(s["prefetch"])
        assert s["prefetch"]["patient"] == "Patient/{{context.patientId}}"
        assert s["prefetch"]["coverage"].startswith("Coverage?patient={{context.patientId}}")
        assert "29463-7" in s["prefetch"]["observations"]  # the mapping's own observation codes


def test_crd_order_sign(server, writer):
    with server.client() as c:
        sign = {s["hook"]: s["id"] for s in c.get("/cds-services").json()["services"]}
        # without the earlier documentation the order alone does not approve (phase, mode, MRD are not coded)
        approve = fresh(CASES["IA4a-cr-mrd-positive-approve"])
        bare = c.post(f"/cds-services/{sign['order-sign']}", json=hook_request(writer, approve, documented=False)).json()
        assert _coverage_info(bare["systemActions"][0]["resource"])["pa-needed"] == "auth-needed"
        # data that already approves: satisfied, with an authorization number $inquire knows
        out = c.post(f"/cds-services/{sign['order-sign']}", json=hook_request(writer, approve)).json()
        assert out["cards"] == [] and len(out["systemActions"]) == 1
        act = out["systemActions"][0]
        assert act["type"] == "update"
        info = _coverage_info(valid(act["resource"]))
        assert info["covered"] == "covered" and info["pa-needed"] == "satisfied"
        assert info["satisfied-pa-id"].startswith("CP.PHAR.312-") and "doc-needed" not in info
        assert info["coverage"]["reference"].startswith("Coverage/")
        bundle = writer.bundle(approve)
        assert action(inquire(c, bundle, info["satisfied-pa-id"])) == "A1"
        again = c.post(f"/cds-services/{sign['order-sign']}", json=hook_request(writer, approve)).json()
        assert _coverage_info(again["systemActions"][0]["resource"])["satisfied-pa-id"] == info["satisfied-pa-id"]
        # something missing: auth-needed, clinical documentation, the questionnaire
        missing = fresh(CASES["IA4e-kmt2a-missing-needs-info"])
        info = _coverage_info(c.post(f"/cds-services/{sign['order-sign']}", json=hook_request(writer, missing, documented=False)).json()
                              ["systemActions"][0]["resource"])
        assert info["pa-needed"] == "auth-needed" and info["doc-needed"] == "clinical" and info["doc-purpose"] == "withpa"
        assert info["questionnaire"] == "https://w3id.org/blincyto-pa/Questionnaire/CP.PHAR.312"
        assert "satisfied-pa-id" not in info
        # a use not covered here: a clinician decides, so prior authorization is needed
        refer = fresh(CASES["IA1-t-all-refer-commercial"])
        info = _coverage_info(c.post(f"/cds-services/{sign['order-sign']}", json=hook_request(writer, refer)).json()
                              ["systemActions"][0]["resource"])
        assert info["pa-needed"] == "auth-needed" and "doc-needed" not in info
        # order-select: the same answer, never a request for documentation
        info = _coverage_info(c.post(f"/cds-services/{sign['order-select']}", json=hook_request(writer, missing, "order-select", False))
                              .json()["systemActions"][0]["resource"])
        assert info["pa-needed"] == "auth-needed" and "doc-needed" not in info and "questionnaire" not in info
    # the access log names a hook call by its route's template, never the path as sent
    log = server.log.read_text()
    assert "POST /cds-services/{service_id} 200" in log and f"/cds-services/{sign['order-sign']} " not in log


def test_crd_unrelated_orders_get_no_action(server, writer):
    request = fresh(CASES["IA4bi-imatinib-induction-approve"])
    body = hook_request(writer, request)
    orders = body["context"]["draftOrders"]["entry"]
    body["context"]["draftOrders"]["entry"] = [o for o in orders if "imatinib" in json.dumps(o).lower()
                                               or "dasatinib" in json.dumps(o).lower()] or orders[1:]
    with server.client() as c:
        out = c.post("/cds-services/blincyto-crd-order-sign", json=body)
        assert out.status_code == 200 and out.json() == {"cards": [], "systemActions": []}


def test_crd_errors(server, writer):
    request = fresh(CASES["IA4a-cr-mrd-positive-approve"])
    with server.client() as c:
        body = hook_request(writer, request)
        body["prefetch"]["coverage"] = {"resourceType": "Bundle", "type": "searchset", "entry": []}
        r = c.post("/cds-services/blincyto-crd-order-sign", json=body)
        assert r.status_code == 400 and valid(r.json())["resourceType"] == "OperationOutcome"
        wrong = hook_request(writer, request, "order-select")
        assert c.post("/cds-services/blincyto-crd-order-sign", json=wrong).status_code == 400
        assert c.post("/cds-services/no-such-service", json=hook_request(writer, request)).status_code == 404


# ---------------------------------------------------------------------------------------------
# Errors and security
# ---------------------------------------------------------------------------------------------

def _marked(writer) -> dict[str, Any]:
    bundle = writer.bundle(fresh(CASES["IA4a-cr-mrd-positive-approve"]))
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    patient["name"] = [{"family": MARKER}]
    return bundle


def test_error_classes(server, writer):
    with server.client() as c:
        cases: list[tuple[int, bytes | dict, dict]] = []
        bad_birth = _marked(writer)
        next(e["resource"] for e in bad_birth["entry"] if e["resource"]["resourceType"] == "Patient")["birthDate"] = MARKER
        not_pa = _marked(writer)
        not_pa["entry"][0]["resource"]["use"] = "claim"
        dangling = _marked(writer)
        dangling["entry"][0]["resource"]["provider"] = {"reference": "urn:uuid:" + str(uuid.uuid4())}
        no_patient = _marked(writer)
        no_patient["entry"] = [e for e in no_patient["entry"] if e["resource"]["resourceType"] != "Patient"]
        cases = [
            (400, b'{"resourceType": "Bundle", "entry": [' + MARKER.encode(), {}),  # not JSON
            (400, {"resourceType": "Patient", "name": [{"family": MARKER}]}, {}),  # not a Bundle
            (400, dict(_marked(writer), type="message"), {}),  # not a request's Bundle type
            (422, not_pa, {}),  # the profile rejects it
            (422, dangling, {}),
            (422, bad_birth, {}),
            (422, no_patient, {}),
        ]
        for status, body, _ in cases:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            r = c.post("/Claim/$submit", content=data, headers=FHIR_JSON)
            assert r.status_code == status, (status, r.text)
            outcome = valid(r.json())
            assert outcome["resourceType"] == "OperationOutcome"
            assert MARKER not in r.text and "Traceback" not in r.text
        unknown = post(c, "/Claim/$inquire", inquiry(writer.bundle(fresh(CASES["IA4a-cr-mrd-positive-approve"]))))
        assert unknown.status_code == 404 and valid(unknown.json())["issue"][0]["code"] == "not-found"
        r = c.post("/Claim/$submit", content=json.dumps(_marked(writer)), headers={"Content-Type": "text/plain"})
        assert r.status_code == 415 and valid(r.json())
    # a body over the limit (4 MiB) is refused before a byte of it is read: announced, then sent in pieces
    port = int(server.url.rsplit(":", 1)[1])
    head = (f"POST /Claim/$submit HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {server.client_token}\r\n"
            "Content-Type: application/fhir+json\r\n").encode()
    for framing in (b"Content-Length: 5000000\r\n\r\n",
                    b"Transfer-Encoding: chunked\r\n\r\n" + b"".join(b"%x\r\n" % 65536 + b"x" * 65536 + b"\r\n"
                                                                      for _ in range(70)) + b"0\r\n\r\n"):
        answer = _raw(port, head + framing)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:100]
        valid(json.loads(answer.partition(b"\r\n\r\n")[2]))
    assert MARKER not in server.log.read_text()


def _raw(port: int, data: bytes) -> bytes:
    """Send bytes as they are; read the answer until the server closes (what it sends before it stops reading)."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        try:
            sock.sendall(data)
        except OSError:
            pass  # the server stopped reading: its answer is already on the way
        out = b""
        try:
            while chunk := sock.recv(65536):
                out += chunk
        except OSError:
            pass
    return out


def test_every_endpoint_needs_the_token(server, writer):
    body = json.dumps(writer.bundle(fresh(CASES["IA4a-cr-mrd-positive-approve"])))
    with server.client(None) as anonymous, server.client("not-a-token") as wrong:
        for client in (anonymous, wrong):
            for method, path in (("GET", "/metadata"), ("GET", "/cds-services"), ("POST", "/Claim/$submit"),
                                 ("POST", "/Claim/$inquire"), ("POST", "/Questionnaire/$questionnaire-package"),
                                 ("POST", "/Questionnaire/$next-question"), ("POST", "/cds-services/blincyto-crd-order-sign"),
                                 ("POST", "/Claim/$clinician-decision")):
                r = client.request(method, path, content=body if method == "POST" else None, headers=FHIR_JSON)
                assert r.status_code == 401, (method, path, r.status_code)
                assert r.headers["www-authenticate"].startswith("Bearer") and valid(r.json())["issue"][0]["code"] == "login"


def test_host_and_origin_refusals_are_operation_outcomes(server):
    with server.client() as c:
        r = c.get("/metadata", headers={"Host": "evil.example"})
        assert r.status_code == 421 and valid(r.json())["resourceType"] == "OperationOutcome"
        r = c.post("/Claim/$submit", content=b"{}", headers={**FHIR_JSON, "Origin": "https://evil.example"})
        assert r.status_code == 403 and valid(r.json())["resourceType"] == "OperationOutcome"


def test_off_loopback_refuses_to_start_without_a_token(tmp_path, monkeypatch):
    from reasoner.cli import app

    monkeypatch.delenv("BLINCYTO_FHIR_TOKEN", raising=False)
    result = CliRunner().invoke(app, ["serve-fhir", "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 1
    assert "not loopback" in result.output and "token" in result.output


def test_token_file_must_be_private(tmp_path):
    from reasoner.cli import app
    from services_util import write_tokens

    path = tmp_path / "tokens.json"
    write_tokens(path, "a", "b")
    path.chmod(0o644)
    result = CliRunner().invoke(app, ["serve-fhir", "--tokens", str(path), "--port", "0"])
    assert result.exit_code == 1 and "chmod 600" in result.output


def test_the_documented_examples_answer_as_documented(server):
    examples = Path(__file__).parent.parent / "examples"

    def body(name: str) -> bytes:
        return (examples / "services" / name).read_bytes()

    with server.client() as c:
        sign = c.post("/cds-services/blincyto-crd-order-sign", content=body("order-sign-approve.json"),
                      headers={"Content-Type": "application/json"}).json()
        assert _coverage_info(sign["systemActions"][0]["resource"])["pa-needed"] == "satisfied"
        sign = c.post("/cds-services/blincyto-crd-order-sign", content=body("order-sign-needs-info.json"),
                      headers={"Content-Type": "application/json"}).json()
        assert _coverage_info(sign["systemActions"][0]["resource"])["doc-needed"] == "clinical"
        package = valid(c.post("/Questionnaire/$questionnaire-package", content=body("questionnaire-package.json"),
                               headers=FHIR_JSON).json())
        assert package["parameter"][0]["resource"]["entry"][0]["resource"]["resourceType"] == "Questionnaire"
        nxt = valid(c.post("/Questionnaire/$next-question", content=body("next-question.json"), headers=FHIR_JSON).json())
        assert nxt["parameter"][0]["resource"]["contained"][0]["item"][-1]["linkId"] == "dose"
        pended = c.post("/Claim/$submit", content=(examples / "fhir" / "refer-initial-t-all-him.bundle.json").read_bytes(),
                        headers=FHIR_JSON)
        if pended.status_code == 200:  # (a store a clinician already decided it in answers 422)
            assert action(claim_response(pended.json())) == "A4"
        inquired = valid(c.post("/Claim/$inquire", content=body("inquire-refer-t-all.json"), headers=FHIR_JSON).json())
        assert action(claim_response(inquired["parameter"][0]["resource"])) in ("A4", "A3")


def test_claims_in_a_remote_sparql_store(tmp_path, writer):
    """--store URL: a real Oxigraph server (the test extra) holds the claims; a new service process reads them."""
    import subprocess
    import time

    import httpx

    from services_util import free_port
    from test_endpoint import oxigraph_binary

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    oxigraph = subprocess.Popen([oxigraph_binary(), "serve", "--location", str(tmp_path / "remote"), "--bind",
                                 f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/query", params={"query": "ASK {}"}, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the Oxigraph server did not start"
            time.sleep(0.2)
        bundle = writer.bundle(fresh(CASES["IA4bi-tki-in-maintenance-refer"]))
        with fhir_server(tmp_path, store=False, args=("--store", base + "/update")) as s:
            with s.client() as c, s.client("clinician") as doctor:
                number = authorization(claim_response(post(c, "/Claim/$submit", bundle).json()))
                assert action(inquire(c, bundle)) == "A4"
                assert decide(doctor, number, "not-certified", "A TKI in maintenance is not a covered use.").status_code == 200
        with fhir_server(tmp_path, store=False, args=("--store", base + "/update")) as s:
            with s.client() as c:
                assert action(inquire(c, bundle, number)) == "A3"
                assert action(inquire(c, bundle)) == "A3"
    finally:
        oxigraph.terminate()
        oxigraph.wait(timeout=30)


def test_crd_recognises_the_drug_through_a_medication_reference(server, writer):
    body = hook_request(writer, fresh(CASES["IA4a-cr-mrd-positive-approve"]))
    entries = body["context"]["draftOrders"]["entry"]
    order = next(e["resource"] for e in entries if "Blincyto" in json.dumps(e) or "blinatumomab" in json.dumps(e).lower())
    medication = {"resourceType": "Medication", "id": "med-blincyto", "code": order.pop("medicationCodeableConcept")}
    order["medicationReference"] = {"reference": "Medication/med-blincyto"}
    entries.append({"resource": medication})
    with server.client() as c:
        out = c.post("/cds-services/blincyto-crd-order-sign", json=body).json()
    assert len(out["systemActions"]) == 1
    assert _coverage_info(valid(out["systemActions"][0]["resource"]))["pa-needed"] == "satisfied"


def test_worker_processes_answer_the_same(tmp_path, writer):
    """--workers 2: deciding, CRD and DTR in worker processes; the store stays the service's own; the same
    Claim sent twice at once gets one authorization number."""
    from concurrent.futures import ThreadPoolExecutor

    names = ["IA4a-cr-mrd-positive-approve", "IA1-aml-refer-him", "IA2-internal-medicine-no-consultation-sent-needs-info",
             "IIA2-not-responding-deny", "IA4e-interfant-by-name-approve", "IA5a-dose-28_1-needs-info"]
    with fhir_server(tmp_path, args=("--workers", "2")) as s:
        bundles = {n: writer.bundle(fresh(CASES[n])) for n in names}

        def submit(name: str) -> tuple[str, dict]:
            with s.client() as c:
                return name, claim_response(valid(post(c, "/Claim/$submit", bundles[name]).json()))

        with ThreadPoolExecutor(6) as pool:
            answers_ = dict(pool.map(submit, names))
        for name, cr in answers_.items():
            assert action(cr) == ("A1" if CASES[name]["expect"]["decision"] == "approve" else "A4"), name
        twice = writer.bundle(fresh(CASES["IA4a-mrd-negative-refer"]))
        bundles["twice"] = twice
        with ThreadPoolExecutor(2) as pool:
            numbers = {authorization(cr) for _, cr in pool.map(submit, ["twice", "twice"])}
        assert len(numbers) == 1
        with s.client() as c:
            assert action(inquire(c, twice)) == "A4"
            out = c.post("/cds-services/blincyto-crd-order-sign",
                         json=hook_request(writer, fresh(CASES["IA4a-cr-mrd-positive-approve"]))).json()
            number = _coverage_info(out["systemActions"][0]["resource"])["satisfied-pa-id"]
            assert action(inquire(c, bundles["IA4a-cr-mrd-positive-approve"], number)) == "A1"
            q, qr = _package(c, _order(writer, fresh(CASES["IA4a-cr-mrd-positive-approve"])))
            assert "diagnosis.mrd.status" in questions(q)
            final, asked = _adaptive(c, writer, fresh(CASES["IA2-internal-medicine-no-consultation-sent-needs-info"]))
            assert asked and final["status"] == "completed"
            bad = c.post("/Claim/$submit", content=b'{"resourceType": "Patient"}', headers=FHIR_JSON)
            assert bad.status_code == 400 and valid(bad.json())["resourceType"] == "OperationOutcome"
            refused = _marked(writer)  # refused by the mapping, in a worker process
            next(e["resource"] for e in refused["entry"] if e["resource"]["resourceType"] == "Patient")["birthDate"] = MARKER
            r = post(c, "/Claim/$submit", refused)
            assert r.status_code == 422 and valid(r.json())["issue"][0]["expression"] and MARKER not in r.text
    assert "Traceback" not in s.log.read_text() and MARKER not in s.log.read_text()
