"""`blincyto lint`: the shipped graphs are clean; each kind of authoring mistake is found, with its file and term.

The broken version is an override an author could write by mistake; every check must name it.
"""
from __future__ import annotations

import shutil

import pytest
from typer.testing import CliRunner

from authoring_util import PREFIXES, VERSIONS, make_version, parses_shared

from reasoner.cli import app
from reasoner.authoring.lint import lint, lint_manifests

MISTAKES = """
# a shape that targets requests but no criterion uses; an undeclared property; another's number
shp:I.A.1-extra a sh:NodeShape ;
    sh:targetClass bx:InitialRequest ;
    dcterms:identifier "I.A.1" ;
    sh:message "Extra." ;
    sh:property [ sh:path ( bx:diagnosis bx:noSuchProperty ) ; sh:minCount 1 ] .

# a criterion's shape numbered as another criterion; a count that is not an integer (SHACL-SHACL)
shp:I.A.3 dcterms:identifier "I.A.9" ;
    sh:property [ sh:path ( bx:member bx:ageInMonths ) ; sh:minCount "one" ; sh:minInclusive 1 ] .

# a leaf with neither a sentence nor a shape
cp:I.A bx:allOf ( cp:I.A.1 cp:I.A.2 cp:I.A.3 cp:I.A.4 cp:I.A.5 cp:I.A.6 ) .
cp:I.A.6 a bx:Criterion ; dcterms:identifier "I.A.6" .

# the drug is also a disease: classes the ontology declares disjoint (HermiT: inconsistent)
kb:blinatumomab a bx:Disease .
"""


@pytest.fixture(scope="module", autouse=True)
def _parses_shared():
    """The shipped Turtle files parsed once for the lints and versions built here (authoring_util)."""
    with parses_shared():
        yield


@pytest.fixture(scope="module")
def shipped():
    # HermiT on the shipped ontology is tests/test_ontology.py's, SHACL-SHACL on the shipped shapes
    # tests/test_shapes.py's (the same pySHACL meta-validation, seconds each); both run here on the
    # broken version, where they must find its mistakes
    return lint(hermit=False, shacl_shacl=False)


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory):
    """A cache directory of this module's own: HermiT's verdicts on the planted ontologies are not
    read from an earlier run's cache, so HermiT runs for real on each."""
    where = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BLINCYTO_CACHE_DIR", str(where))
        mp.delenv("BLINCYTO_CACHE", raising=False)
        yield where


@pytest.fixture(scope="module")
def broken(tmp_path_factory, verdicts):
    folder = make_version(tmp_path_factory.mktemp("versions"), "broken", MISTAKES)
    assert not list(verdicts.glob("note-*"))
    found = lint(folder)
    if shutil.which("java"):
        assert len(list(verdicts.glob("note-*"))) == 1  # HermiT ran (and its verdict is kept)
    return folder, found


def test_the_shipped_graphs_have_no_error(shipped):
    assert not [f.line() for f in shipped if f.level == "error"]
    assert not [f.line() for f in shipped if f.level == "warning"]


def test_every_mistake_is_found_with_its_file_and_term(broken):
    folder, found = broken
    errors = {(f.check, f.term) for f in found if f.level == "error"}
    assert ("reachable", "shp:I.A.1-extra") in errors
    assert ("declared", "shp:I.A.1-extra") in errors
    assert ("numbers", "shp:I.A.1-extra") in errors
    assert ("numbers", "shp:I.A.3") in errors
    assert ("leaf", "cp:I.A.6") in errors
    assert any(check == "shacl-shacl" and term == "shp:I.A.3" for check, term in errors), errors
    if shutil.which("java"):
        assert any(f.check == "consistency" and f.level == "error" for f in found)
    override = str(folder / "override.ttl")
    for f in found:
        if f.level == "error" and f.term in ("shp:I.A.1-extra", "shp:I.A.3", "cp:I.A.6"):
            assert f.file.endswith("override.ttl") and override.endswith(f.file), f
    messages = " ".join(f.message for f in found)
    assert "bx:noSuchProperty" in messages


def test_cli_lint_exit_status_and_output(broken):
    folder, _ = broken
    runner = CliRunner()
    result = runner.invoke(app, ["lint", "--version", str(folder), "--no-hermit", "--no-shacl-shacl"])
    assert result.exit_code == 1, result.output
    assert "ERROR" in result.output and "override.ttl" in result.output and "shp:I.A.1-extra" in result.output
    clean = runner.invoke(app, ["lint", "--no-hermit", "--no-shacl-shacl"])
    assert clean.exit_code == 0, clean.output
    assert "lint: 0 errors" in clean.output


# a class that is both a disease and a dose unit, which the ontology declares disjoint: unsatisfiable
UNSATISFIABLE = """
bx:DiseaseDose a owl:Class ; rdfs:subClassOf bx:Disease, bx:DoseUnit .
"""


def consistency(folder) -> list:
    """lint's HermiT check alone, on a version's graphs."""
    from reasoner.authoring.lint import _Linter
    from reasoner.policy.versions import graphs, read_manifest

    linter = _Linter(graphs(read_manifest(folder / "manifest.ttl")))
    linter.consistency()
    return linter.found


@pytest.mark.skipif(shutil.which("java") is None, reason="java is not installed: HermiT does not run")
def test_hermit_verdicts_are_kept_by_content(broken, verdicts, tmp_path, monkeypatch):
    from reasoner.authoring import hermit

    folder, found = broken
    runs = []
    real = hermit._run

    def counted(graph, jar):
        runs.append(len(graph))
        return real(graph, jar)

    monkeypatch.setattr(hermit, "_run", counted)
    assert consistency(folder) == [f for f in found if f.check == "consistency"]  # the kept verdict
    assert runs == []
    # a changed ontology is another key: HermiT runs, and finds the unsatisfiable class
    prefixes = ("@prefix owl: <http://www.w3.org/2002/07/owl#> .\n"
                "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n")
    unsat = consistency(make_version(tmp_path, "unsat", prefixes + UNSATISFIABLE))
    assert len(runs) == 1
    assert [(f.level, f.term, f.message) for f in unsat] == [("error", "bx:DiseaseDose", "HermiT: unsatisfiable class")]
    assert unsat[0].file.endswith("override.ttl")
    # BLINCYTO_CACHE=0: nothing is read (HermiT, here a stand-in, runs)
    monkeypatch.setattr(hermit, "_run", lambda graph, jar: runs.append(0) or hermit.Verdict(True))
    monkeypatch.setenv("BLINCYTO_CACHE", "0")
    assert consistency(folder) == []
    assert len(runs) == 2


def test_the_content_key_is_the_graph_up_to_blank_node_labels():
    from rdflib import Graph

    from reasoner.authoring.hermit import content_key

    text = PREFIXES + """@prefix owl: <http://www.w3.org/2002/07/owl#> .
bx:A owl:equivalentClass [ owl:intersectionOf ( bx:B [ owl:complementOf bx:C ] ) ] .
[] a owl:AllDisjointClasses ; owl:members ( bx:B bx:C ) .
"""
    one, two = Graph().parse(data=text, format="turtle"), Graph().parse(data=text, format="turtle")
    assert content_key(one) is not None and content_key(one) == content_key(two)  # other blank-node labels
    changed = Graph().parse(data=text.replace("owl:complementOf bx:C", "owl:complementOf bx:D"), format="turtle")
    assert content_key(changed) != content_key(one)
    swapped = Graph().parse(data=text.replace("( bx:B bx:C )", "( bx:C bx:B )"), format="turtle")
    assert content_key(swapped) != content_key(one)  # a list's order is content
    shared = Graph().parse(data=PREFIXES + "bx:A bx:p _:x . bx:B bx:p _:x . _:x bx:q 1 .", format="turtle")
    assert content_key(shared) is None  # not a tree: no key, HermiT runs every time
    cycle = Graph().parse(data=PREFIXES + "_:x bx:p _:y . _:y bx:p _:x .", format="turtle")
    assert content_key(cycle) is None


def manifest(folder, name: str, status: str, extra: str = "") -> None:
    folder.mkdir(parents=True)
    (folder / "manifest.ttl").write_text(PREFIXES + f"""
<> a bxv:PolicyVersionManifest ; dcterms:identifier "{name}" ; bxv:status "{status}" ;
   bxv:policyVersion cp:version-2024-08 {extra};
   bxv:ontologyGraphs <{(VERSIONS.parent / 'ontology').as_uri()}/> ;
   bxv:shapesGraphs <{(VERSIONS.parent / 'shapes').as_uri()}/> .
""")


def test_manifests_are_checked(tmp_path):
    assert not [f for f in lint_manifests(VERSIONS) if f.level == "error"]
    manifest(tmp_path / "one", "one", "current", '; dcterms:valid "2024-08-01"^^xsd:date ')
    manifest(tmp_path / "two", "two", "current", '; bxv:madeUp "x" ')
    found = [f for f in lint_manifests(tmp_path) if f.level == "error"]
    text = " ".join(f"{f.term}: {f.message}" for f in found)
    assert "exactly one version must be current, found 2" in text
    assert "bxv:madeUp: not declared" in text
    assert "two: needs dcterms:valid" in text and "one: needs" not in text


def test_hermits_listing_is_read_as_full_iris_only():
    """With -N HermiT lists each class as its full IRI; without it, it abbreviated with a default prefix
    taken from one of the graph's owl:Ontology nodes (which one, by the order of the lines written: a
    class came out as `:DiseaseDose` under one hash seed). A name lint cannot read is an error, never
    a guess."""
    from reasoner.authoring import hermit

    assert "-N" in hermit.OPTIONS
    listing = "\n\thttps://w3id.org/blincyto-pa/ns#DiseaseDose\n\thttp://www.w3.org/2002/07/owl#Nothing\n"
    assert hermit._classes(listing) == ["https://w3id.org/blincyto-pa/ns#DiseaseDose"]
    for unreadable in (":DiseaseDose", "bx:DiseaseDose", "DiseaseDose", "a b:c"):
        with pytest.raises(hermit.HermitError, match="cannot read"):
            hermit._classes("\t" + unreadable + "\n")
