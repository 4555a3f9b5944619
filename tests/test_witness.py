"""Witnesses: a request per pathway that satisfies it, and a twin that fails it only there.

The requests are searched for from the shapes and the ontology, so these tests hold whatever the
policy says: every pathway of the tree gets one; a pathway added in Turtle gets one with no Python;
a pathway whose shapes contradict each other is reported unreachable.

The search's result is kept by content (find_witnesses, reasoner/policy/cache.py). The tests of the
search on the shipped graphs, on a pathway added in Turtle and on an unreachable one run it for real
(`refresh=True`: never a kept result) and keep what they found; the command line's test reads it back
and must print exactly what the search found. How it is kept (the key, the
ABSENT marker read back as itself) is tested with a stand-in search.
"""
from __future__ import annotations

import json
import pickle
from dataclasses import asdict
from datetime import date

import pytest
from rdflib.namespace import SH
from typer.testing import CliRunner

from authoring_util import make_version

import reasoner
from reasoner.flow.check import check_request
from reasoner.cli import app
from reasoner.authoring.outcomes import subtree
from reasoner.authoring import witness
from reasoner.authoring.space import ABSENT, RequestSpace
from reasoner.authoring.witness import Twin, Witness, all_pathways, find_witnesses

WHEN = date(2026, 6, 1)


@pytest.fixture(scope="module")
def engine():
    return reasoner.default_reasoner()


@pytest.fixture(scope="module")
def witnesses(engine):
    return {w.pathway: w for w in find_witnesses(engine, WHEN, refresh=True)}  # the search, kept


def test_every_pathway_of_the_tree_has_a_witness(engine, witnesses):
    assert set(witnesses) == {p.number for _, p, _ in all_pathways(engine)}
    for number, w in witnesses.items():
        assert w.reachable, (number, w.remaining)
        det = engine.evaluate(check_request(w.request))  # a valid contract-v1 request, re-evaluated
        assert det["decision"] == "approve" and number in det["pathways"], (number, det)


def test_each_twin_changes_one_field_and_fails_only_within_its_pathway(engine, witnesses):
    space = RequestSpace(engine.kb, WHEN)
    for number, w in witnesses.items():
        t = w.twin
        assert t is not None, number
        assert space.with_value(w.request, t.field, t.after) == t.request
        assert space.get(w.request, t.field) == t.before or t.before is ABSENT
        det = engine.evaluate(t.request)
        assert number not in det["pathways"]
        own = {c.number for c in subtree(engine.kb, engine.kb.by_number(number))}
        assert t.failed and {f.split(":")[0] for f in t.failed} <= own, (number, t.failed)
        assert any(f.endswith(":not-met") for f in t.failed), (number, t.failed)


def test_witnesses_carry_the_thresholds_of_the_version_they_are_built_for():
    draft = reasoner.Reasoner(version="draft-2025")
    shape = draft.kb.by_number("I.A.5.a").shape
    limit = next(o.toPython() for s, o in draft.kb.shapes.subject_objects(SH.maxInclusive)
                 if draft.kb.shape_owner.get(str(s)) == shape)
    ws = find_witnesses(draft, WHEN)  # kept or searched (the review in tests/test_html_browser.py asks the same)
    doses = {w.request["dose"]["value"] for w in ws if w.request.get("request_type") == "initial"}
    assert doses and all(d <= limit for d in doses)
    assert all(w.reachable for w in ws)


def test_a_pathway_added_in_turtle_gets_a_witness(tmp_path):
    folder = make_version(tmp_path, "new-pathway", """
cp:I.A.4 bx:anyOf ( cp:I.A.4.a cp:I.A.4.b cp:I.A.4.c cp:I.A.4.d cp:I.A.4.e cp:I.A.4.f ) .
cp:I.A.4.f a bx:Criterion , bx:Pathway ;
    dcterms:identifier "I.A.4.f" ;
    bx:policySentence "Refractory disease, as maintenance therapy in combination with a TKI;" ;
    bx:shape shp:I.A.4.f .
shp:I.A.4.f a sh:NodeShape ;
    sh:targetClass bx:InitialRequest ;
    sh:name "I.A.4.f" ; dcterms:identifier "I.A.4.f" ; bx:criterion cp:I.A.4.f ;
    sh:message "Requires refractory disease, maintenance, in combination with a TKI." ;
    bx:policySentence "Refractory disease, as maintenance therapy in combination with a TKI;" ;
    sh:property [ sh:path ( bx:diagnosis bx:diseaseStatus ) ; sh:minCount 1 ; sh:hasValue kb:DiseaseStatus-refractory ] ;
    sh:property [ sh:path ( bx:regimen bx:phase ) ; sh:minCount 1 ; sh:hasValue kb:Phase-maintenance ] ;
    sh:property [ sh:path ( bx:regimen bx:mode ) ; sh:minCount 1 ; sh:hasValue kb:Mode-combination ] ;
    sh:property [ sh:path ( bx:regimen bx:withAgent ) ;
                  sh:qualifiedValueShape [ sh:class bx:TyrosineKinaseInhibitor ] ; sh:qualifiedMinCount 1 ] .
""")
    engine = reasoner.Reasoner(version=folder)
    w = {x.pathway: x for x in find_witnesses(engine, WHEN, refresh=True)}["I.A.4.f"]
    assert w.reachable and "I.A.4.f" in w.pathways
    assert w.request["diagnosis"]["disease_status"] == "refractory"
    assert w.request["regimen"]["phase"] == "maintenance" and w.request["regimen"]["mode"] == "combination"
    assert w.twin is not None and w.twin.failed == ["I.A.4.f:not-met"]


CONTRADICTION = """
shp:I.A.4.c.iii sh:property
    [ sh:path ( bx:member bx:ageGroup ) ; sh:minCount 1 ; sh:hasValue kb:AgeGroup-adult ] ,
    [ sh:path ( bx:member bx:ageGroup ) ; sh:minCount 1 ; sh:hasValue kb:AgeGroup-pediatric ] ,
    [ sh:path ( bx:regimen bx:phase ) ; sh:minCount 1 ; sh:hasValue kb:Phase-maintenance ] .
"""


def test_a_pathway_no_request_can_satisfy_is_unreachable(tmp_path):
    folder = make_version(tmp_path, "contradiction", CONTRADICTION)
    ws = {w.pathway: w for w in find_witnesses(reasoner.Reasoner(version=folder), WHEN, refresh=True)}
    assert not ws["I.A.4.c.iii"].reachable
    assert any(r.startswith("I.A.4.c.iii:") for r in ws["I.A.4.c.iii"].remaining)
    assert all(w.reachable for n, w in ws.items() if n != "I.A.4.c.iii")


def test_cli_witnesses(tmp_path, witnesses):
    runner = CliRunner()
    result = runner.invoke(app, ["witnesses", "--request-date", "2026-06-01"])
    assert result.exit_code == 0, result.output
    n = len(all_pathways(reasoner.default_reasoner()))
    assert f"{n}/{n} pathways reachable" in result.output
    data = json.loads(runner.invoke(app, ["witnesses", "--request-date", "2026-06-01", "--format", "json"]).output)
    assert all(w["reachable"] and w["request"]["request_date"] == "2026-06-01" for w in data)
    searched = json.loads(json.dumps([asdict(w) for w in witnesses.values()], default=str))
    assert data == searched  # what the command prints (kept or not) is what the search finds
    folder = make_version(tmp_path, "contradiction", CONTRADICTION)
    result = runner.invoke(app, ["witnesses", "--version", str(folder), "--request-date", "2026-06-01"])
    assert result.exit_code == 1 and "I.A.4.c.iii" in result.output and "UNREACHABLE" in result.output


def test_witnesses_are_kept_by_content_engine_and_date(engine, tmp_path, monkeypatch):
    """A kept result is read back only for the same knowledge base, engine and request date; the
    ABSENT marker of a twin is read back as ABSENT itself (`is`, as the search compares it)."""
    monkeypatch.setenv("BLINCYTO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("BLINCYTO_CACHE", raising=False)
    searches = []

    def stand_in(r, when):
        searches.append((r.engine, when))
        twin = Twin("diagnosis.mrd.status", "positive", ABSENT, {"id": "x"}, "needs-info", ["I.A.4.a:missing"])
        return [Witness("I.A.4.a", True, {"id": "x"}, "approve", ["I.A.4.a"], twin=twin, evaluations=len(searches))]

    monkeypatch.setattr(witness, "search_witnesses", stand_in)
    other = reasoner.Reasoner(engine="pyshacl", kb=engine.kb)
    first = find_witnesses(engine, WHEN)
    again = find_witnesses(engine, WHEN)
    assert again == first and again[0].twin.after is ABSENT and again[0] is not first[0]  # read back
    find_witnesses(engine, date(2026, 6, 2))
    find_witnesses(other, WHEN)
    assert find_witnesses(engine, WHEN, refresh=True)[0].evaluations == 4
    assert find_witnesses(engine, WHEN)[0].evaluations == 4  # the refreshed result is the kept one
    assert searches == [("fast", WHEN), ("fast", date(2026, 6, 2)), ("pyshacl", WHEN), ("fast", WHEN)]
    monkeypatch.setenv("BLINCYTO_CACHE", "0")  # nothing kept is read
    assert find_witnesses(engine, WHEN)[0].evaluations == 5
    assert pickle.loads(pickle.dumps(ABSENT)) is ABSENT
