"""Exact arithmetic at every threshold (issue 12, section 1), as property tests (hypothesis).

For any body-surface area and dose, the verdict is the one the exact decimal comparison gives, at
and around every threshold: I.A.5.a and II.A.3.a (28 mcg/day), the dose-increase comparison, the
weight band at 45 kg, and the dose warnings' tolerances (0.05 mcg/day). Numbers reach the engine
as a caller sends them: JSON numbers with up to 15 significant digits, whose decimal digits are
the truth (0.8 is 0.8). The expectation is computed here with Python's Decimal at a precision that
never rounds; the thresholds are the policy's (CP.PHAR.312 Section I.A.5, II.A.3, V), checked
against the knowledge base once so that a policy edit shows up here.

Budget: about 1,000 evaluations (half a millisecond each).
"""
from __future__ import annotations

import copy
import json
from decimal import Decimal, localcontext

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from rdflib.namespace import SH

import reasoner
from reasoner.policy.kb import BX, KB, SHP

D = Decimal
MAXIMUM = D(28)         # I.A.5.a, II.A.3.a: "does not exceed 28 mcg per day"
FIXED_DOSE_KG = D(45)   # Section V: patients >= 45 kg receive a fixed dose
TOLERANCE = D("0.05")   # shapes/dosing.ttl: a dose written to a tenth of a mcg matches the label

PROPERTY = settings(max_examples=150, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


def exactly(a: Decimal, b: Decimal) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 80  # two 15-digit numbers: their product has at most 30 digits
        return a * b


def as_json(value: Decimal) -> float | int:
    """The number as a JSON text carries it (digits as written), parsed as a client's json.loads does."""
    return json.loads(format(value, "f"))


def evaluate(request: dict) -> dict:
    return reasoner.evaluate(json.loads(json.dumps(request)))


def failed(det: dict) -> dict[str, str]:
    return {f["criterion"]: f["kind"] for f in det["failed"]}


def codes(det: dict) -> set[str]:
    return {w["code"] for w in det["warnings"]}


def decimals(low: str, high: str, places: int) -> st.SearchStrategy[Decimal]:
    """Decimals in [low, high] with up to `places` decimal places."""
    scale = 10 ** places
    return st.integers(int(D(low) * scale), int(D(high) * scale)).map(lambda n: (D(n) / scale).normalize())


def near(target: Decimal, places: int, steps: int = 2) -> st.SearchStrategy[Decimal]:
    """`target` rounded to `places` decimals, and a few steps of 10^-places either side."""
    unit = D(1).scaleb(-places)
    return st.integers(-steps, steps).map(lambda k: (target.quantize(unit) + k * unit).normalize())


# --------------------------------------------------------------------------- the policy's numbers

def test_the_thresholds_are_the_knowledge_bases():
    kb = reasoner.default_reasoner().kb

    def shape_values(shape, parameter):
        return {D(str(value)) for node in kb.shapes.transitive_objects(shape, None)
                for value in kb.shapes.objects(node, parameter)}

    assert shape_values(SHP["I.A.5.a"], SH.maxInclusive) == {MAXIMUM}
    assert shape_values(SHP["II.A.3.a"], SH.maxInclusive) == {MAXIMUM}
    assert shape_values(SHP["W-dose-label"], SH.maxInclusive) == {TOLERANCE}
    assert shape_values(SHP["W-dose-label"], SH.minInclusive) == {-TOLERANCE}
    assert shape_values(SHP["W-step-up"], SH.maxInclusive) == {TOLERANCE}
    assert D(str(kb.graph.value(KB["WeightBand-fixed-dose"], BX.weightKgAtLeast))) == FIXED_DOSE_KG
    assert D(str(kb.graph.value(KB["WeightBand-bsa-based"], BX.weightKgBelow))) == FIXED_DOSE_KG


# --------------------------------------------------------------------------- I.A.5.a

CHILD_CONSOLIDATION = {  # 20 kg, Ph-negative B-ALL, consolidation single agent (I.A.4.c.i)
    "id": "exact-I.A.5.a", "request_type": "initial", "request_date": "2026-11-01",
    "line_of_business": "commercial", "formulary_status": "formulary",
    "member": {"birth_date": "2018-04-02", "weight_kg": 20},
    "prescriber": {"specialty": "hematology-oncology"},
    "diagnosis": {"condition": "B-ALL", "cd19_positive": True, "ph_status": "negative",
                  "disease_status": "complete-remission", "mrd": {"status": "negative"}},
    "regimen": {"mode": "single-agent", "with": [], "phase": "consolidation"},
}


@st.composite
def per_m2_at_the_maximum(draw) -> tuple[Decimal, Decimal]:
    """(bsa_m2, mcg/m2/day) whose product is at, just under or just over the maximum (at most 5
    and 10 significant digits: the product has at most 15, which a JSON double carries exactly)."""
    bsa = draw(decimals("0.2", "2.6", draw(st.integers(1, 4))))
    return bsa, draw(near(MAXIMUM / bsa, draw(st.integers(0, 8)))) or D(1)


@PROPERTY
@given(pair=st.one_of(per_m2_at_the_maximum(),
                      st.tuples(decimals("0.2", "3", 3), decimals("0.1", "60", 4))))
@example(pair=(D("0.8"), D("35")))     # 28 exactly
@example(pair=(D("1.12"), D("25")))    # 28 exactly; binary floating point says 28.000000000000004
@example(pair=(D("0.56"), D("50")))
@example(pair=(D("2.24"), D("12.5")))
@example(pair=(D("0.8"), D("35.000001")))
@example(pair=(D("1.12"), D("24.999999999999")))
def test_I_A_5_a_is_the_exact_comparison(pair):
    bsa, per_m2 = pair
    request = copy.deepcopy(CHILD_CONSOLIDATION)
    request["member"]["bsa_m2"] = as_json(bsa)
    request["dose"] = {"value": as_json(per_m2), "unit": "mcg/m2/day"}
    det = evaluate(request)
    daily = exactly(bsa, per_m2)
    if daily <= MAXIMUM:
        assert det["decision"] == "approve", (daily, det["failed"])
    else:  # over the maximum: I.A.5.a not met, I.A.5.b asks for the evidence
        assert det["decision"] == "needs-info", (daily, det["failed"])
        assert failed(det).get("I.A.5.b") == "missing"
    reported = det["derived"]["daily_dose_mcg"]
    assert isinstance(reported, (int, float)) and not isinstance(reported, bool)
    if len(daily.normalize().as_tuple().digits) <= 15:  # a double prints it digit for digit
        assert D(repr(reported)) == daily, (reported, daily)
    assert D(repr(det["derived"]["bsa_m2"])) == bsa


# --------------------------------------------------------------------------- II.A.3 and the increase

CONTINUATION = {
    "id": "exact-II.A.3", "request_type": "continuation", "request_date": "2026-09-14",
    "line_of_business": "commercial", "formulary_status": "formulary",
    "member": {"birth_date": "2016-11-02", "weight_kg": 30},
    "prescriber": {"specialty": "hematology"},
    "diagnosis": {"condition": "B-ALL", "cd19_positive": True, "ph_status": "negative", "disease_status": "relapsed"},
    "regimen": {"mode": "single-agent", "with": []},
    "continuation": {"receiving_via_benefit": True, "days_on_therapy": 56, "indication_covered": True,
                     "responding": True},
}


@st.composite
def increases(draw) -> tuple[Decimal, Decimal, Decimal]:
    """(bsa_m2, new mcg/m2/day, previous mcg/day): the new daily dose near the maximum, the
    previous one at, just under or just over the new one."""
    bsa, per_m2 = draw(per_m2_at_the_maximum())
    new = exactly(bsa, per_m2)
    previous = draw(st.one_of(st.just(new), near(new, draw(st.integers(0, 8))), decimals("1", "40", 2)))
    return bsa, per_m2, previous if previous > 0 else D(1)


@PROPERTY
@given(triple=increases())
@example(triple=(D("1.12"), D("25"), D("28")))  # the same 28 mcg/day: no increase (a float says 28.000000000000004)
@example(triple=(D("0.8"), D("35"), D("27.999999")))
@example(triple=(D("0.8"), D("37.5"), D("30")))  # 30 = 30: no increase, above the maximum is then allowed
def test_II_A_3_and_the_dose_increase_are_the_exact_comparisons(triple):
    bsa, per_m2, previous = triple
    request = copy.deepcopy(CONTINUATION)
    request["member"]["bsa_m2"] = as_json(bsa)
    request["dose"] = {"value": as_json(per_m2), "unit": "mcg/m2/day"}
    request["continuation"]["previous_dose"] = {"value": as_json(previous), "unit": "mcg/day"}
    det = evaluate(request)
    new = exactly(bsa, per_m2)
    increase = new > previous
    assert det["derived"]["dose_increase"] is increase, (new, previous)
    if increase and new > MAXIMUM:
        assert det["decision"] == "needs-info", det["failed"]
        assert failed(det).get("II.A.3.b") == "missing"
    else:
        assert det["decision"] == "approve", (new, previous, det["failed"])


# --------------------------------------------------------------------------- the weight band at 45 kg

ADULT_FIXED = {
    "id": "exact-weight", "request_type": "initial", "request_date": "2026-11-01",
    "line_of_business": "commercial", "formulary_status": "formulary",
    "member": {"birth_date": "1981-03-12"},
    "prescriber": {"specialty": "hematology-oncology"},
    "diagnosis": {"condition": "B-ALL", "cd19_positive": True, "ph_status": "negative",
                  "disease_status": "complete-remission", "mrd": {"status": "negative"}},
    "regimen": {"mode": "single-agent", "with": [], "phase": "consolidation"},
    "dose": {"value": 28, "unit": "mcg/day"},
}


@PROPERTY
@given(weight=st.one_of(st.integers(0, 12).flatmap(lambda p: near(FIXED_DOSE_KG, p, 3)),
                        decimals("30", "60", 3)))
@example(weight=D("45"))
@example(weight=D("44.999999999999"))
@example(weight=D("45.000000000001"))
def test_the_weight_band_is_the_exact_comparison(weight):
    request = copy.deepcopy(ADULT_FIXED)
    request["member"]["weight_kg"] = as_json(weight)
    det = evaluate(request)
    fixed = weight >= FIXED_DOSE_KG
    assert det["derived"]["weight_band"] == ("fixed-dose" if fixed else "bsa-based"), weight
    # a mcg/day dose below 45 kg is a fixed dose where Section V doses by BSA
    assert ("dose-fixed-below-45-kg" in codes(det)) is (not fixed), weight


# --------------------------------------------------------------------------- dose warnings' tolerances

LABEL_DAY = {  # MRD-positive B-ALL, cycle 2 day 10: Section V's dose is 28 mcg/day (>= 45 kg),
    # 15 mcg/m2/day times the BSA (< 45 kg)
    "id": "exact-label", "request_type": "initial", "request_date": "2026-11-01",
    "line_of_business": "commercial", "formulary_status": "formulary",
    "prescriber": {"specialty": "hematology-oncology"},
    "diagnosis": {"condition": "B-ALL", "cd19_positive": True, "disease_status": "complete-remission",
                  "mrd": {"status": "positive", "level_percent": 0.5}},
    "regimen": {"mode": "single-agent", "with": [], "cycle": 2, "day": 10},
}
LABEL_FIXED, LABEL_PER_M2 = D(28), D(15)


@PROPERTY
@given(offset=st.one_of(st.integers(1, 9).flatmap(lambda p: near(TOLERANCE, p, 2)),
                        st.integers(1, 9).flatmap(lambda p: near(-TOLERANCE, p, 2)),
                        decimals("-0.2", "0.2", 3)))
@example(offset=TOLERANCE)
@example(offset=-TOLERANCE)
@example(offset=D("0.0500000001"))
def test_the_label_tolerance_for_a_fixed_dose_is_exact(offset):
    request = copy.deepcopy(LABEL_DAY)
    request["member"] = {"birth_date": "1981-03-12", "weight_kg": 70}
    request["dose"] = {"value": as_json(LABEL_FIXED + offset), "unit": "mcg/day"}
    det = evaluate(request)
    assert ("dose-differs-from-label" in codes(det)) is (abs(offset) > TOLERANCE), offset


@PROPERTY
@given(pair=st.tuples(decimals("0.3", "1.5", 2), decimals("-0.3", "0.3", 4)))
@example(pair=(D("0.5"), D("0.1")))       # 0.1 x 0.5 = 0.05: at the tolerance
@example(pair=(D("1.25"), D("0.04")))     # 0.05 again
@example(pair=(D("0.8"), D("0.0625")))    # 0.05 again
@example(pair=(D("0.8"), D("0.0626")))    # 0.05008: over
def test_the_label_tolerance_for_a_bsa_dose_is_exact(pair):
    bsa, offset = pair
    request = copy.deepcopy(LABEL_DAY)
    request["member"] = {"birth_date": "2018-04-02", "weight_kg": 20, "bsa_m2": as_json(bsa)}
    request["dose"] = {"value": as_json(LABEL_PER_M2 + offset), "unit": "mcg/m2/day"}
    det = evaluate(request)
    label = min(exactly(LABEL_PER_M2, bsa), LABEL_FIXED)  # Section V caps at the maximum
    difference = exactly(LABEL_PER_M2 + offset, bsa) - label
    assert ("dose-differs-from-label" in codes(det)) is (abs(difference) > TOLERANCE), (bsa, offset)


STEP_UP = {  # relapsed B-ALL, cycle 1 day 3: the step-up dose, 9 mcg/day (>= 45 kg)
    "id": "exact-step-up", "request_type": "initial", "request_date": "2026-11-01",
    "line_of_business": "commercial", "formulary_status": "formulary",
    "member": {"birth_date": "1981-03-12", "weight_kg": 70},
    "prescriber": {"specialty": "hematology-oncology"},
    "diagnosis": {"condition": "B-ALL", "cd19_positive": True, "ph_status": "negative", "disease_status": "relapsed"},
    "regimen": {"mode": "single-agent", "with": [], "cycle": 1, "day": 3},
}
STEP_UP_DOSE = D(9)


@PROPERTY
@given(offset=st.one_of(st.integers(1, 9).flatmap(lambda p: near(TOLERANCE, p, 2)), decimals("-1", "1", 3)))
@example(offset=TOLERANCE)
@example(offset=D("0.05000000001"))
def test_the_step_up_tolerance_is_exact(offset):
    request = copy.deepcopy(STEP_UP)
    request["dose"] = {"value": as_json(STEP_UP_DOSE + offset), "unit": "mcg/day"}
    det = evaluate(request)
    assert ("step-up-missing" in codes(det)) is (offset > TOLERANCE), offset


# --------------------------------------------------------------------------- Section V figures

@pytest.mark.parametrize("bsa,units", [("0.8", 336), ("1.12", 471), ("1.37", 576), ("1.5", 630)])
def test_billing_units_are_rounded_up_from_the_exact_total(bsa, units):
    # MRD-positive cycle 1, < 45 kg: 28 days x 15 mcg/m2/day x BSA, capped at 28 mcg/day;
    # 1.12 m2: 16.8 mcg/day x 28 = 470.4 -> 471 units; 1.5 m2: 22.5 x 28 = 630 exactly, not 631.
    request = copy.deepcopy(LABEL_DAY)
    request["member"] = {"birth_date": "2018-04-02", "weight_kg": 20, "bsa_m2": as_json(D(bsa))}
    request["dose"] = {"value": 15, "unit": "mcg/m2/day"}
    request["regimen"]["cycle"] = 1
    check = reasoner.check_units(request, units, 1)
    assert check["units_allowed"] == units
    plan = reasoner.schedule(request)
    (cycle1,) = [c for c in plan["cycles"] if c["cycle"] == 1]
    assert D(repr(cycle1["total_mcg"])) == exactly(min(exactly(D(15), D(bsa)), MAXIMUM), D(28))


def test_mosteller_is_rounded_half_up_to_the_stated_places_exactly():
    kb = reasoner.default_reasoner().kb
    assert kb.decimal_places[BX.bodySurfaceArea] == 2  # ontology/derivations.ttl
    # (height cm, weight kg) -> sqrt(h x w / 3600), to the hundredth, half up
    for height, weight, bsa in [(115.2, 20, "0.8"), (125.44, 36, "1.12"), (126.5625, 36, "1.13"),
                                (124.3225, 36, "1.12"), (150, 44.9, "1.37"), (132, 33, "1.1")]:
        request = copy.deepcopy(CHILD_CONSOLIDATION)
        request["member"].update(height_cm=height, weight_kg=weight)
        det = evaluate(request)
        assert D(repr(det["derived"]["bsa_m2"])) == D(bsa), (height, weight, det["derived"]["bsa_m2"])
