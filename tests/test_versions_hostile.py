"""Hostile policy versions (issue 13, items 16-18): a clear error naming the file, never a traceback,
never a file's content, nothing fetched; lint's SHACL-SHACL step linear in an `sh:in` list.

Each version is what a careless or hostile author could put under versions/: a manifest that is its
own base, an override replacing a 5,000-item list, blank nodes nested 100,000 deep, a path to a file
that is not a manifest, a shape the engine cannot run, an ontology that declares `owl:imports`.
"""

from __future__ import annotations

import shutil
import socket
import sys
import threading
from pathlib import Path

import pytest
from rdflib import RDF, BNode, Graph, Literal, URIRef
from rdflib.collection import Collection
from rdflib.namespace import SH
from typer.testing import CliRunner

from authoring_util import PREFIXES, VERSIONS, make_version, parses_shared
from reasoner.authoring.lint import _Linter, _well_formed_in_lists, lint
from reasoner.cli import app
from reasoner.policy.versions import VersionError, graphs, read_manifest, resolve

BASE = str(VERSIONS / "2024-08")
SECRET = "secret-4c1d9e"  # in a file's content: must never appear in an error


@pytest.fixture(scope="module", autouse=True)
def _parses_shared():
    """The shipped Turtle files parsed once for the lints and versions built here (authoring_util)."""
    with parses_shared(sys.modules[__name__]):
        yield


def manifest_text(name: str, base: str, extra: str = "") -> str:
    return PREFIXES + f"""
<> a bxv:PolicyVersionManifest ;
    dcterms:identifier "{name}" ;
    dcterms:valid "2030-01-01"^^xsd:date ;
    bxv:status "draft" ;
    bxv:policyVersion cp:version-2024-08 ;
    prov:wasRevisionOf <{base}> {extra}.
"""


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_a_manifest_that_is_its_own_revision(tmp_path):
    folder = tmp_path / "self"
    folder.mkdir()
    (folder / "manifest.ttl").write_text(manifest_text("self", "./"), encoding="utf-8")
    with pytest.raises(VersionError, match="goes round in a circle") as err:
        read_manifest(folder)
    assert str(folder / "manifest.ttl") in str(err.value)
    # Two manifests revising each other.
    for a, b in (("a", "b"), ("b", "a")):
        (tmp_path / a).mkdir()
        (tmp_path / a / "manifest.ttl").write_text(manifest_text(a, f"../{b}/"), encoding="utf-8")
    with pytest.raises(VersionError, match="circle"):
        read_manifest(tmp_path / "a")
    # Lint of another version beside them still runs; the loops are findings.
    good = make_version(tmp_path, "good", "")
    found = lint(good, tmp_path, hermit=False, shacl_shacl=False)
    circles = [f for f in found if "circle" in f.message]
    assert len(circles) == 3 and all(f.level == "error" for f in circles)
    assert resolve("good", tmp_path).identifier == "good"  # found by name despite the broken ones
    result = run("diff", BASE, "self", "--versions-dir", str(tmp_path))
    assert result.exit_code == 2 and "circle" in result.stderr and "Traceback" not in result.output


def test_an_override_replacing_a_5000_item_list(tmp_path):
    values = " ".join(f'"v{i}"' for i in range(5000))
    folder = make_version(tmp_path, "big", f"shp:I.A.1 rdfs:seeAlso [ rdf:value ( {values} ) ] .\n")
    (folder / "override2.ttl").write_text(PREFIXES + 'shp:I.A.1 rdfs:seeAlso [ rdf:value ( "a" "b" ) ] .\n',
                                          encoding="utf-8")
    text = (folder / "manifest.ttl").read_text().replace("<override.ttl>", "<override.ttl>, <override2.ttl>")
    (folder / "manifest.ttl").write_text(text.replace("@prefix", "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n@prefix", 1))
    (folder / "override.ttl").write_text("@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n"
                                         + (folder / "override.ttl").read_text())
    (folder / "override2.ttl").write_text("@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n"
                                          + (folder / "override2.ttl").read_text())
    built = graphs(read_manifest(folder))
    cells = [s for s in built.shapes.subjects(RDF.first, None)]
    assert not [c for c in cells if str(built.shapes.value(c, RDF.first)).startswith("v")]  # the old list is gone
    result = run("diff", BASE, "big", "--versions-dir", str(tmp_path))
    assert result.exit_code == 0, result.output


def test_blank_nodes_nested_100000_deep(tmp_path):
    depth = 100_000
    body = "shp:I.A.1 rdfs:seeAlso " + "[ rdfs:seeAlso " * depth + '"x"' + " ]" * depth + " .\n"
    folder = make_version(tmp_path, "deep", "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n" + body)
    with pytest.raises(VersionError, match="nested too deeply") as err:
        graphs(read_manifest(folder))
    assert str(folder / "override.ttl") in str(err.value)
    for command in (["diff", BASE, "deep"], ["lint", "--version", "deep", "--no-hermit"]):
        result = run(*command, "--versions-dir", str(tmp_path))
        assert result.exit_code == 2, (command, result.output)
        assert "nested too deeply" in result.stderr and "Traceback" not in result.output


def test_a_file_that_is_not_a_manifest_is_never_quoted(tmp_path):
    for command in (["lint", "--version", "/etc/passwd", "--no-hermit"], ["diff", "2024-08", "/etc/passwd"]):
        result = run(*command)
        assert result.exit_code == 2 and "is not a version manifest" in result.stderr
        assert "root:" not in result.output
    folder = tmp_path / "garbage"
    folder.mkdir()
    (folder / "manifest.ttl").write_text(f"this is {SECRET} and not turtle\n", encoding="utf-8")
    with pytest.raises(VersionError, match="not valid Turtle") as err:
        read_manifest(folder)
    assert SECRET not in str(err.value)
    (tmp_path / "binary").mkdir()
    (tmp_path / "binary" / "manifest.ttl").write_bytes(b"\xff\xfe" + SECRET.encode() + b"\x00\x81")
    with pytest.raises(VersionError) as err:
        read_manifest(tmp_path / "binary")
    assert SECRET not in str(err.value)
    found = lint(make_version(tmp_path, "ok", ""), tmp_path, hermit=False, shacl_shacl=False)
    texts = " ".join(f.line() for f in found)
    assert "garbage" in texts and "binary" in texts and SECRET not in texts


@pytest.mark.parametrize("override, feature", [
    # (sh:sparql itself runs, through pySHACL: issue 12 §5; a query SHACL forbids does not)
    ('shp:I.A.1 sh:sparql [ sh:select "SELECT $this WHERE { $this ?p ?o MINUS { $this ?p 1 } }" ] .\n', "MINUS"),
    ("shp:I.A.1 sh:node shp:I.A.1 .\n", "recursive"),
])
def test_diff_on_a_shape_the_engine_cannot_run(tmp_path, override, feature):
    folder = make_version(tmp_path, "odd", override)
    for command in (["diff", BASE, "odd"], ["witnesses", "--version", "odd"]):
        result = run(*command, "--versions-dir", str(tmp_path))
        assert result.exit_code == 2, (command, result.output)
        assert feature in result.stderr and str(folder / "override.ttl") in result.stderr
        assert "Traceback" not in result.output


# --------------------------------------------------------------------------- HermiT fetches nothing


def test_hermit_does_not_download_owl_imports(tmp_path, monkeypatch):
    if shutil.which("java") is None:
        pytest.skip("java is not installed: HermiT does not run")
    monkeypatch.setenv("BLINCYTO_CACHE_DIR", str(tmp_path / "cache"))  # HermiT runs for real, not a kept verdict
    monkeypatch.delenv("BLINCYTO_CACHE", raising=False)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    port = server.getsockname()[1]
    seen: list[bytes] = []

    def accept() -> None:
        server.settimeout(0.5)
        while not getattr(server, "_closed", False):
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                seen.append(conn.recv(4096))

    threading.Thread(target=accept, daemon=True).start()
    try:
        folder = make_version(tmp_path, "imports", f"""
@prefix owl: <http://www.w3.org/2002/07/owl#> .
<https://w3id.org/blincyto-pa/ontology> owl:imports <http://127.0.0.1:{port}/evil.owl> .
""")
        found = lint(folder, tmp_path, hermit=True, shacl_shacl=False)
    finally:
        server.close()
    assert seen == []
    notes = [f for f in found if f.check == "consistency" and "owl:imports is not followed" in f.message]
    assert len(notes) == 1
    assert not [f for f in found if f.check == "consistency" and f.level == "error"]


# --------------------------------------------------------------------------- sh:in lists, linear


def _shapes_with_in(members: list, tail=RDF.nil) -> tuple[Graph, URIRef]:
    g = Graph()
    shape, prop, head = URIRef("urn:t:S"), BNode(), BNode()
    g.add((shape, RDF.type, SH.NodeShape))
    g.add((shape, SH.targetClass, URIRef("urn:t:C")))
    g.add((shape, SH.property, prop))
    g.add((prop, SH.path, URIRef("urn:t:p")))
    Collection(g, head, members)
    if tail != RDF.nil:
        last = [c for c in g.subjects(RDF.rest, RDF.nil)][0]
        g.set((last, RDF.rest, tail))
    g.add((prop, SH["in"], head))
    return g, prop


def test_a_5000_item_in_list_is_meta_validated_whole():
    """The engine runs SHACL-SHACL in time linear in a list (benchmarks/lint_in_lists.py): no cut."""
    g, prop = _shapes_with_in([Literal(f"v{i}") for i in range(5000)])
    same, problems = _well_formed_in_lists(g)
    assert problems == [] and same is g  # well-formed: nothing replaced
    from reasoner.policy.versions import VersionGraphs

    linter = _Linter(VersionGraphs(Graph(), g))
    linter.shacl_shacl()
    assert linter.found == []
    assert len(list(Collection(g, g.value(prop, SH["in"])))) == 5000  # the linted graph is not changed


@pytest.mark.parametrize("break_it, problem", [
    ("loop", "loops back"), ("not-nil", "not rdf:nil"), ("two-firsts", "exactly one"),
])
def test_a_broken_in_list_is_a_finding(break_it, problem):
    g, prop = _shapes_with_in([Literal(f"v{i}") for i in range(50)])
    head = g.value(prop, SH["in"])
    last = [c for c in g.subjects(RDF.rest, RDF.nil)][0]
    if break_it == "loop":
        g.set((last, RDF.rest, head))
    elif break_it == "not-nil":
        g.set((last, RDF.rest, URIRef("urn:t:end")))
    else:
        g.add((head, RDF.first, Literal("extra")))
    _, problems = _well_formed_in_lists(g)
    assert len(problems) == 1 and problem in problems[0][1]
    from reasoner.policy.versions import VersionGraphs

    linter = _Linter(VersionGraphs(Graph(), g))
    linter.shacl_shacl()  # the list is reported, and the meta-validation does not raise on it
    assert [f.message for f in linter.found] == [problems[0][1] + " (in a blank node of this shape)"]
