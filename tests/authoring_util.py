"""Helpers for the authoring-review tests: throw-away policy versions built on the shipped 08.24 one.

A test version is what an author would write: a manifest under a folder, revising versions/2024-08,
with one override file (and withdrawn terms). Nothing is copied from the shipped graphs.
"""
from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
VERSIONS = REPO_ROOT / "versions"
CASES = REPO_ROOT / "tests" / "cases"
POLICY_TEXT = REPO_ROOT.parent / "shared" / "policy" / "CP.PHAR.312-blinatumomab.txt"

PREFIXES = """
@prefix bx:      <https://w3id.org/blincyto-pa/ontology#> .
@prefix kb:      <https://w3id.org/blincyto-pa/kb/> .
@prefix cp:      <https://w3id.org/blincyto-pa/policy/CP.PHAR.312/> .
@prefix shp:     <https://w3id.org/blincyto-pa/shapes/CP.PHAR.312/> .
@prefix sh:      <http://www.w3.org/ns/shacl#> .
@prefix dcterms: <http://purl.org/dc/terms/> .
@prefix rdf:     <http://www.w3.org/1999/02/22-rdf-syntax-ns#> .
@prefix xsd:     <http://www.w3.org/2001/XMLSchema#> .
@prefix bxv:     <https://w3id.org/blincyto-pa/versions#> .
@prefix prov:    <http://www.w3.org/ns/prov#> .
"""


def make_version(root: Path, name: str, override: str, withdraws: tuple[str, ...] = ()) -> Path:
    """versions-like folder `root/name` revising the shipped 2024-08; returns the folder."""
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "override.ttl").write_text(PREFIXES + override, encoding="utf-8")
    withdrawn = "".join(f" ;\n    bxv:withdraws {w}" for w in withdraws)
    (folder / "manifest.ttl").write_text(PREFIXES + f"""
<> a bxv:PolicyVersionManifest ;
    dcterms:identifier "{name}" ;
    dcterms:valid "2030-01-01"^^xsd:date ;
    bxv:status "draft" ;
    bxv:policyVersion cp:version-2024-08 ;
    prov:wasRevisionOf <{(VERSIONS / "2024-08").as_uri()}/> ;
    bxv:overrides <override.ttl>{withdrawn} .
""", encoding="utf-8")
    return folder
