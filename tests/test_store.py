"""The embedded SPARQL store: `store init`, `check --store`, the `open_store` API and `query`.

Expectations come from the Turtle files (parsed with rdflib, not the store) and from the
determinations themselves; the store is read back with pyoxigraph directly.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyoxigraph as ox
from rdflib import Graph, URIRef
from rdflib.compare import isomorphic
from rdflib.namespace import PROV, RDF, SH
from typer.testing import CliRunner

from reasoner.sparql import store as st
from reasoner.cli import app

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))
APPROVE = ROOT / "examples" / "approve-initial-ph-positive-tki-induction-him.json"
REFER = ROOT / "examples" / "refer-initial-t-all-him.json"
NEEDS_INFO = ROOT / "examples" / "needs-info-initial-missing-mrd-medicaid.json"
BX = "https://w3id.org/blincyto-pa/ontology#"
DETERMINATION = "urn:blincyto:determination:"

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def graphs(path: Path) -> dict[str, int]:
    s = ox.Store.read_only(str(path))
    counts: dict[str, int] = {}
    for q in s:
        key = q.graph_name.value if isinstance(q.graph_name, ox.NamedNode) else str(q.graph_name)
        counts[key] = counts.get(key, 0) + 1
    return counts


def graph_of(path: Path, name: str) -> Graph:
    """One named graph of the store as an rdflib Graph (through N-Triples)."""
    s = ox.Store.read_only(str(path))
    nt = "".join(f"{q.subject} {q.predicate} {q.object} .\n"
                 for q in s.quads_for_pattern(None, None, None, ox.NamedNode(name)))
    return Graph().parse(data=nt, format="nt")


def canonical(graph: Graph) -> Graph:
    """The graph as Oxigraph stores it: literals in canonical form ("28.0"^^xsd:decimal is "28")."""
    s = ox.Store()
    s.load(graph.serialize(format="nt"), format=ox.RdfFormat.N_TRIPLES)
    return Graph().parse(data="".join(f"{q.subject} {q.predicate} {q.object} .\n" for q in s), format="nt")


def select(path: Path, query: str) -> list[dict[str, str]]:
    results = st.query_local(path, st.with_prefixes(query))
    names = [v.value for v in results.variables]
    return [{n: (row[n].value if row[n] is not None else None) for n in names} for row in results]


def determinations(path: Path) -> list[str]:
    return sorted(g for g in graphs(path) if g.startswith(DETERMINATION) and g.endswith(":provenance"))


# --------------------------------------------------------------------------- store init


def test_init_loads_ontology_policy_version_and_shapes_as_named_graphs(tmp_path):
    target = tmp_path / "store"
    result = run("store", "init", target)
    assert result.exit_code == 0, result.output
    names = st.kb_graph_names()
    assert names["ontology"] == "https://w3id.org/blincyto-pa/graph/ontology"
    assert names["policy"] == "https://w3id.org/blincyto-pa/graph/policy/CP.PHAR.312/08.24"
    assert names["shapes"] == "https://w3id.org/blincyto-pa/graph/shapes/CP.PHAR.312/08.24"
    for iri in names.values():
        assert f"<{iri}>" in result.output

    # Each graph holds exactly its files' triples (rdflib's count of the same files).
    expected: dict[str, Graph] = {"ontology": Graph(), "policy": Graph(), "shapes": Graph()}
    for folder in ("ontology", "shapes"):
        for ttl in sorted((ROOT / folder).glob("*.ttl")):
            role = "shapes" if folder == "shapes" else ("policy" if ttl.name in st.POLICY_FILES else "ontology")
            expected[role].parse(ttl, format="turtle")
    counts = graphs(target)
    for role, g in expected.items():
        assert counts[names[role]] == len(g), role
    assert ox.DefaultGraph() not in {q.graph_name for q in ox.Store.read_only(str(target))}

    # The policy graph holds the criteria tree, the shapes graph the shapes, the manifest the sources.
    # (full IRIs: Oxigraph 0.5's SPARQL parser rejects prefixed names with two dots, cp:I.A.4)
    rows = select(target, "SELECT ?g WHERE { GRAPH ?g { ?c dcterms:identifier 'I.A.4.c.iii' ; bx:shape ?s } }")
    assert [r["g"] for r in rows] == [names["policy"]]
    rows = select(target, "SELECT ?g WHERE { GRAPH ?g { <%sI.A.4.c.iii> a sh:NodeShape } }" % st.PREFIXES["shp"])
    assert [r["g"] for r in rows] == [names["shapes"]]
    rows = select(target, "SELECT ?src WHERE { GRAPH <%s> { <%s> dcterms:source ?src } }"
                  % (st.STORE_GRAPH, names["shapes"]))
    assert sorted(r["src"] for r in rows) == sorted(f"shapes/{p.name}" for p in (ROOT / "shapes").glob("*.ttl"))
    rows = select(target, "SELECT ?g WHERE { cp:version-2024-08 bx:describedIn ?g }")
    assert {r["g"] for r in rows} == {names["policy"], names["shapes"]}


def test_init_again_replaces_the_knowledge_base_and_keeps_determinations(tmp_path):
    target = tmp_path / "store"
    assert run("store", "init", target).exit_code == 0
    before = graphs(target)
    assert run("check", APPROVE, "--store", target, "--format", "json").exit_code == 0
    assert run("store", "init", target).exit_code == 0
    after = graphs(target)
    for iri in st.kb_graph_names().values():
        assert after[iri] == before[iri]  # not loaded twice
    assert len(determinations(target)) == 1


# --------------------------------------------------------------------------- check --store


def test_check_store_adds_the_determination_as_named_graphs(tmp_path, reasoner_for):
    target = tmp_path / "store"  # not initialised: check --store creates and loads it
    result = run("check", REFER, "--store", target, "--format", "json")
    assert result.exit_code == 0, result.output
    det = json.loads(result.stdout)
    assert det["decision"] == "refer" and det["referral"]

    [prov_name] = determinations(target)
    activity = prov_name[: -len(":provenance")]
    assert {activity + ":request", activity + ":validation-report"} <= set(graphs(target))
    assert st.STORE_GRAPH in graphs(target)  # the knowledge base came with it

    prov = graph_of(target, prov_name)
    a = URIRef(activity)
    assert (a, RDF.type, PROV.Activity) in prov
    assert (a, PROV.used, URIRef("https://w3id.org/blincyto-pa/policy/CP.PHAR.312/version-2024-08")) in prov
    assert prov.value(a, PROV.startedAtTime) is not None and prov.value(a, PROV.endedAtTime) is not None
    agent = prov.value(a, PROV.wasAssociatedWith)
    assert (agent, RDF.type, PROV.SoftwareAgent) in prov
    assert prov.value(agent, URIRef("http://www.w3.org/2002/07/owl#versionInfo")) is not None
    assert prov.value(a, URIRef(BX + "describedIn")) == URIRef(prov_name)

    rows = select(target, """
        SELECT ?id ?decision ?refPolicy ?refSection ?version WHERE {
          ?d a bx:Determination ; bx:requestId ?id ; bx:decision ?decision ; bx:policyVersionLabel ?version ;
             bx:referral [ bx:referralPolicyId ?refPolicy ; bx:referralSection ?refSection ] }""")
    assert rows == [{"id": det["id"], "decision": "refer", "refPolicy": det["referral"]["policy"],
                     "refSection": det["referral"]["section"], "version": det["policy_version"]}]
    failed = select(target, "SELECT DISTINCT ?c ?kind WHERE { ?d bx:failedCriterion [ dcterms:identifier ?c ; bx:kind ?kind ] }")
    assert sorted((r["c"], r["kind"]) for r in failed) == sorted((f["criterion"], f["kind"]) for f in det["failed"])

    # The request graph is the evaluated one, derived facts included; the report is the report.
    ev = reasoner_for().evaluate_full(json.loads(REFER.read_text()))
    assert isomorphic(graph_of(target, activity + ":request"), canonical(ev.request_graph))
    report = graph_of(target, activity + ":validation-report")
    # The report's copies of shapes-graph nodes are held once, in their own graph (this store has one
    # determination: every copy there is one of its report's); tests/test_rdf_fast.py checks them triple by triple.
    copies = graph_of(target, st.SHAPE_COPIES_GRAPH)
    assert len(copies) and len(report) + len(copies) == len(ev.report_graph)
    assert all(str(o).startswith("urn:blincyto:shape-copy:") for o in report.objects(None, SH.sourceShape)
               if not str(o).startswith(str(SH)[:-1]) and not str(o).startswith("https://w3id.org/blincyto-pa/shapes/"))
    assert (URIRef(activity + ":report"), RDF.type, SH.ValidationReport) in report
    result_node = prov.value(a, PROV.generated)
    assert prov.value(result_node, URIRef(BX + "validationReport")) == URIRef(activity + ":report")


def test_re_evaluating_a_request_keeps_every_determination(tmp_path):
    target = tmp_path / "store"
    for _ in range(3):
        assert run("check", NEEDS_INFO, "--store", target, "--format", "json").exit_code == 0
    provs = determinations(target)
    assert len(provs) == 3
    request_id = json.loads(NEEDS_INFO.read_text())["id"]
    rows = select(target, f'SELECT ?d ?t WHERE {{ ?d bx:requestId "{request_id}" ; prov:wasGeneratedBy/prov:endedAtTime ?t }}')
    assert len({r["d"] for r in rows}) == 3
    # Three request graphs, none merged with another (blank nodes are fresh per determination).
    counts = graphs(target)
    sizes = [counts[p[: -len(":provenance")] + ":request"] for p in provs]
    assert len(set(sizes)) == 1 and sizes[0] > 0
    member_nodes = select(target, "SELECT DISTINCT ?m WHERE { GRAPH ?g { ?r bx:member ?m } }")
    assert len(member_nodes) == 3


def test_open_store_api_for_batch_mode(tmp_path, reasoner_for):
    evs = [reasoner_for().evaluate_full(json.loads(p.read_text())) for p in EXAMPLES]
    with st.open_store(tmp_path / "store") as s:
        one = s.add(evs[0])
        rest = s.add_all(evs[1:5]) + s.add_all(evs[5:], bulk=True)
    assert one.startswith(DETERMINATION) and len(set([one, *rest])) == len(EXAMPLES)
    rows = select(tmp_path / "store", "SELECT ?id ?decision WHERE { ?d a bx:Determination ; bx:requestId ?id ; bx:decision ?decision }")
    assert sorted((r["id"], r["decision"]) for r in rows) == sorted(
        (ev.determination["id"], ev.determination["decision"]) for ev in evs)


def test_check_store_that_cannot_be_written_fails_without_output(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a store")
    result = run("check", APPROVE, "--store", blocker, "--format", "json")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "error: --store:" in result.stderr


def test_a_folder_that_is_not_a_store_is_left_alone(tmp_path):
    folder = tmp_path / "documents"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    result = run("check", APPROVE, "--store", folder, "--format", "json")
    assert result.exit_code == 1 and "neither empty nor a store" in result.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


def test_store_error_never_quotes_the_request(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = run("check", APPROVE, "--store", blocker)
    request = json.loads(APPROVE.read_text())
    assert request["member"]["birth_date"] not in result.stderr


# --------------------------------------------------------------------------- query


def test_query_without_store_reads_the_bundled_knowledge_base():
    result = run("query", "tkis", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {"imatinib", "dasatinib"} <= {r["generic"] for r in rows}


def test_query_text_with_the_usual_prefixes_and_every_format():
    text = "SELECT ?n WHERE { kb:POMP skos:prefLabel ?n }"
    out = {}
    for fmt, rformat in (("json", ox.QueryResultsFormat.JSON), ("tsv", ox.QueryResultsFormat.TSV),
                         ("xml", ox.QueryResultsFormat.XML)):
        result = run("query", text, "--format", fmt)
        assert result.exit_code == 0, result.output
        parsed = ox.parse_query_results(result.stdout_bytes, format=rformat)
        out[fmt] = [row["n"].value for row in parsed]
    result = run("query", text, "--format", "csv")  # CSV is lossy: pyoxigraph does not parse it back
    out["csv"] = [row["n"] for row in csv.DictReader(io.StringIO(result.stdout))]
    assert set(map(tuple, out.values())) == {("POMP",)}
    table = run("query", text)
    assert table.exit_code == 0 and "POMP" in table.stdout and "1 row" in table.stdout


def test_query_file_bind_ask_and_construct(tmp_path):
    rq = tmp_path / "q.rq"
    rq.write_text("PREFIX kb: <https://w3id.org/blincyto-pa/kb/>\nSELECT ?x ?label WHERE { ?x skos:prefLabel ?label }")
    result = run("query", rq, "--bind", "x=kb:imatinib", "--format", "csv")
    assert result.exit_code == 0, result.output
    assert list(csv.DictReader(io.StringIO(result.stdout))) == [
        {"x": "https://w3id.org/blincyto-pa/kb/imatinib", "label": "imatinib"}]
    ask = run("query", "ASK { kb:imatinib a bx:BCRABL1TyrosineKinaseInhibitor }")
    assert ask.exit_code == 0 and ask.stdout.strip() == "true"
    construct = run("query", "CONSTRUCT { kb:POMP bx:hasComponent ?c } WHERE { kb:POMP bx:hasComponent ?c }")
    assert construct.exit_code == 0
    assert len(Graph().parse(data=construct.stdout, format="turtle")) == 4


def test_query_errors_are_reported_not_raised(tmp_path):
    bad = run("query", "SELECT ?x WHERE { ?x")
    assert bad.exit_code == 1 and "SPARQL syntax error" in bad.stderr
    unknown = run("query", "no-such-query")
    assert unknown.exit_code == 1 and "not a saved query" in unknown.stderr
    missing = run("query", "tkis", "--store", tmp_path / "nowhere")
    assert missing.exit_code == 1 and "no store at" in missing.stderr
    bind = run("query", "tkis", "--bind", "not a binding")
    assert bind.exit_code == 1 and "--bind" in bind.stderr


def test_query_list_names_every_saved_query_with_its_question():
    result = run("query", "--list")
    assert result.exit_code == 0
    for name, path in st.saved_queries().items():
        assert name in result.stdout
        assert st.query_question(path) in result.stdout


def test_query_reads_a_store_while_it_is_open_for_writing(tmp_path):
    target = tmp_path / "store"
    with st.open_store(target):
        result = run("query", "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }", "--store", target, "--format", "csv")
    assert result.exit_code == 0, result.output
    assert int(result.stdout.splitlines()[1]) > 1000


def test_query_with_from_reads_only_the_graphs_it_names(tmp_path):
    """A query's own FROM is its dataset (the union of every graph is only the default)."""
    target = tmp_path / "store"
    assert run("store", "init", target).exit_code == 0
    names = st.kb_graph_names()
    count = "SELECT (COUNT(*) AS ?n) {}WHERE {{ ?s a sh:NodeShape }}"
    union = run("query", count.format(""), "--store", target, "--format", "csv")
    shapes = run("query", count.format(f"FROM <{names['shapes']}> "), "--store", target, "--format", "csv")
    ontology = run("query", count.format(f"FROM <{names['ontology']}> "), "--store", target, "--format", "csv")
    assert union.exit_code == shapes.exit_code == ontology.exit_code == 0
    n = {k: int(r.stdout.splitlines()[1]) for k, r in (("union", union), ("shapes", shapes), ("ontology", ontology))}
    assert n["union"] == n["shapes"] > 0 and n["ontology"] == 0


def test_a_from_in_a_comment_a_string_or_an_iri_names_no_dataset():
    from reasoner.sparql.querytext import names_dataset

    assert names_dataset("SELECT * FROM <urn:g> { ?s ?p ?o }")
    assert names_dataset("select * from named <urn:g> { graph ?g { ?s ?p ?o } }")
    for text in ('# FROM <urn:g>\nSELECT * { ?s ?p ?o }', 'SELECT * { ?s ?p "FROM" }',
                 "SELECT * { ?s <urn:FROM> ?o }", "SELECT ?FROM { ?FROM ?p ?o }", "SELECT * { ?s ex:FROM ?o }"):
        assert not names_dataset(text), text
