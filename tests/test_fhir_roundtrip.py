"""Round trip: every contract request, written as a PAS Bundle the way an EHR sends it (tests/fhirgen.py),
goes Bundle -> request -> determination and gets the same determination as the contract request.

The Bundle travels as JSON text (numbers become exact decimals, as from a real sender); every Bundle
the tool writes is valid FHIR (fhir.resources' R4B models, see docs/fhir.md for why R4B), and the
mapping finds nothing to warn about in it (every resource plays its part, no conflict).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle as R4BBundle

from fhirgen import BundleWriter
from requestgen import requests
from reasoner.fhir.evaluate import evaluate_fhir
from reasoner.flow.engine import Reasoner, default_reasoner

TESTS = Path(__file__).resolve().parent
CASES = sorted((TESTS / "cases").glob("*.json"))
GENERATED = 300


def fhir_free(det: dict) -> dict:
    """The determination without what only a FHIR input adds (sources; fhir-* findings)."""
    out = {k: v for k, v in det.items() if k != "sources"}
    out["warnings"] = [w for w in det.get("warnings") or [] if not str(w.get("code", "")).startswith("fhir-")]
    return out


_REASONERS: dict[tuple[str, ...], Reasoner] = {}


def reasoner_for(case: dict) -> Reasoner:
    extra = tuple(str(TESTS / p) for p in case.get("kb") or ())
    if not extra:
        return default_reasoner()
    if extra not in _REASONERS:
        _REASONERS[extra] = Reasoner(extra_kb=extra)
    return _REASONERS[extra]


def round_trip(request: dict, engine: Reasoner) -> tuple[dict, dict, dict]:
    bundle = BundleWriter(engine.kb).bundle(request)
    R4BBundle.model_validate(bundle)
    via_fhir = evaluate_fhir(json.dumps(bundle), engine)
    return engine.evaluate(request), via_fhir, bundle


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_every_case_round_trips(path: Path):
    case = json.loads(path.read_text(encoding="utf-8"))
    engine = reasoner_for(case)
    direct, via_fhir, _bundle = round_trip(case["request"], engine)
    findings = [w for w in via_fhir["warnings"] if w["code"].startswith("fhir-")]
    assert not findings, findings
    assert fhir_free(via_fhir) == direct
    assert via_fhir["sources"]["member.birth_date"][0]["element"] == "Patient.birthDate"


def test_generated_requests_round_trip():
    engine = default_reasoner()
    decisions = set()
    for request in requests(GENERATED, seed=14):
        direct, via_fhir, _ = round_trip(request, engine)
        assert fhir_free(via_fhir) == direct, request["id"]
        decisions.add(direct["decision"])
    assert decisions == {"approve", "needs-info", "refer", "deny"}


def test_every_field_sent_has_a_source():
    engine = default_reasoner()
    case = json.loads((TESTS / "cases" / "IA4bi-brand-SPRYCEL-uppercase-consolidation-approve.json").read_text())
    _direct, via_fhir, bundle = round_trip(case["request"], engine)
    urls = {e["fullUrl"] for e in bundle["entry"]}
    for name, items in via_fhir["sources"].items():
        assert items, name
        for item in items:
            assert item["resource"] in urls and item["expression"].startswith("Bundle.entry["), (name, item)
    # the brand name was sent as its RxNorm brand code, and came back as the KB's drug
    assert via_fhir["sources"]["regimen.with"][0]["element"] == "MedicationRequest.medication"
    assert "dasatinib" in via_fhir["derived"]["agents"]


def test_an_unmapped_icd10cm_code_is_carried_not_dropped():
    """A code the tables do not know reaches the reasoner as sent (unknown-condition, I.A.1 missing);
    beside a code they know (a comorbidity), it gives way without a conflict."""
    engine = default_reasoner()
    case = json.loads((Path(__file__).parent / "cases" / "IA1-unmapped-icd10cm-code-missing-needs-info.json").read_text())
    _direct, via_fhir, bundle = round_trip(case["request"], engine)
    assert via_fhir["sources"]["diagnosis.icd10cm"][0]["element"].startswith("Claim.diagnosis")
    assert [w["section"] for w in via_fhir["warnings"] if w["code"] == "unknown-condition"] == \
        ["diagnosis.condition", "diagnosis.icd10cm"]

    request = next(r for r in requests(40, seed=3) if r["diagnosis"].get("icd10cm") == "C91.00"
                   or r["diagnosis"]["condition"] == "B-ALL")
    bundle = BundleWriter(engine.kb).bundle(request)
    comorbidity = {"resourceType": "Condition", "id": "comorbidity",
                   "subject": next(e["resource"]["subject"] for e in bundle["entry"]
                                   if e["resource"]["resourceType"] == "Condition"),
                   "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                                                      "code": "confirmed"}]},
                   "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "C95.90"}]}}
    bundle["entry"].append({"fullUrl": "urn:uuid:0d1c2e3f-0000-4000-8000-000000000001", "resource": comorbidity})
    with_it = evaluate_fhir(json.dumps(bundle), engine)
    assert with_it["decision"] == engine.evaluate(request)["decision"]
    assert not [w for w in with_it["warnings"] if w["code"] == "fhir-conflict"]
