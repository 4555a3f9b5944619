"""Helpers for the authoring-review tests: throw-away policy versions built on the shipped 08.24 one.

A test version is what an author would write: a manifest under a folder, revising versions/2024-08,
with one override file (and withdrawn terms). Nothing is copied from the shipped graphs.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Iterator

import pytest

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


_shared_parse = None


@contextmanager
def parses_shared(*test_modules: ModuleType) -> Iterator[None]:
    """While open, each Turtle file a policy version is built from is parsed once a process, as one
    lint already parses it once (`reasoner.authoring.lint.parsed_once`, keyed by the file's path and
    content, so an edited file is read again): every lint, and every version `graphs` builds (a test
    version's load, `diff`), shares the shipped files' graphs instead of parsing them again, about
    1.5 s each. Those graphs are only read (`graphs` copies them into the version's own), never changed.
    `test_modules`: modules that imported `graphs` by name, pointed at the shared one too."""
    global _shared_parse
    from reasoner.authoring import lint
    from reasoner.policy import versions

    if _shared_parse is None:
        _shared_parse = lint.parsed_once()
    shared, build = _shared_parse, versions.graphs

    def graphs(version, parse=versions.parse_turtle):
        return build(version, shared if parse is versions.parse_turtle else parse)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(lint, "parsed_once", lambda: shared)
        for module in (versions, *test_modules):
            mp.setattr(module, "graphs", graphs)
        yield
