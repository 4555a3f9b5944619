"""Invalid input (contract v1, "Invalid input"): every case names the field by its dotted path."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from reasoner.flow.check import InvalidRequest, check_request, parse_request_text, request_schema

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
BASE_FILE = EXAMPLES / "approve-initial-ph-negative-consolidation-commercial.json"
CONTINUATION_FILE = EXAMPLES / "approve-continuation-medicaid.json"


def base() -> dict:
    return json.loads(BASE_FILE.read_text())


def _set(obj: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        obj = obj.setdefault(part, {})
    obj[last] = value


def _drop(obj: dict, dotted: str) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        obj = obj[part]
    del obj[last]


DROP = object()

# (dotted field to change, new value or DROP, field the error must name)
CASES = [
    # required fields
    ("id", DROP, "id"),
    ("request_type", DROP, "request_type"),
    ("request_date", DROP, "request_date"),
    ("line_of_business", DROP, "line_of_business"),
    ("member", DROP, "member"),
    ("member.birth_date", DROP, "member.birth_date"),
    ("prescriber", DROP, "prescriber"),
    ("prescriber.specialty", DROP, "prescriber.specialty"),
    ("diagnosis", DROP, "diagnosis"),
    ("diagnosis.condition", DROP, "diagnosis.condition"),
    # wrong type / empty strings
    ("id", "", "id"),
    ("id", 42, "id"),
    ("id", None, "id"),
    ("policy", 312, "policy"),
    ("policy", "", "policy"),
    ("member", "1988-04-12", "member"),
    ("prescriber", ["hematology"], "prescriber"),
    ("diagnosis", None, "diagnosis"),
    ("prescriber.specialty", "", "prescriber.specialty"),
    ("prescriber.specialty", 7, "prescriber.specialty"),
    ("prescriber.consulting_specialties", "hematology", "prescriber.consulting_specialties"),
    ("prescriber.consulting_specialties", ["oncology", ""], "prescriber.consulting_specialties[1]"),
    ("prescriber.consulting_specialties", [3], "prescriber.consulting_specialties[0]"),
    ("diagnosis.condition", "", "diagnosis.condition"),
    ("diagnosis.icd10cm", "leukemia", "diagnosis.icd10cm"),
    ("diagnosis.cd19_positive", "yes", "diagnosis.cd19_positive"),
    ("diagnosis.kmt2a_rearranged", 1, "diagnosis.kmt2a_rearranged"),
    ("member.hypersensitivity_to_blinatumomab", "no", "member.hypersensitivity_to_blinatumomab"),
    ("member.weight_kg", "72", "member.weight_kg"),
    ("member.weight_kg", True, "member.weight_kg"),
    ("member.weight_kg", None, "member.weight_kg"),
    ("regimen", "consolidation", "regimen"),
    ("regimen.with", "POMP", "regimen.with"),
    ("regimen.with", ["POMP", ""], "regimen.with[1]"),
    ("regimen.with", ["imatinib", None, "POMP"], "regimen.with[1]"),
    ("dose", 28, "dose"),
    ("dose.value", "28", "dose.value"),
    ("dose.supporting_evidence", "", "dose.supporting_evidence"),
    ("continuation", True, "continuation"),
    # unknown enum values
    ("request_type", "renewal", "request_type"),
    ("request_type", "Initial", "request_type"),
    ("line_of_business", "medicare", "line_of_business"),
    ("line_of_business", "him", "line_of_business"),
    ("formulary_status", "preferred", "formulary_status"),
    ("formulary_status", None, "formulary_status"),
    ("diagnosis.ph_status", "maybe", "diagnosis.ph_status"),
    ("diagnosis.disease_status", "remission", "diagnosis.disease_status"),
    ("diagnosis.mrd", "positive", "diagnosis.mrd"),
    ("diagnosis.mrd.status", "high", "diagnosis.mrd.status"),
    ("regimen.phase", "salvage", "regimen.phase"),
    ("regimen.mode", "solo", "regimen.mode"),
    ("dose.unit", "mg/day", "dose.unit"),
    ("dose.unit", "mcg/kg/day", "dose.unit"),
    # impossible or malformed dates
    ("request_date", "2026-02-30", "request_date"),
    ("request_date", "2026-13-01", "request_date"),
    ("request_date", "11/01/2026", "request_date"),
    ("request_date", "20261101", "request_date"),
    ("request_date", "2026-11-01T10:00:00", "request_date"),
    ("request_date", 20261101, "request_date"),
    ("member.birth_date", "1988-02-30", "member.birth_date"),
    ("member.birth_date", "1987-02-29", "member.birth_date"),
    ("diagnosis.diagnosis_date", "2026-04-31", "diagnosis.diagnosis_date"),
    # out of range
    ("member.weight_kg", -72, "member.weight_kg"),
    ("member.weight_kg", 0, "member.weight_kg"),
    ("member.weight_kg", float("nan"), "member.weight_kg"),
    ("member.weight_kg", float("inf"), "member.weight_kg"),
    ("member.height_cm", 0, "member.height_cm"),
    ("member.height_cm", -170.5, "member.height_cm"),
    ("member.bsa_m2", 0, "member.bsa_m2"),
    ("member.bsa_m2", -1.2, "member.bsa_m2"),
    ("diagnosis.mrd.level_percent", -0.1, "diagnosis.mrd.level_percent"),
    ("diagnosis.mrd.level_percent", 100.5, "diagnosis.mrd.level_percent"),
    ("dose.value", -1, "dose.value"),
    ("regimen.cycle", 0, "regimen.cycle"),
    ("regimen.cycle", 1.5, "regimen.cycle"),
    ("regimen.day", 0, "regimen.day"),
    ("units_billed", -1, "units_billed"),
    ("units_billed", 2.5, "units_billed"),
    # incomplete dose objects
    ("dose", {"value": 28}, "dose.unit"),
    ("dose", {"unit": "mcg/day"}, "dose.value"),
    # fields that are not in the contract, and JSON-LD keywords
    ("ssn", "000-00-0000", "ssn"),
    ("member.name", "Jane Doe", "member.name"),
    ("diagnosis.mrd.method", "flow", "diagnosis.mrd.method"),
    ("regimen.drugs", ["POMP"], "regimen.drugs"),
    ("@context", {"bx": "https://w3id.org/blincyto-pa/ontology#"}, "@context"),
    ("@id", "urn:x", "@id"),
    ("member.@type", "Person", "member.@type"),
    # cross-field rules: the later fact is named
    ("member.birth_date", "2026-11-02", "member.birth_date"),
    ("member.birth_date", "2030-01-01", "member.birth_date"),
    ("diagnosis.diagnosis_date", "1980-01-01", "diagnosis.diagnosis_date"),
    ("diagnosis.diagnosis_date", "2026-11-02", "diagnosis.diagnosis_date"),
]

CONTINUATION_CASES = [
    ("continuation.receiving_via_benefit", "yes", "continuation.receiving_via_benefit"),
    ("continuation.days_on_therapy", -1, "continuation.days_on_therapy"),
    ("continuation.days_on_therapy", 30.5, "continuation.days_on_therapy"),
    ("continuation.days_on_therapy", "30", "continuation.days_on_therapy"),
    ("continuation.indication_covered", 0, "continuation.indication_covered"),
    ("continuation.responding", None, "continuation.responding"),
    ("continuation.previous_dose", 28, "continuation.previous_dose"),
    ("continuation.previous_dose", {"value": 28}, "continuation.previous_dose.unit"),
    ("continuation.previous_dose", {"unit": "mcg/day"}, "continuation.previous_dose.value"),
    ("continuation.previous_dose", {"value": 9, "unit": "mcg"}, "continuation.previous_dose.unit"),
    ("continuation.previous_dose", {"value": -9, "unit": "mcg/day"}, "continuation.previous_dose.value"),
    ("continuation.previous_dose", {"value": 9, "unit": "mcg/day", "date": "2026-01-01"},
     "continuation.previous_dose.date"),
    ("continuation.weeks", 4, "continuation.weeks"),
]


def _mutated(request: dict, dotted: str, value) -> dict:
    request = copy.deepcopy(request)
    if value is DROP:
        _drop(request, dotted)
    else:
        _set(request, dotted, value)
    return request


def _ids(cases):
    return [f"{field}={'<absent>' if value is DROP else json.dumps(value, default=str)}" for field, value, _ in cases]


@pytest.mark.parametrize(("field", "value", "expected"), CASES, ids=_ids(CASES))
def test_invalid_initial_request_names_the_field(field, value, expected):
    with pytest.raises(InvalidRequest) as info:
        check_request(_mutated(base(), field, value))
    assert info.value.field == expected
    assert str(info.value) == f"{expected}: {info.value.reason}"
    assert info.value.reason


@pytest.mark.parametrize(("field", "value", "expected"), CONTINUATION_CASES, ids=_ids(CONTINUATION_CASES))
def test_invalid_continuation_request_names_the_field(field, value, expected):
    request = json.loads(CONTINUATION_FILE.read_text())
    with pytest.raises(InvalidRequest) as info:
        check_request(_mutated(request, field, value))
    assert info.value.field == expected


@pytest.mark.parametrize(
    "text",
    ["", "{", "{\"id\": \"x\",}", "not json", "{'id': 'x'}", "{\"weight\": NaN}", "{\"a\": 1, \"a\": 2}",
     "{\"id\": \"x\"} trailing"],
    ids=["empty", "unclosed", "trailing-comma", "bare-words", "single-quotes", "nan", "duplicate-key", "trailing-text"],
)
def test_text_that_is_not_json(text):
    with pytest.raises(InvalidRequest) as info:
        parse_request_text(text)
    assert info.value.field == "(request)"
    assert info.value.reason.startswith("not valid")


def test_json_error_gives_line_and_column():
    with pytest.raises(InvalidRequest) as info:
        parse_request_text('{\n  "id": "x",\n  "request_type": }\n')
    assert info.value.reason.startswith("not valid JSON: line 3 column")


def test_bytes_that_are_not_utf8():
    with pytest.raises(InvalidRequest) as info:
        parse_request_text(b"\xff\xfe{}")
    assert info.value.field == "(request)"


@pytest.mark.parametrize("value", [[], [base()], "request", 3, None, True], ids=repr)
def test_top_level_must_be_an_object(value):
    with pytest.raises(InvalidRequest) as info:
        check_request(value)
    assert info.value.field == "(request)"
    with pytest.raises(InvalidRequest) as info:
        parse_request_text(json.dumps(value))
    assert info.value.field == "(request)"


def test_errors_do_not_echo_values():
    """No PHI in errors: the field and the rule, not the birth date that was sent."""
    for field, value in [("member.birth_date", "1988-02-30"), ("member.birth_date", "2027-03-14"),
                         ("diagnosis.diagnosis_date", "1901-05-17"), ("member.weight_kg", -71.3),
                         ("id", 987654)]:
        with pytest.raises(InvalidRequest) as info:
            check_request(_mutated(base(), field, value))
        assert str(value) not in str(info.value)
        assert all(str(value) not in reason for _, reason in info.value.errors)


def test_first_error_in_contract_order_and_all_listed():
    request = _mutated(_mutated(base(), "dose.unit", "mg"), "member.weight_kg", -1)
    request = _mutated(request, "id", DROP)
    with pytest.raises(InvalidRequest) as info:
        check_request(request)
    assert info.value.field == "id"
    assert [field for field, _ in info.value.errors] == ["id", "member.weight_kg", "dose.unit"]


def test_valid_request_gets_defaults_and_is_not_modified():
    request = base()
    request.pop("policy", None)
    snapshot = copy.deepcopy(request)
    checked = check_request(request)
    assert request == snapshot
    assert checked["policy"] == request_schema()["properties"]["policy"]["default"]
    assert {k: v for k, v in checked.items() if k != "policy"} == snapshot


def test_explicit_policy_is_kept():
    request = base()
    request["policy"] = "CP.PHAR.312"
    assert check_request(request)["policy"] == "CP.PHAR.312"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("diagnosis.diagnosis_date", "2026-11-01"),
        ("diagnosis.diagnosis_date", "1988-04-12"),  # diagnosed on the day of birth
        ("member.birth_date", "2024-02-29"),  # a real leap day
        ("diagnosis.ph_status", "unknown"),
        ("diagnosis.ph_status", "ph-like"),
        ("diagnosis.mrd", {}),
        ("diagnosis.mrd.level_percent", 0),
        ("diagnosis.mrd.level_percent", 100),
        ("dose.value", 0),
        ("dose.unit", "mcg/m2/day"),
        ("prescriber.consulting_specialties", []),
        ("regimen.with", []),
        ("regimen.with", ["Made-Up-Agent", "POMP"]),
        ("diagnosis.condition", "AML"),
        ("diagnosis.icd10cm", "C91.00"),
        ("units_billed", 784),
        ("regimen.day", 29),
        ("member.hypersensitivity_to_blinatumomab", True),
        ("dose.supporting_evidence", "NCCN ALL v1.2024"),
        ("member.weight_kg", 0.8),
    ],
)
def test_valid_variations_pass(field, value):
    check_request(_mutated(base(), field, value))


def test_born_and_diagnosed_on_the_request_date_is_valid():
    """0 months old is a fact for the age criterion to judge, not invalid input."""
    request = _mutated(base(), "member.birth_date", "2026-11-01")
    check_request(_mutated(request, "diagnosis.diagnosis_date", "2026-11-01"))


def test_valid_json_text_round_trip():
    text = BASE_FILE.read_text()
    assert parse_request_text(text)["id"] == base()["id"]
    assert parse_request_text(text.encode("utf-8"))["id"] == base()["id"]
    assert parse_request_text("\ufeff" + text)["id"] == base()["id"]


def test_every_example_is_valid():
    files = sorted(EXAMPLES.glob("*.json"))
    assert len(files) >= 8
    for path in files:
        check_request(json.loads(path.read_text()))


def test_invalid_request_is_a_value_error_with_dict_form():
    err = InvalidRequest("member.birth_date", "is after request_date")
    assert isinstance(err, ValueError)
    assert str(err) == "member.birth_date: is after request_date"
    assert err.to_dict() == {"field": "member.birth_date", "reason": "is after request_date"}


def test_package_exports_the_same_exception():
    import reasoner

    exported = getattr(reasoner, "InvalidRequest", InvalidRequest)
    assert exported is InvalidRequest
