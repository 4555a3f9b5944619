"""Property tests (hypothesis) for reasoner.evaluate: invariants of every determination, and
InvalidRequest naming the one field that a broken request gets wrong.

The strategies generate requests that are valid per contract v1 (shared/contract/request-v1.md);
`test_strategies_*` check that locally, without the engine. Budget: about 600 evaluations in all.
"""
from __future__ import annotations

import copy
import math
from datetime import date, timedelta

import pytest
from dateutil.relativedelta import relativedelta
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

ENGINE = settings(max_examples=200, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
LOCAL = settings(max_examples=300, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.too_slow])

DECISIONS = {"approve", "needs-info", "refer", "deny"}
INITIAL_PATHWAYS = {"I.A.4.a", "I.A.4.b.i", "I.A.4.b.ii", "I.A.4.c.i", "I.A.4.c.ii", "I.A.4.c.iii",
                    "I.A.4.c.iv", "I.A.4.d", "I.A.4.e"}
OFF_LABEL = {"commercial": "CP.CPA.09", "HIM": "HIM.PA.154", "medicaid": "CP.PMN.53"}

QUALIFYING = ["hematology", "oncology", "hematology-oncology", "pediatric hematology-oncology"]
NON_QUALIFYING = ["internal medicine", "cardiology", "family medicine"]
B_ALL = "B-ALL"
NOT_B_ALL = ["T-ALL", "AML"]
KNOWN_NAMES = ["imatinib", "dasatinib", "nilotinib", "bosutinib", "ponatinib", "Gleevec", "Sprycel",
               "Tasigna", "Bosulif", "Iclusig", "vincristine", "methotrexate", "mercaptopurine",
               "prednisone", "dexamethasone", "cytarabine", "daunorubicin", "pegaspargase",
               "calaspargase", "POMP", "Interfant", "Interfant-06", "Interfant-21"]
UNKNOWN_NAMES = ["Xylotinib", "Zorvacel", "investigational agent QX-17"]

START, END = date(2025, 1, 1), date(2027, 12, 31)


def iso(d: date) -> str:
    return d.isoformat()


def any_case(name: str):
    return st.sampled_from([name, name.lower(), name.upper(), name.title(), name.swapcase()])


agent_names = st.sampled_from(KNOWN_NAMES + UNKNOWN_NAMES).flatmap(any_case)
request_ids = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FFF, exclude_categories=("Cs",)),
                      min_size=1, max_size=24)


def one_decimal(lo, hi):
    return st.integers(int(lo * 10), int(hi * 10)).map(lambda n: n / 10)


def doses():
    return st.fixed_dictionaries({"value": one_decimal(0.5, 60), "unit": st.sampled_from(["mcg/day", "mcg/m2/day"])})


def _maybe(strategy):
    return st.one_of(st.none(), strategy)


# The strategies valid_requests draws from, made once: hypothesis builds (and labels) a strategy
# each time one is made, which made up most of the cost of a draw when they were made in each.
_AGE_DAYS = st.one_of(st.integers(0, 400), st.integers(0, 90 * 366))
_REQUEST_TYPES = st.sampled_from(["initial", "continuation"])
_LINES = st.sampled_from(["commercial", "HIM", "medicaid"])
_POLICY = _maybe(st.just("CP.PHAR.312"))
_FORMULARY = _maybe(st.sampled_from(["formulary", "non-formulary"]))
_WEIGHT = _maybe(one_decimal(2, 150))
_HEIGHT = _maybe(st.integers(40, 210))
_BSA = _maybe(st.integers(10, 280).map(lambda n: n / 100))
_MAYBE_BOOL = _maybe(st.booleans())
_SPECIALTY = st.sampled_from(QUALIFYING + NON_QUALIFYING)
_CONSULTING = _maybe(st.lists(st.sampled_from(QUALIFYING + NON_QUALIFYING), max_size=2))
_CONDITION = st.sampled_from([B_ALL] * 4 + NOT_B_ALL)
_ICD10CM = _maybe(st.sampled_from(["C91.00", "C91.01", "C91.02"]))
_PH = _maybe(st.sampled_from(["positive", "negative", "ph-like", "unknown"]))
_DISEASE = _maybe(st.sampled_from(["newly-diagnosed", "complete-remission", "relapsed", "refractory"]))
_MRD_STATUS = st.sampled_from(["positive", "negative", "unavailable"])
_MRD_LEVEL = _maybe(st.sampled_from([0.01, 0.05, 0.1, 0.5, 2.0, 12.5]))
_PHASE = _maybe(st.sampled_from(["induction", "consolidation", "maintenance", "post-consolidation"]))
_MODE = _maybe(st.sampled_from(["single-agent", "combination", "alternating"]))
_WITH = _maybe(st.lists(agent_names, max_size=5))
_DOSE = _maybe(doses())
_EVIDENCE = _maybe(st.just("NCCN Guidelines, ALL, Version 1.2024"))
_CONTINUATION_GIVEN = st.integers(0, 9)
_DAYS_ON = _maybe(st.integers(0, 400))
_DATES = st.dates(START, END)


@st.composite
def valid_requests(draw, request_type=None):
    """A contract-v1 request, every optional field present or absent."""
    def put(obj, key, value):
        if value is not None:
            obj[key] = value

    request_date = draw(_DATES)
    age_days = draw(_AGE_DAYS)
    birth = request_date - timedelta(days=age_days)
    rtype = request_type or draw(_REQUEST_TYPES)

    req = {"id": draw(request_ids), "request_type": rtype, "request_date": iso(request_date),
           "line_of_business": draw(_LINES)}
    put(req, "policy", draw(_POLICY))
    put(req, "formulary_status", draw(_FORMULARY))

    member = {"birth_date": iso(birth)}
    put(member, "weight_kg", draw(_WEIGHT))
    put(member, "height_cm", draw(_HEIGHT))
    put(member, "bsa_m2", draw(_BSA))
    put(member, "hypersensitivity_to_blinatumomab", draw(_MAYBE_BOOL))
    req["member"] = member

    prescriber = {"specialty": draw(_SPECIALTY)}
    put(prescriber, "consulting_specialties", draw(_CONSULTING))
    req["prescriber"] = prescriber

    diagnosis = {"condition": draw(_CONDITION)}
    put(diagnosis, "icd10cm", draw(_ICD10CM))
    if draw(st.booleans()):
        diagnosis["diagnosis_date"] = iso(birth + timedelta(days=draw(st.integers(0, age_days))))
    put(diagnosis, "cd19_positive", draw(_MAYBE_BOOL))
    put(diagnosis, "ph_status", draw(_PH))
    put(diagnosis, "kmt2a_rearranged", draw(_MAYBE_BOOL))
    put(diagnosis, "disease_status", draw(_DISEASE))
    if draw(st.booleans()):
        mrd = {"status": draw(_MRD_STATUS)}
        put(mrd, "level_percent", draw(_MRD_LEVEL))
        diagnosis["mrd"] = mrd
    req["diagnosis"] = diagnosis

    if draw(st.booleans()):
        regimen = {}
        put(regimen, "phase", draw(_PHASE))
        put(regimen, "mode", draw(_MODE))
        put(regimen, "with", draw(_WITH))
        req["regimen"] = regimen

    dose = draw(_DOSE)
    if dose is not None:
        put(dose, "supporting_evidence", draw(_EVIDENCE))
        req["dose"] = dose

    if rtype == "continuation" and draw(_CONTINUATION_GIVEN) > 0:
        cont = {}
        put(cont, "receiving_via_benefit", draw(_MAYBE_BOOL))
        put(cont, "days_on_therapy", draw(_DAYS_ON))
        put(cont, "indication_covered", draw(_MAYBE_BOOL))
        put(cont, "responding", draw(_MAYBE_BOOL))
        put(cont, "previous_dose", draw(_DOSE))
        req["continuation"] = cont
    return req


# ---------------------------------------------------------------------------- helpers

def get(obj, path, default=None):
    for part in path.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return default
        obj = obj[part]
    return obj


def codes(det):
    return [w.get("code") if isinstance(w, dict) else w for w in det.get("warnings") or []]


def failed_pairs(det):
    return {(f.get("criterion"), f.get("kind")) for f in det.get("failed") or []}


def age_months(req):
    r = relativedelta(date.fromisoformat(req["request_date"]), date.fromisoformat(req["member"]["birth_date"]))
    return r.years * 12 + r.months


def daily_dose(req):
    """mcg/day per reading 7, or None when it cannot be computed."""
    dose = req.get("dose")
    if not dose:
        return None
    if dose["unit"] == "mcg/day":
        return dose["value"]
    m = req["member"]
    bsa = m.get("bsa_m2")
    if bsa is None and "weight_kg" in m and "height_cm" in m:
        bsa = math.sqrt(m["weight_kg"] * m["height_cm"] / 3600)
    return None if bsa is None else dose["value"] * bsa


def evaluate(req):
    import reasoner

    return reasoner.evaluate(req)


def check_invariants(req, det):
    rtype = req["request_type"]
    decision = det.get("decision")
    assert decision in DECISIONS, decision
    assert det.get("id") == req["id"]
    pathways = det.get("pathways")
    failed = det.get("failed")
    assert isinstance(pathways, list) and isinstance(failed, list)

    for f in failed:
        assert isinstance(f.get("criterion"), str) and f["criterion"], f
        assert f.get("kind") in {"missing", "not-met"}, f
        assert isinstance(f.get("message"), str) and f["message"].strip(), f
        assert isinstance(f.get("shape"), str) and f["shape"], f
        assert f["criterion"].startswith("I.A" if rtype == "initial" else "II.A"), f
    for w in det.get("warnings") or []:
        assert isinstance(w, dict) and isinstance(w.get("code"), str) and w["code"], w

    if decision == "approve":
        assert det.get("approval_months") == (6 if rtype == "initial" else 12)
        assert pathways, "approve without a pathway"
        assert set(pathways) <= (INITIAL_PATHWAYS if rtype == "initial" else {"II.A"}), pathways
        assert failed == [], failed
        assert det.get("referral") is None
        assert not det.get("closest")
    else:
        assert det.get("approval_months") is None
        assert pathways == [], pathways

    if decision == "refer":
        ref = det.get("referral")
        assert isinstance(ref, dict) and ref.get("policy") and ref.get("section"), ref
        assert ref["section"].startswith("I.B" if rtype == "initial" else "II.B"), ref
        # The shipped KB records no label change, so a referral is always the off-label one.
        assert ref["section"] == ("I.B.2" if rtype == "initial" else "II.B.2"), ref
        assert ref["policy"] == OFF_LABEL[req["line_of_business"]], ref
    else:
        assert det.get("referral") is None, det.get("referral")

    pairs = failed_pairs(det)
    if decision == "needs-info":
        assert any(k == "missing" for _, k in pairs), failed
    if decision == "deny":
        deny_criteria = {"I.A.2"} if rtype == "initial" else {"II.A.1", "II.A.2"}
        assert any(c in deny_criteria and k == "not-met" for c, k in pairs), failed

    # Facts that settle one criterion whatever else was sent.
    warn = codes(det)
    if rtype == "initial":
        if age_months(req) < 1:
            assert ("I.A.3", "not-met") in pairs, failed
        if req["diagnosis"]["condition"] != "B-ALL":
            assert ("I.A.1", "not-met") in pairs, failed
            assert decision in {"refer", "deny"}, decision
        p = req["prescriber"]
        if p["specialty"] in QUALIFYING:
            assert not any(c == "I.A.2" for c, _ in pairs), failed
        elif "consulting_specialties" in p and not set(p["consulting_specialties"]) & set(QUALIFYING):
            assert ("I.A.2", "not-met") in pairs, failed
            assert decision == "deny", decision
        dd = daily_dose(req)
        # Mosteller may be rounded by the engine: keep clear of the boundary then.
        margin = 0.5 if get(req, "dose.unit") == "mcg/m2/day" and "bsa_m2" not in req["member"] else 0.05
        if decision == "approve" and dd is not None and dd > 28 + margin:
            assert get(req, "dose.supporting_evidence"), "dose above 28 approved without evidence"
            assert "evidence-to-confirm" in warn, warn
    else:
        if get(req, "continuation.responding") is False:
            assert decision == "deny" and ("II.A.2", "not-met") in pairs, failed
    if any(n.lower() in {u.lower() for u in UNKNOWN_NAMES} for n in get(req, "regimen.with", [])):
        assert "unknown-agent" in warn, warn
    if get(req, "member.hypersensitivity_to_blinatumomab") is True:
        assert "contraindication-hypersensitivity" in warn, warn

    derived = det.get("derived")
    if isinstance(derived, dict) and "age_months" in derived:
        assert derived["age_months"] == age_months(req), (derived["age_months"], age_months(req))


# ---------------------------------------------------------------------------- valid requests

@ENGINE
@given(valid_requests())
def test_invariants_and_determinism(req):
    sent = copy.deepcopy(req)
    det = evaluate(req)
    assert req == sent, "evaluate() changed its input"
    check_invariants(req, det)
    again = evaluate(copy.deepcopy(req))
    assert again == det, "the same request gave two different determinations"


# Optional fields whose removal only turns facts into unknowns (bsa_m2 overrides Mosteller and
# an absent formulary_status is taken as formulary, so those two are left out).
REMOVABLE = ["member.weight_kg", "member.height_cm", "member.hypersensitivity_to_blinatumomab",
             "prescriber.consulting_specialties", "diagnosis.icd10cm", "diagnosis.diagnosis_date",
             "diagnosis.cd19_positive", "diagnosis.ph_status", "diagnosis.kmt2a_rearranged",
             "diagnosis.disease_status", "diagnosis.mrd", "diagnosis.mrd.level_percent", "regimen",
             "regimen.phase", "regimen.mode", "regimen.with", "dose", "dose.supporting_evidence",
             "continuation", "continuation.receiving_via_benefit", "continuation.days_on_therapy",
             "continuation.indication_covered", "continuation.responding",
             "continuation.previous_dose"]
# Reading 1 with Kleene logic: dropping a fact can turn met or not-met into missing, never
# missing into met or not-met.
ALLOWED_AFTER_REMOVAL = {"approve": {"approve", "needs-info"}, "needs-info": {"needs-info"},
                         "deny": {"deny", "needs-info", "refer"}, "refer": {"refer", "needs-info"}}


@ENGINE
@given(valid_requests(), st.data())
def test_removing_a_fact_never_adds_a_contradiction(req, data):
    present = [p for p in REMOVABLE if get(req, p) is not None]
    assume(present)
    path = data.draw(st.sampled_from(present), label="removed")
    *parents, leaf = path.split(".")
    reduced = copy.deepcopy(req)
    del (get(reduced, ".".join(parents)) if parents else reduced)[leaf]
    before, after = evaluate(req)["decision"], evaluate(reduced)["decision"]
    assert after in ALLOWED_AFTER_REMOVAL[before], f"removing {path}: {before} -> {after}"


# ---------------------------------------------------------------------------- invalid requests

REQUIRED = ["id", "request_type", "request_date", "line_of_business", "member.birth_date",
            "prescriber.specialty", "diagnosis.condition"]
BAD_ENUMS = [("request_type", "renewal"), ("line_of_business", "medicare"),
             ("formulary_status", "preferred"), ("diagnosis.ph_status", "maybe"),
             ("diagnosis.disease_status", "remission"), ("diagnosis.mrd.status", "weak"),
             ("regimen.phase", "salvage"), ("regimen.mode", "sequential"), ("dose.unit", "mg/day"),
             ("continuation.previous_dose.unit", "mcg/kg/day")]
BAD_TYPES = [("id", 12345), ("request_date", 20260101), ("member.weight_kg", "heavy"),
             ("member.height_cm", [150]), ("member.hypersensitivity_to_blinatumomab", "yes"),
             ("prescriber.specialty", ["hematology"]), ("prescriber.consulting_specialties", "hematology"),
             ("diagnosis.condition", 7), ("diagnosis.cd19_positive", "true"), ("regimen.with", "POMP"),
             ("dose.value", "28"), ("continuation.days_on_therapy", "thirty"),
             ("continuation.responding", "yes"), ("continuation.receiving_via_benefit", 1)]
NEGATIVE = ["member.weight_kg", "member.height_cm", "member.bsa_m2", "dose.value",
            "continuation.previous_dose.value", "continuation.days_on_therapy"]
BAD_DATES = [("request_date", "2026-02-30"), ("request_date", "2026/03/01"),
             ("member.birth_date", "2019-02-29"), ("diagnosis.diagnosis_date", "2026-13-01")]


def _ensure_parents(req, path):
    """Give the mutated field a complete parent object, so that only one thing is wrong."""
    if path.startswith("continuation."):
        req["request_type"] = "continuation"
        req.setdefault("continuation", {})
    if path.startswith("continuation.previous_dose."):
        req["continuation"].setdefault("previous_dose", {"value": 14, "unit": "mcg/day"})
    if path.startswith("dose."):
        req.setdefault("dose", {"value": 28, "unit": "mcg/day"})
    if path.startswith("regimen."):
        req.setdefault("regimen", {"mode": "single-agent"})
    if path.startswith("diagnosis.mrd."):
        req["diagnosis"].setdefault("mrd", {"status": "positive"})


def _set(req, path, value):
    _ensure_parents(req, path)
    *parents, leaf = path.split(".")
    obj = req
    for p in parents:
        obj = obj[p]
    obj[leaf] = value


_VALID = valid_requests()
_BREAKS = st.sampled_from(["drop", "enum", "type", "negative", "date", "birth-after", "diagnosis-before-birth",
                           "diagnosis-after-request"])
_REQUIRED = st.sampled_from(REQUIRED)
_BAD = {"enum": st.sampled_from(BAD_ENUMS), "type": st.sampled_from(BAD_TYPES), "date": st.sampled_from(BAD_DATES)}
_NEGATIVE = st.sampled_from(NEGATIVE)
_DAYS_BELOW = st.integers(1, 500)
_AMOUNT_BELOW = one_decimal(0.1, 200)
_DAYS_APART = st.integers(1, 3000)


@st.composite
def invalid_requests(draw):
    """(request, dotted path of the one field that is wrong)."""
    req = copy.deepcopy(draw(_VALID))
    kind = draw(_BREAKS)
    if kind == "drop":
        path = draw(_REQUIRED)
        *parents, leaf = path.split(".")
        (get(req, ".".join(parents)) if parents else req).pop(leaf)
        return req, path
    if kind in ("enum", "type", "date"):
        path, value = draw(_BAD[kind])
        _set(req, path, value)
        return req, path
    if kind == "negative":
        path = draw(_NEGATIVE)
        value = -draw(_DAYS_BELOW) if path.endswith("days_on_therapy") else -draw(_AMOUNT_BELOW)
        _set(req, path, value)
        return req, path
    rd = date.fromisoformat(req["request_date"])
    bd = date.fromisoformat(req["member"]["birth_date"])
    if kind == "birth-after":
        req["diagnosis"].pop("diagnosis_date", None)  # keep the diagnosis date out of the quarrel
        req["member"]["birth_date"] = iso(rd + timedelta(days=draw(_DAYS_APART)))
        return req, "member.birth_date"
    if kind == "diagnosis-before-birth":
        req["diagnosis"]["diagnosis_date"] = iso(bd - timedelta(days=draw(_DAYS_APART)))
        return req, "diagnosis.diagnosis_date"
    req["diagnosis"]["diagnosis_date"] = iso(rd + timedelta(days=draw(_DAYS_APART)))
    return req, "diagnosis.diagnosis_date"


@ENGINE
@given(invalid_requests())
def test_invalid_request_names_the_field(case):
    import reasoner

    req, field = case
    with pytest.raises(reasoner.InvalidRequest) as info:
        reasoner.evaluate(req)
    assert isinstance(info.value, ValueError)
    assert info.value.field == field, f"expected field {field!r}, got {info.value.field!r}: {info.value}"


# ---------------------------------------------------------------------------- the strategies themselves
# No engine needed: the generated data must be what the tests claim it is.

@LOCAL
@given(valid_requests())
def test_strategies_valid_requests_obey_the_contract(contract_check, req):
    assert contract_check(req) == []


@LOCAL
@given(invalid_requests())
def test_strategies_invalid_requests_break_exactly_one_field(contract_check, case):
    req, field = case
    assert {f for f, _ in contract_check(req)} == {field}, contract_check(req)


@settings(max_examples=3000, deadline=None, database=None)
@given(st.dates(date(1900, 1, 1), date(2100, 12, 31)), st.dates(date(1900, 1, 1), date(2100, 12, 31)))
def test_whole_months_is_relativedelta(start, end):
    """enrich.whole_months counts as dateutil's relativedelta does (month ends and leap days included)."""
    from reasoner.flow.enrich import whole_months

    r = relativedelta(end, start)
    assert whole_months(start, end) == r.years * 12 + r.months


@pytest.mark.parametrize("start,end,months", [
    ("2024-01-31", "2024-02-29", 1), ("2023-01-31", "2023-02-28", 1), ("2024-01-31", "2024-02-28", 0),
    ("2020-02-29", "2021-02-28", 12), ("2020-02-29", "2021-03-01", 12), ("2024-03-31", "2024-04-30", 1),
    ("2024-03-30", "2024-04-29", 0), ("2024-05-15", "2024-05-15", 0), ("2024-05-15", "2024-05-14", 0),
])
def test_whole_months_month_ends(start, end, months):
    from reasoner.flow.enrich import whole_months

    assert whole_months(date.fromisoformat(start), date.fromisoformat(end)) == months
