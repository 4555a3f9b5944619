"""Data-driven cases: tests/cases/*.json, one request and its expected determination each.

Case file format (see any file in tests/cases/):

    description   one sentence: what the case shows
    covers        tags: a pathway ("I.A.4.c.iii", "II.A"), a criterion outcome ("I.A.2:missing",
                  "I.A.5.a:not-met", "I.A.3:met"), "referral:<section>:<line of business>",
                  "warning:<code>", "reading:<n>", "boundary:<what>", or free text
    kb            optional: extra Turtle files (relative to tests/) merged into the KB
    request       a contract-v1 request
    expect        decision, approval_months, pathways (exact set), failed (each {criterion, kind}
                  must appear; with "needs", those fields must be among the ones it asks for), not_failed (criteria that must not appear in failed), referral
                  ({policy, section} or null), derived (subset; numbers within 0.01; a list must
                  contain the listed items, case-insensitively), warnings (codes that must appear),
                  no_warnings (optional: codes that must not appear)

The expectations come from the contract (shared/contract/request-v1.md) and docs/api.md,
not from the engine.
"""
from __future__ import annotations

import copy
import json
import math
import pprint
from collections import defaultdict
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
CASES_DIR = TESTS_DIR / "cases"
CASE_FILES = sorted(CASES_DIR.glob("*.json"))

DECISIONS = {"approve", "needs-info", "refer", "deny"}
KINDS = {"missing", "not-met"}
PATHWAYS = ["I.A.4.a", "I.A.4.b.i", "I.A.4.b.ii", "I.A.4.c.i", "I.A.4.c.ii", "I.A.4.c.iii",
            "I.A.4.c.iv", "I.A.4.d", "I.A.4.e", "II.A"]
CRITERIA = ["I.A.1", "I.A.2", "I.A.3", "I.A.4.a", "I.A.4.b", "I.A.4.b.i", "I.A.4.b.ii", "I.A.4.c",
            "I.A.4.c.i", "I.A.4.c.ii", "I.A.4.c.iii", "I.A.4.c.iv", "I.A.4.d", "I.A.4.e",
            "I.A.4.e.i", "I.A.4.e.ii", "I.A.5.a", "I.A.5.b", "II.A.1", "II.A.2", "II.A.3.a",
            "II.A.3.b"]
# Outcomes each criterion must be shown with somewhere in the case folder ("missing" only where
# an absent or unrecognised fact can make it so: I.A.3 rests on a required field; I.A.1 is missing
# for a diagnosis the knowledge base does not know or one without its lineage).
REQUIRED_OUTCOMES = {
    "I.A.1": {"met", "not-met", "missing"},
    "I.A.2": {"met", "not-met", "missing"},
    "I.A.3": {"met", "not-met"},
    "I.A.4.b": {"met", "missing"},
    "I.A.4.c": {"met", "missing"},
    "I.A.4.e": {"met", "not-met", "missing"},
    "I.A.4.e.i": {"met", "not-met", "missing"},
    "I.A.4.e.ii": {"met", "not-met"},
    "I.A.5.a": {"met", "not-met", "missing"},
    "I.A.5.b": {"met", "missing"},
    "II.A.1": {"met", "not-met", "missing"},
    "II.A.2": {"met", "not-met", "missing"},
    "II.A.3.a": {"met", "not-met"},
    "II.A.3.b": {"met", "missing"},
}
REFERRALS = {  # (section, line of business) -> policy
    ("I.B.2", "commercial"): "CP.CPA.09", ("I.B.2", "HIM"): "HIM.PA.154",
    ("I.B.2", "medicaid"): "CP.PMN.53",
    ("I.B.1.a", "commercial"): "CP.CPA.190", ("I.B.1.a", "HIM"): "HIM.PA.33",
    ("I.B.1.a", "medicaid"): "CP.PMN.255",
    ("I.B.1.b", "commercial"): "CP.CPA.190", ("I.B.1.b", "HIM"): "HIM.PA.103",
    ("I.B.1.b", "medicaid"): "CP.PMN.16",
}
WARNING_CODES = ["unknown-agent", "unknown-condition", "conditions-disagree", "formulary-status-assumed", "contraindication-hypersensitivity",
                 "mrd-level-below-threshold", "evidence-to-confirm",
                 # Section V dose checks and Appendix C reminders (shapes/warnings.ttl, shapes/dosing.ttl)
                 "cd19-negative", "dose-fixed-below-45-kg", "dose-per-m2-at-or-above-45-kg",
                 "dose-differs-from-label", "step-up-missing", "cycle-beyond-course", "units-exceed-label",
                 "boxed-warnings"]
TOLERANCE = 0.01


def load_case(path: Path) -> dict:
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)


ALL_CASES = {p.stem: load_case(p) for p in CASE_FILES}


def _outcome_tags(case):
    """("I.A.2", "missing") for every "I.A.2:missing" tag in covers."""
    for tag in case["covers"]:
        crit, sep, outcome = tag.partition(":")
        if sep and outcome in ("met", "not-met", "missing") and crit[:1] == "I":
            yield crit, outcome


# ============================================================================ engine comparison

def _warning_codes(det):
    codes = []
    for w in det.get("warnings") or []:
        codes.append(w.get("code") if isinstance(w, dict) else w)
    return codes


def _same_value(expected, actual) -> bool:
    if isinstance(expected, bool) or expected is None:
        return actual is expected or actual == expected
    if isinstance(expected, (int, float)):
        return (isinstance(actual, (int, float)) and not isinstance(actual, bool)
                and math.isclose(float(actual), float(expected), abs_tol=TOLERANCE))
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return False
        have = {str(x).lower() for x in actual}
        return all(str(x).lower() in have for x in expected)
    return expected == actual


def compare(expect: dict, det: dict, request: dict) -> list[str]:
    problems = []
    if det.get("id") != request["id"]:
        problems.append(f"id: expected {request['id']!r} echoed, got {det.get('id')!r}")
    if det.get("decision") != expect["decision"]:
        problems.append(f"decision: expected {expect['decision']!r}, got {det.get('decision')!r}")
    if det.get("approval_months") != expect["approval_months"]:
        problems.append(f"approval_months: expected {expect['approval_months']!r}, "
                        f"got {det.get('approval_months')!r}")
    got_pathways = set(det.get("pathways") or [])
    if got_pathways != set(expect["pathways"]):
        problems.append(f"pathways: expected {sorted(expect['pathways'])}, got {sorted(got_pathways)}")

    failed = det.get("failed") or []
    got_failed = {(f.get("criterion"), f.get("kind")) for f in failed}
    for item in expect["failed"]:
        key = (item["criterion"], item["kind"])
        if key not in got_failed:
            same = sorted(k for c, k in got_failed if c == item["criterion"])
            hint = f" (listed as {same})" if same else " (not listed)"
            problems.append(f"failed: expected {item['criterion']} {item['kind']}{hint}")
        elif "needs" in item:
            asked = {n for f in failed if (f.get("criterion"), f.get("kind")) == key for n in f.get("needs") or []}
            if not set(item["needs"]) <= asked:
                problems.append(f"failed: {item['criterion']} should ask for {item['needs']}, asks for {sorted(asked)}")
    for crit in expect.get("not_failed", []):
        kinds = sorted(k for c, k in got_failed if c == crit)
        if kinds:
            problems.append(f"not_failed: {crit} must not be in failed, listed as {kinds}")

    exp_ref, got_ref = expect["referral"], det.get("referral")
    if exp_ref is None:
        if got_ref is not None:
            problems.append(f"referral: expected null, got {got_ref!r}")
    elif not isinstance(got_ref, dict):
        problems.append(f"referral: expected {exp_ref}, got {got_ref!r}")
    else:
        for key in ("policy", "section"):
            if got_ref.get(key) != exp_ref[key]:
                problems.append(f"referral.{key}: expected {exp_ref[key]!r}, got {got_ref.get(key)!r}")

    if "derived" in expect:
        derived = det.get("derived")
        if not isinstance(derived, dict):
            problems.append(f"derived: expected an object with {sorted(expect['derived'])}, got {derived!r}")
        else:
            for key, value in expect["derived"].items():
                if key not in derived:
                    problems.append(f"derived.{key}: expected {value!r}, key absent")
                elif not _same_value(value, derived[key]):
                    problems.append(f"derived.{key}: expected {value!r}, got {derived[key]!r}")

    codes = _warning_codes(det)
    for code in expect.get("warnings", []):
        if code not in codes:
            problems.append(f"warnings: expected code {code!r}, got {codes}")
    for code in expect.get("no_warnings", []):
        if code in codes:
            problems.append(f"no_warnings: code {code!r} must not appear, got {codes}")
    return problems


@pytest.mark.parametrize("name", sorted(ALL_CASES), ids=str)
def test_case(name, reasoner_for):
    case = ALL_CASES[name]
    reasoner = reasoner_for(tuple(case.get("kb", ())))
    request = copy.deepcopy(case["request"])
    det = reasoner.evaluate(request)
    problems = compare(case["expect"], det, case["request"])
    if problems:
        pytest.fail(
            f"{name}: {case['description']}\n  - " + "\n  - ".join(problems)
            + "\n\ndetermination:\n" + pprint.pformat(det, width=110, sort_dicts=False),
            pytrace=False)


# ============================================================================ the case files themselves
# These need no engine.

@pytest.mark.parametrize("name", sorted(ALL_CASES), ids=str)
def test_case_file_well_formed(name, contract_check):
    case = ALL_CASES[name]
    assert set(case) <= {"description", "covers", "kb", "request", "expect"}, sorted(case)
    assert isinstance(case.get("description"), str) and case["description"].strip()
    assert isinstance(case.get("covers"), list) and case["covers"]
    assert all(isinstance(t, str) and t for t in case["covers"])
    for kb in case.get("kb", []):
        assert (TESTS_DIR / kb).is_file(), f"kb file {kb} not found under tests/"

    req = case["request"]
    problems = contract_check(req)
    assert not problems, f"request is not valid per contract v1: {problems}"

    exp = case["expect"]
    assert set(exp) <= {"decision", "approval_months", "pathways", "failed", "not_failed",
                        "referral", "derived", "warnings", "no_warnings"}, sorted(exp)
    for key in ("decision", "approval_months", "pathways", "failed", "referral"):
        assert key in exp, f"expect.{key} is required"
    assert exp["decision"] in DECISIONS
    kind = req["request_type"]
    if exp["decision"] == "approve":
        assert exp["approval_months"] == (6 if kind == "initial" else 12)
        assert exp["pathways"], "an approval names its pathways"
        assert not exp["failed"], "failed is empty on approve"
    else:
        assert exp["approval_months"] is None
        assert exp["pathways"] == []
    assert set(exp["pathways"]) <= set(PATHWAYS), exp["pathways"]
    if kind == "continuation":
        assert set(exp["pathways"]) <= {"II.A"}
    for item in exp["failed"]:
        assert {"criterion", "kind"} <= set(item) <= {"criterion", "kind", "needs"} and item["kind"] in KINDS, item
        assert "needs" not in item or (item["kind"] == "missing" and item["needs"]), item
    if exp["decision"] == "needs-info":
        assert any(f["kind"] == "missing" for f in exp["failed"]), "needs-info asks for something"
    if exp["decision"] == "deny":
        assert any(f["kind"] == "not-met" for f in exp["failed"]), "a deny names what is not met"
    overlap = {f["criterion"] for f in exp["failed"]} & set(exp.get("not_failed", []))
    assert not overlap, overlap
    if exp["decision"] == "refer":
        ref = exp["referral"]
        assert set(ref) == {"policy", "section"}
        prefix = "I.B." if kind == "initial" else "II.B."
        assert ref["section"].startswith(prefix), ref
        initial_section = ref["section"][1:] if kind == "continuation" else ref["section"]
        lob = req["line_of_business"]
        assert REFERRALS[(initial_section, lob)] == ref["policy"], (initial_section, lob, ref)
    else:
        assert exp["referral"] is None
    for code in exp.get("warnings", []) + exp.get("no_warnings", []):
        assert code in WARNING_CODES, code
    assert not set(exp.get("warnings", [])) & set(exp.get("no_warnings", []))

    # Outcome tags in covers must agree with the expectations.
    failed = {(f["criterion"], f["kind"]) for f in exp["failed"]}
    for crit, outcome in _outcome_tags(case):
        if outcome == "met":
            assert exp["decision"] == "approve" or crit in exp.get("not_failed", []), \
                f"covers says {crit} met: decision must be approve or {crit} in not_failed"
        else:
            assert (crit, outcome) in failed, f"covers says {crit}:{outcome} but expect.failed lacks it"


def test_case_ids_unique():
    ids = defaultdict(list)
    for name, case in ALL_CASES.items():
        ids[case["request"]["id"]].append(name)
    dup = {k: v for k, v in ids.items() if len(v) > 1}
    assert not dup, dup


def test_enough_cases():
    assert len(ALL_CASES) >= 70, len(ALL_CASES)


def test_coverage_pathways():
    missing = []
    for p in PATHWAYS:
        tagged = [c for c in ALL_CASES.values() if p in c["covers"]]
        if not any(c["expect"]["decision"] == "approve" and p in c["expect"]["pathways"] for c in tagged):
            missing.append(f"{p}: no approving case")
        if not any(c["expect"]["decision"] != "approve" and p not in c["expect"]["pathways"] for c in tagged):
            missing.append(f"{p}: no non-approving case")
    assert not missing, missing


def test_coverage_criteria():
    mentioned = set()
    outcomes = defaultdict(set)
    for case in ALL_CASES.values():
        for tag in case["covers"]:
            mentioned.add(tag.partition(":")[0])
        for crit, outcome in _outcome_tags(case):
            outcomes[crit].add(outcome)
    not_mentioned = [c for c in CRITERIA if c not in mentioned]
    assert not not_mentioned, f"criteria no case covers: {not_mentioned}"
    lacking = {c: sorted(need - outcomes[c]) for c, need in REQUIRED_OUTCOMES.items() if need - outcomes[c]}
    assert not lacking, f"criterion outcomes no case shows: {lacking}"


def test_coverage_referrals():
    seen = set()
    continuation_sections = set()
    for case in ALL_CASES.values():
        ref = case["expect"]["referral"]
        if ref is None:
            continue
        if case["request"]["request_type"] == "initial":
            seen.add((ref["section"], case["request"]["line_of_business"]))
        else:
            continuation_sections.add(ref["section"])
    lacking = sorted(set(REFERRALS) - seen)
    assert not lacking, f"initial referrals no case shows: {lacking}"
    assert continuation_sections, "no continuation (II.B) referral case"


def test_coverage_warnings():
    seen = {code for c in ALL_CASES.values() for code in c["expect"].get("warnings", [])}
    assert set(WARNING_CODES) <= seen, sorted(set(WARNING_CODES) - seen)
