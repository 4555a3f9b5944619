"""Each saved query (queries/*.rq) answers its question on a fixture store.

The fixture store holds a determination of every bundled example and every case in tests/cases,
with the PROV-O times set to known months, plus one request evaluated twice (needs-info, then
approve once the missing fact is sent). Expected answers are computed here from the
determinations themselves, from the Turtle (rdflib) or from the policy text, never from SPARQL.
"""

from __future__ import annotations

import copy
import json
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyoxigraph as ox
import pytest
from rdflib import Graph, URIRef
from rdflib.namespace import RDF, RDFS, SKOS
from typer.testing import CliRunner

from reasoner.sparql import store as st
from reasoner.cli import app

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))
CASES = sorted((ROOT / "tests" / "cases").glob("*.json"))
REEVALUATED = ROOT / "examples" / "needs-info-continuation-missing-response-commercial.json"
BX = "https://w3id.org/blincyto-pa/ontology#"
KB = "https://w3id.org/blincyto-pa/kb/"
MINE = ("tkis", "pathways", "section-v", "referral", "regimens", "decisions-by-month", "failed-criteria",
        "waiting-for-information", "approvals-by-pathway", "by-policy-version", "history")


@pytest.fixture(scope="module")
def fixture(tmp_path_factory, reasoner_for):
    """(store directory, evaluations in the order they were made)."""
    evaluations = []
    when = {"examples": datetime(2024, 9, 2, 9, 0, tzinfo=timezone.utc),
            "cases": datetime(2024, 10, 1, 9, 0, tzinfo=timezone.utc)}

    def add(ev, group: str) -> None:
        ev.started_at = when[group]
        ev.ended_at = when[group] + timedelta(seconds=1)
        when[group] += timedelta(minutes=1)
        evaluations.append(ev)

    for path in EXAMPLES:
        add(reasoner_for().evaluate_full(json.loads(path.read_text())), "examples")
    for path in CASES:
        case = json.loads(path.read_text())
        try:
            add(reasoner_for(tuple(case.get("kb", ()))).evaluate_full(case["request"]), "cases")
        except ValueError:  # a case of invalid input: no determination
            continue
    request = json.loads(REEVALUATED.read_text())
    request = copy.deepcopy(request)
    request["continuation"]["responding"] = True
    later = reasoner_for().evaluate_full(request)
    assert later.determination["decision"] == "approve"  # the missing fact was all it lacked
    when["later"] = datetime(2024, 11, 5, 9, 0, tzinfo=timezone.utc)
    add(later, "later")

    target = tmp_path_factory.mktemp("queries") / "store"
    with st.open_store(target) as s:
        s.add_all(evaluations)
    return target, evaluations


def rows(target: Path | None, name: str, **bindings: str) -> list[dict[str, str | None]]:
    text = st.with_bindings(st.with_prefixes(st.resolve_query(name)), bindings)
    results = st.query_local(target, text)
    names = [v.value for v in results.variables]
    return [{n: (r[n].value if r[n] is not None else None) for n in names} for r in results]


def dets(evaluations):
    return [ev.determination for ev in evaluations]


def kb_graph() -> Graph:
    g = Graph()
    for ttl in sorted((ROOT / "ontology").glob("*.ttl")):
        g.parse(ttl, format="turtle")
    return g


# --------------------------------------------------------------------------- the saved queries


def test_every_saved_query_states_its_question():
    saved = st.saved_queries()
    assert set(MINE) <= set(saved)
    for name, path in saved.items():
        first = path.read_text().splitlines()[0]
        assert first.startswith("# ") and len(st.query_question(path)) > 20, name


@pytest.mark.parametrize("name", MINE)
def test_cli_answers_like_in_process(fixture, name):
    target, _ = fixture
    result = CliRunner().invoke(app, ["query", name, "--store", str(target), "--format", "json"])
    assert result.exit_code == 0, result.output
    parsed = ox.parse_query_results(result.stdout_bytes, format=ox.QueryResultsFormat.JSON)
    names = [v.value for v in parsed.variables]
    cli = [{n: (r[n].value if r[n] is not None else None) for n in names} for r in parsed]
    assert cli == rows(target, name)


# --------------------------------------------------------------------------- the policy


def test_tkis_through_the_class_hierarchy(fixture):
    target, _ = fixture
    g = kb_graph()
    tki = URIRef(BX + "TyrosineKinaseInhibitor")
    classes = set(g.transitive_subjects(RDFS.subClassOf, tki))
    expected = {str(g.value(d, SKOS.prefLabel)): {str(b) for b in g.objects(d, URIRef(BX + "brandName"))}
                for c in classes for d in g.subjects(RDF.type, c)}
    for where in (None, target):  # the bundled KB, and a store whose request graphs repeat the types
        got = rows(where, "tkis")
        assert {r["generic"]: set(r["brands"].split(", ")) if r["brands"] else set() for r in got} == expected
        assert len(got) == len(expected)
    # the policy's examples: imatinib, Sprycel, Tasigna, Bosulif, Iclusig
    got = rows(target, "tkis")
    assert "imatinib" in {r["generic"] for r in got}
    assert {"Sprycel", "Tasigna", "Bosulif", "Iclusig"} <= {b for r in got for b in (r["brands"] or "").split(", ")}


def test_pathways_with_requirements_and_age_restrictions(fixture, reasoner_for):
    target, _ = fixture
    kb = reasoner_for().kb
    pathways = {c.number: c for c in kb.criteria.values() if c.is_pathway}
    got = rows(target, "pathways")
    assert [r["pathway"] for r in got] == sorted(pathways)
    for r in got:
        c = pathways[r["pathway"]]
        assert r["requires"] == c.sentence
        assert r["message"] == kb.shape_info[c.shape].message
    # "For adult disease only", "For pediatric disease only", "Ph-like pediatric ALL"
    restricted = {r["pathway"]: r["ageGroup"] for r in got if r["ageRestricted"] == "true"}
    assert restricted == {"I.A.4.c.iii": "adult", "I.A.4.c.iv": "pediatric", "I.A.4.d": "pediatric"}
    assert all(r["ageRestricted"] == "false" and r["ageGroup"] == "" for r in got if r["pathway"] not in restricted)
    within = {r["pathway"]: r["within"] for r in got}
    assert within["I.A.4.b.i"].startswith("I.A.4.b Philadelphia chromosome-positive")
    assert within["I.A.4.c.iii"].startswith("I.A.4.c Ph- disease")


def test_section_v_schedule_and_maximum_for_an_indication(fixture):
    target, _ = fixture
    got = rows(target, "section-v", indication="kb:indication-relapsed-refractory")
    assert {r["indication"] for r in got} == {KB + "indication-relapsed-refractory"}
    assert {r["maxDailyDoseMcg"] for r in got} == {"28"}
    fixed = [(r["cycles"], r["days"], r["dose"], r["unit"], r["treatmentFreeDays"])
             for r in got if r["weightBand"] == "fixed-dose"]
    # Section V, relapsed or refractory B-ALL, >= 45 kg: 9 mcg/day days 1-7, 28 mcg/day days 8-28,
    # a 14-day treatment-free interval; continued therapy 28 mcg/day days 1-28 then 56 days free.
    assert fixed[:3] == [("Induction cycle 1", "1-7", "9", "mcg/day", None),
                         ("Induction cycle 1", "8-28", "28", "mcg/day", None),
                         ("Induction cycle 1", "29-42", None, None, "14")]
    assert fixed[-1] == ("Continued therapy cycles 6-9", "29-84", None, None, "56")
    bsa = {(r["days"], r["dose"], r["unit"]) for r in got if r["weightBand"] == "bsa-based" and r["dose"]}
    assert ("1-7", "5", "mcg/m2/day") in bsa and ("8-28", "15", "mcg/m2/day") in bsa
    everything = rows(target, "section-v")
    assert {r["label"] for r in everything} == {"B-ALL (in remission and MRD-positive)",
                                                "B-ALL (relapsed or refractory)", "B-ALL (in the consolidation phase)"}


def test_referral_policy_for_a_line_of_business_and_formulary_status(fixture):
    target, evaluations = fixture
    got = rows(target, "referral", lineOfBusiness="kb:LOB-HIM", formularyStatus="kb:Formulary-non-formulary")
    assert {(r["section"], r["policy"]) for r in got} == {
        ("I.B.1.b", "HIM.PA.103"), ("I.B.2", "HIM.PA.154"), ("II.B.1.b", "HIM.PA.103"), ("II.B.2", "HIM.PA.154")}
    assert all(r["within"].startswith("I.B.1 ") or r["within"].startswith("II.B.1 ") for r in got
               if ".B.1." in r["section"])
    got = rows(target, "referral", lineOfBusiness="kb:LOB-commercial", formularyStatus="kb:Formulary-formulary")
    assert {(r["section"], r["policy"]) for r in got} == {
        ("I.B.1.a", "CP.CPA.190"), ("I.B.2", "CP.CPA.09"), ("II.B.1.a", "CP.CPA.190"), ("II.B.2", "CP.CPA.09")}
    got = rows(target, "referral", lineOfBusiness="kb:LOB-medicaid", formularyStatus="kb:Formulary-formulary")
    assert {(r["section"], r["policy"]) for r in got} == {
        ("I.B.1.a", "CP.PMN.255"), ("I.B.2", "CP.PMN.53"), ("II.B.1.a", "CP.PMN.255"), ("II.B.2", "CP.PMN.53")}
    # Every referral the engine made agrees with the table the query reads.
    table = {(r["section"], r["lineOfBusiness"], r["formularyStatus"]): r["policy"] for r in rows(target, "referral")}
    refers = [ev for ev in evaluations if ev.determination["decision"] == "refer"]
    assert refers
    for ev in refers:
        g = ev.request_graph
        lob = str(g.value(ev.request_iri, URIRef(BX + "lineOfBusiness")))
        formulary = g.value(ev.request_iri, URIRef(BX + "formularyStatus"))
        section, policy = ev.determination["referral"]["section"], ev.determination["referral"]["policy"]
        key = (section, lob, str(formulary) if formulary is not None else KB + "Formulary-formulary")
        assert table.get(key, table.get((section, lob, None))) == policy, (ev.determination["id"], key)


def test_components_of_pomp_and_the_interfant_regimen(fixture):
    target, _ = fixture
    got = rows(target, "regimens")
    by = defaultdict(set)
    for r in got:
        by[r["regimen"]].add(r["component"])
    # The policy: POMP (mercaptopurine, vincristine, methotrexate, prednisone); Interfant (prednisone,
    # dexamethasone, vincristine, cytarabine, daunorubicin, pegaspargase/ calaspargase, methotrexate;
    # intrathecal therapy: cytarabine, prednisone, methotrexate if CNS involvement).
    assert by["POMP"] == {"mercaptopurine", "vincristine", "methotrexate", "prednisone"}
    assert by["Interfant"] == {"prednisone", "dexamethasone", "vincristine", "cytarabine", "daunorubicin",
                               "pegaspargase/calaspargase", "methotrexate"}
    intrathecal = {r["component"] for r in got if r["regimen"] == "Interfant" and r["intrathecal"] == "true"}
    assert intrathecal == {"cytarabine", "prednisone", "methotrexate"}
    assert not any(r["intrathecal"] == "true" for r in got if r["regimen"] == "POMP")


# --------------------------------------------------------------------------- the determinations


def test_determinations_by_decision_and_month(fixture):
    target, evaluations = fixture
    expected = Counter((ev.ended_at.strftime("%Y-%m"), ev.determination["decision"]) for ev in evaluations)
    got = {(r["month"], r["decision"]): int(r["determinations"]) for r in rows(target, "decisions-by-month")}
    assert got == dict(expected)
    assert {m for m, _ in got} == {"2024-09", "2024-10", "2024-11"}


def test_most_often_failed_criteria(fixture):
    target, evaluations = fixture
    expected = Counter()
    for det in dets(evaluations):
        expected.update({(f["criterion"], f["kind"]) for f in det["failed"]})
    got = rows(target, "failed-criteria")
    assert {(r["criterion"], r["kind"]): int(r["determinations"]) for r in got} == dict(expected)
    counts = [int(r["determinations"]) for r in got]
    assert counts == sorted(counts, reverse=True)
    assert got[0]["policyText"]


def test_requests_waiting_for_information_and_what_each_lacks(fixture):
    target, evaluations = fixture
    latest = {}
    for ev in evaluations:  # in the order made
        latest[ev.determination["id"]] = ev.determination
    expected = {}
    for request_id, det in latest.items():
        if det["decision"] == "needs-info":
            for f in det["failed"]:
                if f["kind"] == "missing":
                    expected[(request_id, f["criterion"])] = set(f.get("needs") or [])
    got = rows(target, "waiting-for-information")
    assert {(r["requestId"], r["criterion"]): set(r["send"].split(", ")) - {""} for r in got} == expected
    reevaluated = json.loads(REEVALUATED.read_text())["id"]
    assert reevaluated not in {r["requestId"] for r in got}  # approved since
    assert any(r["send"] for r in got)


def test_approvals_by_pathway(fixture):
    target, evaluations = fixture
    expected = Counter(p for det in dets(evaluations) if det["decision"] == "approve" for p in det["pathways"])
    got = {r["pathway"]: int(r["approvals"]) for r in rows(target, "approvals-by-pathway")}
    assert {k: v for k, v in got.items() if v} == dict(expected)
    assert "II.A" in got and len(got) == 10  # every pathway is listed, with 0 where none


def test_every_determination_under_a_policy_version(fixture):
    target, evaluations = fixture
    got = rows(target, "by-policy-version", version="cp:version-2024-08")
    assert len(got) == len(evaluations)
    assert {r["versionLabel"] for r in got} == {"08.24"}
    assert Counter(r["requestId"] for r in got) == Counter(ev.determination["id"] for ev in evaluations)
    assert all(r["engineVersion"] for r in got)
    assert rows(target, "by-policy-version", version="<https://example.org/no-such-version>") == []


def test_history_of_a_re_evaluated_request(fixture):
    target, _ = fixture
    request_id = json.loads(REEVALUATED.read_text())["id"]
    got = rows(target, "history", requestId=json.dumps(request_id))
    assert [r["decision"] for r in got] == ["needs-info", "approve"]
    assert got[1]["pathways"] == "II.A"
    assert got[0]["determination"] != got[1]["determination"]
