"""Policy versions: manifests, a Reasoner per version, `diff` and `impact` between versions.

The shipped draft (versions/draft-2025) lowers the maximum daily dose of I.A.5.a and II.A.3.a from
28 to 21 mcg per day; the expectations below are read from the two versions' shapes, not assumed.
"""
from __future__ import annotations

import json
import sys

import pytest
from rdflib import RDF, BNode
from rdflib.namespace import SH
from typer.testing import CliRunner

from authoring_util import CASES, VERSIONS, make_version, parses_shared

import reasoner
from reasoner.cli import app
from reasoner.authoring.diff import diff, impact, load_requests
from reasoner.policy.kb import SHP
from reasoner.policy.versions import VersionError, graphs, list_versions, resolve

runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def _parses_shared():
    """The shipped Turtle files parsed once for the lints and versions built here (authoring_util)."""
    with parses_shared(sys.modules[__name__]):
        yield


def max_dose(kb, number: str) -> float:
    """The sh:maxInclusive on the daily dose inside a criterion's shape (read from the version's graph)."""
    shape = kb.by_number(number).shape
    values = {o.toPython() for s, o in kb.shapes.subject_objects(SH.maxInclusive)
              if kb.shape_owner.get(str(s)) == shape}
    assert len(values) == 1, values
    return float(values.pop())


@pytest.fixture(scope="module")
def current():
    return reasoner.Reasoner(version="2024-08")


@pytest.fixture(scope="module")
def draft():
    return reasoner.Reasoner(version="draft-2025")


def test_manifests_list_one_current_version_and_a_draft():
    versions = {v.identifier: v for v in list_versions()}
    assert {"2024-08", "draft-2025"} <= set(versions)
    assert [v.identifier for v in versions.values() if v.status == "current"] == ["2024-08"]
    assert versions["draft-2025"].base.identifier == "2024-08"
    assert versions["2024-08"].effective < versions["draft-2025"].effective
    assert resolve("current").identifier == "2024-08"
    assert resolve(VERSIONS / "draft-2025").identifier == "draft-2025"
    with pytest.raises(VersionError):
        resolve("no-such-version")


def test_the_current_manifest_decides_every_case_as_the_shipped_graphs_do(current):
    shipped = reasoner.default_reasoner()
    for path in sorted(CASES.glob("*.json")):
        case = json.loads(path.read_text())
        if case.get("kb"):
            continue
        a, b = shipped.evaluate(case["request"]), current.evaluate(case["request"])
        assert (a["decision"], a["pathways"], a["policy_version"]) == (b["decision"], b["pathways"], b["policy_version"]), path.name


def test_the_draft_is_its_own_version_with_the_lower_threshold(current, draft):
    assert draft.evaluate(json.loads((CASES / "IA5a-dose-28-weight-45kg-fixed-dose-approve.json").read_text())["request"])[
        "policy_version"] == "draft-2025"
    for number in ("I.A.5.a", "II.A.3.a"):
        old, new = max_dose(current.kb, number), max_dose(draft.kb, number)
        assert new < old


def test_override_replaces_only_what_it_states_and_leaves_no_orphans():
    built = graphs(resolve("draft-2025"))
    base = graphs(resolve("2024-08"))
    def roots(g):  # blank nodes nothing points to ([] a owl:AllDifferent ... is one by design)
        referenced = set(g.objects())
        return sorted(str(o) for s, p, o in g if isinstance(s, BNode) and s not in referenced and p == RDF.type)

    for g, h in ((built.shapes, base.shapes), (built.ontology, base.ontology)):
        assert len(roots(g)) == len(roots(h))
    # the message of an untouched shape is the base's; the restated one is the override's
    untouched = SHP["I.A.2"]
    assert built.shapes.value(untouched, SH.message) == base.shapes.value(untouched, SH.message)
    assert built.shapes.value(SHP["I.A.5.a"], SH.message) != base.shapes.value(SHP["I.A.5.a"], SH.message)
    assert len(built.shapes) == pytest.approx(len(base.shapes), abs=10)
    assert any("lower-maximum-dose" in str(p) for p in built.files_of(SHP["I.A.5.a"]))


def test_diff_names_the_changed_criteria_by_number(current, draft):
    assert diff(current.kb, current.kb) == []
    changes = {c.key: c for c in diff(current.kb, draft.kb)}
    assert {k for k, c in changes.items() if c.kind != "changed"} == set()
    for number in ("I.A.5.a", "II.A.3.a"):
        old, new = max_dose(current.kb, number), max_dose(draft.kb, number)
        details = " ".join(changes[number].details)
        assert f"maxInclusive: {old:g} -> {new:g}" in details
        assert "sentence:" in details and "shape message:" in details
    untouched = {c.number for c in current.kb.criteria.values()} - {"I.A.5.a", "II.A.3.a"}
    assert not untouched & set(changes)


def test_impact_moves_exactly_the_requests_between_the_two_maxima(current, draft):
    requests = load_requests(CASES)
    cache: dict = {}

    def engines(version):
        def get(extra):
            if (version, extra) not in cache:
                cache[version, extra] = reasoner.Reasoner(extra_kb=extra, version=version)
            return cache[version, extra]
        return get

    moved, errors, count = impact(requests, engines("2024-08"), engines("draft-2025"))
    assert not errors and count == len(requests)
    low, high = max_dose(draft.kb, "I.A.5.a"), max_dose(current.kb, "I.A.5.a")
    assert moved
    for row in moved:
        assert row.decision_changed and row.old_decision == "approve" and row.new_decision == "needs-info", row
        assert any(r.split(":")[0] in ("I.A.5.a", "II.A.3.a") for r in row.responsible), row
    # every initial request approved at a daily dose above the new maximum (no evidence) moves
    expected = set()
    for source, request, extra in requests:
        det = engines("2024-08")(extra).evaluate(request)
        dose = det["derived"].get("daily_dose_mcg")
        if det["decision"] == "approve" and det["request_type"] == "initial" and dose is not None \
                and low < dose <= high and not request.get("dose", {}).get("supporting_evidence"):
            expected.add(source)
    assert expected and expected <= {row.source for row in moved}


def test_dropping_a_pathway_is_a_new_version_of_graphs_only(tmp_path, current):
    folder = make_version(tmp_path, "drop-4d", """
cp:I.A.4 bx:anyOf ( cp:I.A.4.a cp:I.A.4.b cp:I.A.4.c cp:I.A.4.e ) .
""", withdraws=("cp:I.A.4.d", "shp:I.A.4.d"))
    dropped = reasoner.Reasoner(version=folder)
    changes = {c.key: c for c in diff(current.kb, dropped.kb)}
    assert changes["I.A.4.d"].kind == "removed"
    assert changes["I.A.4"].kind == "changed" and any(d.startswith("parts:") for d in changes["I.A.4"].details)
    case = json.loads((CASES / "IA4d-phlike-pediatric-post-consolidation-approve.json").read_text())["request"]
    assert "I.A.4.d" in current.evaluate(case)["pathways"]
    assert "I.A.4.d" not in dropped.evaluate(case)["pathways"]


def test_load_requests_reads_files_lists_lines_and_folders(tmp_path):
    request = json.loads((CASES / "IA4ciii-adult-pomp-approve.json").read_text())["request"]
    (tmp_path / "one.json").write_text(json.dumps(request))
    (tmp_path / "many.json").write_text(json.dumps([request, request]))
    (tmp_path / "batch.jsonl").write_text(json.dumps(request) + "\n\n" + json.dumps(request) + "\n")
    assert len(load_requests(tmp_path / "one.json")) == 1
    assert len(load_requests(tmp_path / "many.json")) == 2
    assert len(load_requests(tmp_path / "batch.jsonl")) == 2
    assert len(load_requests(tmp_path)) == 5
    case = load_requests(CASES / "IB1a-commercial-formulary-label-change-refer.json")
    assert case[0][2], "a case's extra KB files come along"


def test_cli_diff_and_impact(tmp_path):
    result = runner.invoke(app, ["diff", "2024-08", "draft-2025"])
    assert result.exit_code == 0, result.output
    assert "changed  I.A.5.a" in result.output and "maxInclusive: 28 -> 21" in result.output
    result = runner.invoke(app, ["diff", "2024-08", "draft-2025", "--format", "json"])
    assert {c["key"] for c in json.loads(result.output)} >= {"I.A.5.a", "II.A.3.a"}
    case = CASES / "IA5a-dose-28-weight-45kg-fixed-dose-approve.json"
    result = runner.invoke(app, ["impact", "2024-08", "draft-2025", "--requests", str(case)])
    assert result.exit_code == 0, result.output
    assert "1 decision changes" in result.output and "approve -> needs-info" in result.output
    assert "I.A.5.a: met -> not-met" in result.output
    data = json.loads(runner.invoke(app, ["impact", "2024-08", "draft-2025", "--requests", str(case),
                                          "--format", "json"]).output)
    assert data["evaluated"] == 1 and data["changed"][0]["new_decision"] == "needs-info"
    bad = runner.invoke(app, ["diff", "2024-08", "nope"])
    assert bad.exit_code == 2 and "no policy version" in bad.output


def test_impact_reads_past_requests_from_the_sparql_store(tmp_path):
    pytest.importorskip("pyoxigraph")
    from reasoner.sparql import store
    from reasoner.flow.check import check_request

    engine = reasoner.default_reasoner()
    names = ["IA5a-dose-28-weight-45kg-fixed-dose-approve.json", "IA4ciii-adult-pomp-approve.json",
             "IIA3a-increase-within-28-approve.json", "IA1-aml-refer-him.json"]
    sent = [json.loads((CASES / n).read_text())["request"] for n in names]
    with store.open_store(tmp_path / "store") as s:
        s.add_all([engine.evaluate_full(r) for r in sent])
    back = load_requests(tmp_path / "store")
    assert sorted(json.dumps(check_request(r), sort_keys=True) for _, r, _ in back) == \
        sorted(json.dumps(check_request(r), sort_keys=True) for r in sent)
    result = runner.invoke(app, ["impact", "2024-08", "draft-2025", "--requests", str(tmp_path / "store")])
    assert result.exit_code == 0, result.output
    assert "4 requests evaluated" in result.output and "3 decisions change" in result.output


def test_a_git_revision_of_the_checkout_is_a_version():
    import shutil

    if shutil.which("git") is None or not (VERSIONS.parent / ".git").exists():
        pytest.skip("not a git checkout")
    head = resolve("git:HEAD")
    assert head.ontology and head.shapes and head.status == "git"
    engine = reasoner.Reasoner(version=head)
    assert diff(engine.kb, engine.kb) == []
    assert engine.kb.criteria and engine.kb.shape_info
    with pytest.raises(VersionError):
        resolve("git:no-such-revision")


def test_a_shape_reads_the_same_whatever_order_its_graph_lists_it_in():
    """diff's constraint keys and review's one-line description of a shape (sh:or / sh:and members,
    sibling properties, lists nested in them) do not depend on the order the triples were added in
    (which follows the parse, and blank-node labels): the same shape, the same text, in every process."""
    from rdflib import Graph

    from reasoner.authoring.shapetext import describe, flatten

    shape = SHP["S"]
    text = """@prefix sh: <http://www.w3.org/ns/shacl#> . @prefix bx: <https://w3id.org/blincyto-pa/ontology#> .
<%s> sh:or ( [ sh:path bx:a ; sh:minCount 1 ] [ sh:path bx:b ; sh:in ( 1 2 ) ] ) ;
     sh:or ( [ sh:path bx:c ; sh:maxCount 0 ] [ sh:path bx:d ; sh:hasValue 3 ] ) ;
     sh:property [ sh:path bx:e ; sh:node [ sh:property [ sh:path bx:f ; sh:minInclusive 2 ] ] ] ,
                 [ sh:path bx:e ; sh:node [ sh:property [ sh:path bx:f ; sh:minInclusive 1 ] ] ] .
""" % shape
    parsed = Graph().parse(data=text, format="turtle")
    readings = set()
    for order in (list(parsed), list(reversed(list(parsed)))):
        g = Graph()
        for triple in order:
            g.add(triple)
        readings.add((tuple(flatten(g, shape)), describe(g, shape)))
    assert len(readings) == 1, readings
    (keys, line), = readings
    assert ("property[bx:e].node.property[bx:f].minInclusive", "1") in keys
    assert ("property[bx:e]#2.node.property[bx:f].minInclusive", "2") in keys
    assert line.index("bx:a") < line.index("bx:c")
