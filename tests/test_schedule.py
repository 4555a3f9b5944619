"""reasoner.schedule / reasoner.check_units and `blincyto schedule` / `blincyto units`.

Expected figures are worked out by hand from the Section V table of CP.PHAR.312 (08.24), not from
the engine:

- 70 kg adult, 175 cm: fixed-dose band (>= 45 kg). 28 days x 28 mcg = 784 mcg a cycle; relapsed or
  refractory cycle 1 = 7 x 9 + 21 x 28 = 63 + 588 = 651 mcg.
- 20 kg child, 115.2 cm: Mosteller BSA = sqrt(115.2 x 20 / 3600) = sqrt(0.64) = 0.8 m2.
  15 mcg/m2/day x 0.8 = 12 mcg/day; 5 mcg/m2/day x 0.8 = 4 mcg/day.
  A full cycle 28 x 12 = 336 mcg; relapsed cycle 1 = 7 x 4 + 21 x 12 = 28 + 252 = 280 mcg.
- 44.9 kg child, 150 cm (still under 45 kg): BSA = sqrt(150 x 44.9 / 3600) = sqrt(1.870833) = 1.367784,
  rounded half up to the hundredth (ontology/derivations.ttl, bx:decimalPlaces 2) = 1.37 m2.
  15 x 1.37 = 20.55 mcg/day; 5 x 1.37 = 6.85 mcg/day (exact decimals).
  A full cycle 28 x 20.55 = 575.4 mcg -> 576 units (rounded up to a whole unit);
  relapsed cycle 1 = 7 x 6.85 + 21 x 20.55 = 47.95 + 431.55 = 479.5 mcg -> 480 units.
- Vials: 35 mcg single-dose vials, one bag per day: every dose here is at most 28 mcg/day, so
  1 vial a dose day: 28 vials a cycle (7 + 21 in relapsed cycle 1).
- J9039: 1 unit = 1 mcg.
- Course: MRD-positive 1 induction + up to 3 consolidation cycles (2-4 optional), days 29-42
  treatment-free (14 days); relapsed or refractory 2 induction + 3 consolidation + up to 4
  continued therapy (6-9 optional; days 29-84 treatment-free, 56 days); consolidation phase 1 cycle.
"""
from __future__ import annotations

import copy
import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import reasoner
from reasoner.cli import app
from reasoner.policy.kb import BX

TOL = 0.01

ADULT = {"birth_date": "1981-03-12", "weight_kg": 70.0, "height_cm": 175}
CHILD20 = {"birth_date": "2018-04-02", "weight_kg": 20.0, "height_cm": 115.2}
CHILD449 = {"birth_date": "2013-06-15", "weight_kg": 44.9, "height_cm": 150}
PATIENTS = {"adult-70kg": ADULT, "child-20kg": CHILD20, "child-44.9kg": CHILD449}

DIAGNOSES = {
    "mrd-positive": ({"condition": "B-ALL", "cd19_positive": True, "disease_status": "complete-remission",
                      "mrd": {"status": "positive", "level_percent": 0.5}}, {}),
    "relapsed-refractory": ({"condition": "B-ALL", "cd19_positive": True, "ph_status": "negative",
                             "disease_status": "refractory"}, {}),
    "consolidation": ({"condition": "B-ALL", "cd19_positive": True, "ph_status": "negative",
                       "disease_status": "complete-remission", "mrd": {"status": "negative"}},
                      {"phase": "consolidation"}),
}
LABELS = {"mrd-positive": "B-ALL (in remission and MRD-positive)",
          "relapsed-refractory": "B-ALL (relapsed or refractory)",
          "consolidation": "B-ALL (in the consolidation phase)"}


def request(patient: dict, indication: str, **extra) -> dict:
    diagnosis, regimen = DIAGNOSES[indication]
    r = {"id": f"sched-{indication}", "request_type": "initial", "request_date": "2026-11-01",
         "line_of_business": "commercial", "member": copy.deepcopy(patient),
         "prescriber": {"specialty": "hematology-oncology"}, "diagnosis": copy.deepcopy(diagnosis),
         "regimen": {"mode": "single-agent", "with": [], **regimen}}
    r.update(extra)
    return r


# ------------------------------------------------------------------------ hand-computed plans
# (daily mcg of a standard cycle, of the step-up days, of relapsed cycle-1 days 8-28)
DAILY = {"adult-70kg": (28.0, 9.0), "child-20kg": (12.0, 4.0), "child-44.9kg": (20.55, 6.85)}
CYCLE_MCG = {"adult-70kg": 784.0, "child-20kg": 336.0, "child-44.9kg": 575.4}
CYCLE_UNITS = {"adult-70kg": 784, "child-20kg": 336, "child-44.9kg": 576}
RR_CYCLE1_MCG = {"adult-70kg": 651.0, "child-20kg": 280.0, "child-44.9kg": 479.5}
RR_CYCLE1_UNITS = {"adult-70kg": 651, "child-20kg": 280, "child-44.9kg": 480}
BSA = {"child-20kg": 0.8, "child-44.9kg": 1.37}

# cycle -> (phase, optional, last treatment-free day, treatment-free days)
COURSES = {
    "mrd-positive": {1: ("induction", False, 42, 14), 2: ("consolidation", True, 42, 14),
                     3: ("consolidation", True, 42, 14), 4: ("consolidation", True, 42, 14)},
    "relapsed-refractory": {1: ("induction", False, 42, 14), 2: ("induction", False, 42, 14),
                            3: ("consolidation", False, 42, 14), 4: ("consolidation", False, 42, 14),
                            5: ("consolidation", False, 42, 14), 6: ("continued therapy", True, 84, 56),
                            7: ("continued therapy", True, 84, 56), 8: ("continued therapy", True, 84, 56),
                            9: ("continued therapy", True, 84, 56)},
    "consolidation": {1: ("consolidation", False, 42, 14)},
}
COURSE_TOTAL_MCG = {  # whole course, optional cycles included
    ("mrd-positive", "adult-70kg"): 4 * 784.0, ("mrd-positive", "child-20kg"): 4 * 336.0,
    ("mrd-positive", "child-44.9kg"): 4 * 575.4,
    ("relapsed-refractory", "adult-70kg"): 651 + 8 * 784.0, ("relapsed-refractory", "child-20kg"): 280 + 8 * 336.0,
    ("relapsed-refractory", "child-44.9kg"): 479.5 + 8 * 575.4,
    ("consolidation", "adult-70kg"): 784.0, ("consolidation", "child-20kg"): 336.0,
    ("consolidation", "child-44.9kg"): 575.4,
}
CASES = [(i, p) for i in COURSES for p in PATIENTS]


def expected_segments(indication: str, patient: str, cycle: int) -> list[tuple[int, int, float | None]]:
    full, step = DAILY[patient]
    _, _, last_free, _ = COURSES[indication][cycle]
    dose = [(1, 7, step), (8, 28, full)] if (indication, cycle) == ("relapsed-refractory", 1) else [(1, 28, full)]
    return dose + [(29, last_free, None)]


@pytest.mark.parametrize("indication,patient", CASES, ids=[f"{i}-{p}" for i, p in CASES])
def test_schedule_matches_the_hand_computed_plan(indication, patient):
    plan = reasoner.schedule(request(PATIENTS[patient], indication))
    assert plan["complete"] and plan["missing"] == [] and plan["message"] is None
    assert plan["indication"]["label"] == LABELS[indication]
    assert plan["weight_band"]["notation"] == ("fixed-dose" if patient == "adult-70kg" else "bsa-based")
    if patient in BSA:
        assert math.isclose(plan["bsa_m2"], BSA[patient], abs_tol=1e-4)
    assert plan["maximum_daily_dose_mcg"] == 28
    course = COURSES[indication]
    assert plan["maximum_cycles"] == max(course)
    assert [c["cycle"] for c in plan["cycles"]] == sorted(course)
    for c in plan["cycles"]:
        phase, optional, _, free_days = course[c["cycle"]]
        assert (c["phase"], c["optional"]) == (phase, optional), c["cycle"]
        got = [(s["first_day"], s["last_day"], s.get("mcg_per_day")) for s in c["segments"]]
        want = expected_segments(indication, patient, c["cycle"])
        assert [g[:2] for g in got] == [w[:2] for w in want]
        for g, w in zip(got, want):
            if w[2] is None:
                assert g[2] is None
            else:
                assert math.isclose(g[2], w[2], abs_tol=TOL), (c["cycle"], g, w)
        free = [s for s in c["segments"] if s["kind"] == "treatment-free"]
        assert [s["treatment_free_days"] for s in free] == [free_days]
        step_up = (indication, c["cycle"]) == ("relapsed-refractory", 1)
        assert math.isclose(c["total_mcg"], (RR_CYCLE1_MCG if step_up else CYCLE_MCG)[patient], abs_tol=TOL)
        assert c["units"] == (RR_CYCLE1_UNITS if step_up else CYCLE_UNITS)[patient]
        assert c["vials"] == 28
        assert [s["step_up"] for s in c["segments"] if s["kind"] == "dose"] == \
            ([True, False] if step_up else [False])
    assert math.isclose(plan["course_maximum"]["total_mcg"], COURSE_TOTAL_MCG[(indication, patient)], abs_tol=0.05)
    assert plan["course_maximum"]["vials"] == 28 * len(course)


def test_schedule_states_its_rules_and_figures_from_the_kb():
    plan = reasoner.schedule(request(ADULT, "relapsed-refractory"))
    assert plan["billing"]["code"] == "J9039" and plan["billing"]["mcg_per_unit"] == 1
    assert "rounded up" in plan["billing"]["rule"]
    assert plan["vials"]["strength_mcg"] == 35
    assert "35 mcg" in plan["vials"]["rule"] and "per day" in plan["vials"]["rule"]
    assert plan["section"] == "V" and plan["policy_version"] == "08.24"
    segment = plan["cycles"][0]["segments"][0]
    assert (segment["label_dose"], segment["label_unit"]) == (9, "mcg/day")


def test_bsa_based_doses_are_capped_at_the_maximum():
    # 44.9 kg with a sent BSA of 2.0 m2: 15 x 2.0 = 30 -> 28 mcg/day (capped); 5 x 2.0 = 10 (not capped).
    plan = reasoner.schedule(request(dict(CHILD449, bsa_m2=2.0), "relapsed-refractory"))
    first = plan["cycles"][0]["segments"]
    assert (first[0]["mcg_per_day"], first[0]["capped"]) == (10.0, False)
    assert (first[1]["mcg_per_day"], first[1]["capped"]) == (28.0, True)
    assert plan["cycles"][0]["total_mcg"] == 7 * 10 + 21 * 28  # 658
    assert plan["cycles"][1]["units"] == 784


def test_an_overlap_of_rows_takes_the_more_specific_one():
    # CR + MRD-positive + Ph-negative consolidation fits two rows: MRD-positive takes precedence.
    r = request(ADULT, "mrd-positive")
    r["diagnosis"]["ph_status"] = "negative"
    r["regimen"]["phase"] = "consolidation"
    plan = reasoner.schedule(r)
    assert plan["indication"]["label"] == LABELS["mrd-positive"]
    assert plan["indication"]["also_fits"] == [LABELS["consolidation"]]
    # relapsed disease in its consolidation cycles is the relapsed/refractory course
    r = request(ADULT, "relapsed-refractory", regimen={"mode": "single-agent", "phase": "consolidation"})
    assert reasoner.schedule(r)["indication"]["label"] == LABELS["relapsed-refractory"]


def test_missing_weight_is_reported_not_a_crash():
    plan = reasoner.schedule(request({"birth_date": "1981-03-12"}, "mrd-positive"))
    assert not plan["complete"] and plan["missing"] == ["member.weight_kg"]
    assert plan["cycles"] == [] and plan["indication"]["label"] == LABELS["mrd-positive"]
    assert "member.weight_kg" in plan["message"]


def test_missing_bsa_keeps_the_plan_without_mcg():
    plan = reasoner.schedule(request({"birth_date": "2018-04-02", "weight_kg": 20.0}, "consolidation"))
    assert not plan["complete"]
    assert plan["missing"] == ["member.height_cm", "member.bsa_m2"]
    (cycle,) = plan["cycles"]
    assert cycle["segments"][0]["label_dose"] == 15 and cycle["segments"][0]["mcg_per_day"] is None
    assert cycle["total_mcg"] is None and cycle["units"] is None and cycle["vials"] is None


def test_unknown_indication_names_the_fields_to_send():
    r = request(ADULT, "consolidation")
    del r["diagnosis"]["disease_status"], r["diagnosis"]["mrd"]
    r["diagnosis"]["ph_status"] = "unknown"  # reading 2: the same as not sent
    plan = reasoner.schedule(r)
    assert plan["indication"] is None and not plan["complete"]
    assert plan["missing"] == ["diagnosis.disease_status", "diagnosis.mrd.status", "diagnosis.ph_status"]


def test_no_row_fits_a_ph_positive_induction():
    r = request(ADULT, "consolidation")
    r["diagnosis"].update(ph_status="positive", disease_status="newly-diagnosed")
    r["regimen"] = {"phase": "induction", "mode": "combination", "with": ["imatinib"]}
    plan = reasoner.schedule(r)
    assert plan["indication"] is None and plan["missing"] == [] and not plan["complete"]
    assert "No Section V row fits" in plan["message"]


def test_invalid_request_raises_naming_the_field():
    r = request(ADULT, "mrd-positive")
    r["member"]["weight_kg"] = -3
    with pytest.raises(reasoner.InvalidRequest) as err:
        reasoner.schedule(r)
    assert err.value.field == "member.weight_kg"


# ------------------------------------------------------------------------ property: never above the maximum

def _kb_maximum() -> float:
    g = reasoner.default_reasoner().kb.graph
    return max(float(o.toPython()) for o in g.objects(None, BX.maximumDailyDoseMcg))


members = st.fixed_dictionaries(
    {"birth_date": st.just("2012-02-01"), "weight_kg": st.integers(5, 2000).map(lambda n: n / 10)},
    optional={"height_cm": st.integers(450, 2100).map(lambda n: n / 10),
              "bsa_m2": st.integers(20, 400).map(lambda n: n / 100)})


@settings(max_examples=80, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(member=members, indication=st.sampled_from(sorted(COURSES)))
def test_no_schedule_ever_exceeds_the_maximum_daily_dose(member, indication):
    maximum = _kb_maximum()
    assert maximum == 28  # Section V, "Maximum Dose"
    plan = reasoner.schedule(request(member, indication))
    for cycle in plan["cycles"]:
        for s in cycle["segments"]:
            if s.get("mcg_per_day") is not None:
                assert s["mcg_per_day"] <= maximum + 1e-9, s
        if cycle["total_mcg"] is not None:
            assert cycle["total_mcg"] <= maximum * sum(s["days"] for s in cycle["segments"] if s["kind"] == "dose")
            assert cycle["units"] == math.ceil(round(cycle["total_mcg"], 6))


# ------------------------------------------------------------------------ units on a claim

def test_check_units_over_the_allowance():
    out = reasoner.check_units(request(ADULT, "relapsed-refractory"), 700, 1)
    assert (out["units_allowed"], out["difference"], out["within_allowed"]) == (651, 49, False)
    assert "651" in out["explanation"] and "49 units more" in out["explanation"]
    assert out["billing_code"] == "J9039"


@pytest.mark.parametrize("billed,within", [(576, True), (577, False), (400, True)])
def test_check_units_rounds_the_allowance_up_to_a_whole_unit(billed, within):
    out = reasoner.check_units(request(CHILD449, "mrd-positive"), billed, 2)  # 575.4 mcg -> 576 units
    assert out["units_allowed"] == 576 and out["within_allowed"] is within
    assert out["difference"] == billed - 576


def test_check_units_beyond_the_course_allows_none():
    out = reasoner.check_units(request(ADULT, "consolidation"), 10, 2)
    assert (out["units_allowed"], out["within_allowed"]) == (0, False)
    assert "beyond" in out["explanation"]


def test_check_units_reads_the_request_fields_by_default():
    r = request(ADULT, "mrd-positive", units_billed=784)
    r["regimen"]["cycle"] = 3
    out = reasoner.check_units(r)
    assert (out["cycle"], out["units_billed"], out["units_allowed"], out["difference"]) == (3, 784, 784, 0)


def test_check_units_unknown_when_weight_missing():
    out = reasoner.check_units(request({"birth_date": "1981-03-12"}, "mrd-positive"), 784, 1)
    assert out["units_allowed"] is None and out["within_allowed"] is None
    assert out["missing"] == ["member.weight_kg"] and "member.weight_kg" in out["explanation"]


@pytest.mark.parametrize("units,cycle,field", [(-1, 1, "units_billed"), (True, 1, "units_billed"),
                                               (100, 0, "regimen.cycle"), (100, None, "regimen.cycle")])
def test_check_units_rejects_bad_arguments(units, cycle, field):
    with pytest.raises(reasoner.InvalidRequest) as err:
        reasoner.check_units(request(ADULT, "mrd-positive"), units, cycle)
    assert err.value.field == field


# ------------------------------------------------------------------------ command line

runner = CliRunner()


def _write(tmp_path, data) -> str:
    path = tmp_path / "request.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_cli_schedule_text_table(tmp_path):
    result = runner.invoke(app, ["schedule", _write(tmp_path, request(CHILD20, "relapsed-refractory"))])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "B-ALL (relapsed or refractory)" in out and "0.8 m2" in out
    for text in ("5 mcg/m2/day (step-up)", "15 mcg/m2/day", "treatment-free (56 days)", "J9039 units", "280", "336"):
        assert text in out, text
    assert "\x1b[" not in out


def test_cli_schedule_json(tmp_path):
    result = runner.invoke(app, ["schedule", _write(tmp_path, request(ADULT, "mrd-positive")), "--format", "json"])
    assert result.exit_code == 0
    plan = json.loads(result.stdout)
    assert [c["units"] for c in plan["cycles"]] == [784, 784, 784, 784]


def test_cli_schedule_invalid_input_exits_2(tmp_path):
    r = request(ADULT, "mrd-positive")
    r["member"]["birth_date"] = "2030-01-01"
    result = runner.invoke(app, ["schedule", _write(tmp_path, r)])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("error: member.birth_date: ")


def test_cli_units(tmp_path):
    path = _write(tmp_path, request(ADULT, "mrd-positive"))
    result = runner.invoke(app, ["units", path, "--units-billed", "800", "--cycle", "1"])
    assert result.exit_code == 0 and "EXCEEDS" in result.stdout and "16 units more" in result.stdout
    data = json.loads(runner.invoke(app, ["units", path, "--units-billed", "784", "--cycle", "1",
                                          "--format", "json"]).stdout)
    assert data["within_allowed"] is True
    missing = runner.invoke(app, ["units", path, "--units-billed", "784"])
    assert missing.exit_code == 2 and missing.stderr.startswith("error: regimen.cycle: ")


@pytest.mark.parametrize("name", ["indications", "schedule", "product"])
def test_section_v_rows_by_oxigraph_equal_rdflib(name):
    """dosing reads Section V's saved queries with Oxigraph; rdflib's SPARQL engine gives the same rows
    (the same values: Oxigraph writes a decimal's lexical form canonically, 28 for 28.0). The tables
    built from them are compared with hand-computed figures by the tests above."""
    from decimal import Decimal

    import reasoner
    from rdflib import Literal
    from reasoner.dosing.tables import _rows, query

    def value(term):
        if not isinstance(term, Literal):
            return term
        v = term.toPython()
        return (v.normalize() if isinstance(v, Decimal) else v, term.datatype, term.language)

    kb = reasoner.default_reasoner().kb
    drug = next(iter(kb.policies.values())).covered_drug
    bindings = {"drug": drug} if name != "schedule" else {}
    by_oxigraph = [sorted((k, value(v)) for k, v in vars(row).items()) for row in _rows(kb, name, bindings)]
    result = kb.graph.query(query(name), initBindings=bindings)
    by_rdflib = [sorted((str(v), value(row[v])) for v in result.vars) for row in result]
    # the same rows; within ties of ORDER BY (a selector's several values) the order is the engine's
    assert sorted(map(repr, by_oxigraph)) == sorted(map(repr, by_rdflib))
    assert by_oxigraph, "the query found nothing"
