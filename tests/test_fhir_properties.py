"""Properties of the FHIR mapping, and its answer to bad input.

Invariants (hypothesis): unrelated resources, extra codings, older (or later-than-the-request)
observations and reordered entries change neither the request nor the determination; unrelated
resources are only reported (fhir-unused-resource). Bad input of every class gets its error in FHIR's
terms (an OperationOutcome whose issue.expression is the FHIRPath), exit 2 at the command line with
`error: <fhirpath>: <reason>`, and the reason never repeats the value sent.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhirgen import LOINC, SCT, BundleWriter
from reasoner.fhir.errors import FhirInputError
from reasoner.fhir.evaluate import evaluate_bundle, evaluate_fhir
from reasoner.fhir.request import read_bundle
from reasoner.flow.engine import default_reasoner

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "tests" / "cases"
BASE_CASES = ["IA4bi-brand-SPRYCEL-uppercase-consolidation-approve", "IA4ciii-adult-pomp-approve",
              "IA4e-interfant-by-name-approve", "IIA-receiving-via-benefit-approve",
              "IA2-internal-medicine-no-consultation-sent-needs-info"]


def _case_request(name: str) -> dict:
    path = CASES / f"{name}.json"
    if not path.exists():  # case names drift; any case of the folder will do for a property
        path = sorted(CASES.glob(name.split("-")[0] + "*.json"))[0]
    return json.loads(path.read_text())["request"]


@pytest.fixture(scope="module")
def engine():
    return default_reasoner()


@pytest.fixture(scope="module")
def bundles(engine):
    writer = BundleWriter(engine.kb)
    return [writer.bundle(_case_request(name)) for name in BASE_CASES]


def _outcome(bundle, engine):
    fe = evaluate_bundle(json.loads(json.dumps(bundle)), engine)
    det = {k: v for k, v in fe.determination.items() if k != "sources"}
    det["warnings"] = [w for w in det["warnings"] if w["code"] != "fhir-unused-resource"]
    return fe.extraction.request, det


def _patient_ref(bundle) -> dict:
    return {"reference": next(e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")}


UNRELATED = st.sampled_from([
    {"resourceType": "Procedure", "status": "completed", "code": {"coding": [{"system": SCT, "code": "277762005"}]}},
    {"resourceType": "Observation", "status": "final", "code": {"coding": [{"system": LOINC, "code": "718-7"}]},
     "effectiveDateTime": "2020-01-04", "valueQuantity": {"value": 6.7, "unit": "g/dL"}},
    {"resourceType": "Condition", "code": {"coding": [{"system": SCT, "code": "301130004"}]}},
    {"resourceType": "Immunization", "status": "completed", "vaccineCode": {"text": "influenza"},
     "occurrenceDateTime": "2020-10-01"},
    {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"}},
])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.integers(0, len(BASE_CASES) - 1), extra=st.lists(UNRELATED, min_size=1, max_size=4),
       positions=st.lists(st.integers(1, 30), min_size=4, max_size=4))
def test_unrelated_resources_change_nothing(engine, bundles, which, extra, positions):
    bundle = copy.deepcopy(bundles[which])
    before = _outcome(bundle, engine)
    for i, resource in enumerate(extra):
        resource = dict(resource, subject=_patient_ref(bundle)) if resource["resourceType"] != "Immunization" else \
            dict(resource, patient=_patient_ref(bundle))
        bundle["entry"].insert(min(positions[i], len(bundle["entry"])),
                               {"fullUrl": f"urn:uuid:00000000-0000-4000-8000-{i:012d}", "resource": resource})
    assert _outcome(bundle, engine) == before
    found = read_bundle(json.loads(json.dumps(bundle)), engine.kb).findings
    unused = [f for f in found if f["code"] == "fhir-unused-resource"]
    assert unused and all(f"urn:uuid:00000000-0000-4000-8000-{i:012d}" in unused[0]["resources"] for i in range(len(extra)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.integers(0, len(BASE_CASES) - 1), seed=st.randoms(use_true_random=False))
def test_reordered_entries_change_nothing(engine, bundles, which, seed):
    bundle = copy.deepcopy(bundles[which])
    before = _outcome(bundle, engine)
    rest = bundle["entry"][1:]
    seed.shuffle(rest)
    bundle["entry"][1:] = rest  # the Claim stays first (PAS)
    request, det = _outcome(bundle, engine)
    assert request == before[0] or sorted(request.get("regimen", {}).get("with", [])) == \
        sorted(before[0].get("regimen", {}).get("with", []))
    assert det["decision"] == before[1]["decision"] and det["pathways"] == before[1]["pathways"]
    assert det["failed"] == before[1]["failed"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.integers(0, len(BASE_CASES) - 1),
       extra=st.fixed_dictionaries({"system": st.sampled_from(["http://example.org/local", SCT, LOINC]),
                                    "code": st.from_regex(r"X[0-9]{3,6}", fullmatch=True)}))
def test_extra_codings_change_nothing(engine, bundles, which, extra):
    bundle = copy.deepcopy(bundles[which])
    before = _outcome(bundle, engine)
    for entry in bundle["entry"]:
        resource = entry["resource"]
        for key in ("code", "medicationCodeableConcept"):
            if isinstance(resource.get(key), dict) and "coding" in resource[key]:
                resource[key]["coding"].append(dict(extra))
    assert _outcome(bundle, engine) == before


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.integers(0, len(BASE_CASES) - 1), days=st.integers(1, 3000), later=st.booleans(),
       value=st.decimals(min_value=1, max_value=300, places=1))
def test_older_and_later_observations_change_nothing(engine, bundles, which, days, later, value):
    from datetime import date, timedelta

    bundle = copy.deepcopy(bundles[which])
    before = _outcome(bundle, engine)
    request_date = date.fromisoformat(before[0]["request_date"])
    when = request_date + timedelta(days=days) if later else request_date - timedelta(days=days)
    for loinc, unit in (("29463-7", "kg"), ("8302-2", "cm")):
        bundle["entry"].append({"fullUrl": f"urn:uuid:00000000-0000-4000-9000-{loinc[:4]}00000000", "resource": {
            "resourceType": "Observation", "status": "final", "subject": _patient_ref(bundle),
            "code": {"coding": [{"system": LOINC, "code": loinc}]}, "effectiveDateTime": when.isoformat(),
            "valueQuantity": {"value": float(value), "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}}})
    if not before[0]["member"].get("weight_kg"):
        return  # then the new observation is the only one: not this property
    assert _outcome(bundle, engine)[0] == before[0]


def test_units_convert_exactly(engine, bundles):
    bundle = copy.deepcopy(bundles[0])
    for entry in bundle["entry"]:
        quantity = entry["resource"].get("valueQuantity")
        if quantity and quantity.get("code") == "kg":
            quantity.update(value=100, unit="lb", code="[lb_av]")
        elif quantity and quantity.get("code") == "cm":
            quantity.update(value=70, unit="in", code="[in_i]")
    request = read_bundle(json.loads(json.dumps(bundle)), engine.kb).request
    assert request["member"]["weight_kg"] == 45.359237 and request["member"]["height_cm"] == 177.8


def test_conflicting_weights_on_one_day_are_a_finding_not_a_pick(engine, bundles):
    bundle = copy.deepcopy(bundles[0])
    weight = next(e for e in bundle["entry"] if e["resource"].get("code", {}).get("coding", [{}])[0].get("code") == "29463-7")
    twin = copy.deepcopy(weight)
    twin["fullUrl"] = "urn:uuid:00000000-0000-4000-a000-000000000001"
    twin["resource"]["valueQuantity"]["value"] = 12.5
    bundle["entry"].append(twin)
    ex = read_bundle(json.loads(json.dumps(bundle)), engine.kb)
    assert "weight_kg" not in ex.request["member"]
    conflict = [f for f in ex.findings if f["code"] == "fhir-conflict"]
    assert conflict and "12.5" not in conflict[0]["message"] and twin["fullUrl"] in conflict[0]["resources"]


def test_an_unknown_drug_code_is_a_finding_with_its_system_and_code(engine, bundles):
    bundle = copy.deepcopy(bundles[0])
    bundle["entry"].append({"fullUrl": "urn:uuid:00000000-0000-4000-b000-000000000001", "resource": {
        "resourceType": "MedicationRequest", "status": "active", "intent": "order", "subject": _patient_ref(bundle),
        "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                  "code": "999999999"}], "text": "investigational agent"}}})
    det = evaluate_fhir(json.dumps(bundle), engine)
    unknown = [w for w in det["warnings"] if w["code"] == "fhir-unknown-code"]
    assert unknown and "rxnorm|999999999" in unknown[0]["message"]
    assert any(w["code"] == "unknown-agent" for w in det["warnings"])


# ---------------------------------------------------------------------------------------------
# Bad input: one error per class, in FHIR's terms, never echoing a value
# ---------------------------------------------------------------------------------------------

SECRET_DATE = "1999-99-99"


def _bad(bundles) -> list[tuple[str, object, str]]:
    base = bundles[0]

    def edit(fn):
        b = copy.deepcopy(base)
        fn(b)
        return b

    patient_at = next(i for i, e in enumerate(base["entry"]) if e["resource"]["resourceType"] == "Patient")
    return [
        ("not JSON", "{not json", "Bundle"),
        ("not a FHIR resource", {"id": "x"}, "Bundle.resourceType"),
        ("not a Bundle", {"resourceType": "Patient", "birthDate": "2020-01-01"}, "Bundle.resourceType"),
        ("Claim not first", edit(lambda b: b["entry"].reverse()), "Bundle.entry[0]"),
        ("reference outside the Bundle", edit(lambda b: b["entry"][0]["resource"].update(
            provider={"reference": "PractitionerRole/elsewhere"})), "Bundle.entry[0].resource.provider.reference"),
        ("no Patient", edit(lambda b: b.update(entry=[e for e in b["entry"][1:]
                                                       if e["resource"]["resourceType"] != "Patient"])),
         "Bundle.entry.resource.ofType(Patient)"),
        ("birth date not a date", edit(lambda b: b["entry"][patient_at]["resource"].update(birthDate=SECRET_DATE)),
         f"Bundle.entry[{patient_at}].resource.birthDate"),
        ("birth date partial", edit(lambda b: b["entry"][patient_at]["resource"].update(birthDate="1987")),
         f"Bundle.entry[{patient_at}].resource.birthDate"),
    ]


@pytest.fixture(scope="module")
def bad(bundles):
    return _bad(bundles)


def test_each_bad_input_class_gets_its_error(engine, bad):
    for label, obj, expression in bad:
        text = obj if isinstance(obj, str) else json.dumps(obj)
        with pytest.raises(FhirInputError) as info:
            evaluate_fhir(text, engine)
        outcome = info.value.to_outcome()
        assert outcome["resourceType"] == "OperationOutcome", label
        assert outcome["issue"][0]["expression"] == [expression], (label, outcome)
        assert SECRET_DATE not in json.dumps(outcome), label


def test_a_contract_error_is_named_by_the_fhir_element(engine, bundles):
    bundle = copy.deepcopy(bundles[0])
    at = next(i for i, e in enumerate(bundle["entry"]) if e["resource"].get("valueQuantity", {}).get("code") == "kg")
    bundle["entry"][at]["resource"]["valueQuantity"]["value"] = -7.25
    with pytest.raises(FhirInputError) as info:
        evaluate_fhir(json.dumps(bundle), engine)
    assert info.value.expression == f"Bundle.entry[{at}].resource.value"
    assert "member.weight_kg" in info.value.reason and "7.25" not in info.value.reason


def test_the_command_line_says_error_fhirpath_reason_and_exits_2(bad, tmp_path):
    for label, obj, expression in bad:
        path = tmp_path / "bundle.json"
        path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
        out = subprocess.run([sys.executable, "-m", "reasoner.cli", "check", str(path), "--input", "fhir"],
                             capture_output=True, text=True, cwd=ROOT)
        assert out.returncode == 2, (label, out.stderr)
        assert out.stderr.startswith(f"error: {expression}: "), (label, out.stderr)
        assert out.stdout == "" and SECRET_DATE not in out.stderr, label
    fhir = subprocess.run([sys.executable, "-m", "reasoner.cli", "check", str(path), "--format", "fhir"],
                          capture_output=True, text=True, cwd=ROOT)
    assert fhir.returncode == 2 and json.loads(fhir.stdout)["issue"][0]["expression"] == [bad[-1][2]]
