"""Lint's SHACL-SHACL step, run by the engine, against pySHACL's `meta_validate` (what lint ran before).

The engine compiles pySHACL's SHACL-SHACL whole (sh:closed included: nothing runs through pySHACL),
so lint's step costs a fraction of a second instead of pySHACL's seconds. Both must give lint the
same findings (file, term, message), on the shipped shapes and on shapes graphs with the mistakes an
author makes (tests/test_lint.py's, broken `sh:in` lists, an ill-formed `sh:closed`, a path with an
extra triple, ...), each mistake found by both.

This is the suite's one pySHACL meta-validation of the real shapes (the reference);
tests/test_shapes.py checks the loaded knowledge base's shapes with the engine.
"""
from __future__ import annotations

from collections import Counter

import pytest
from rdflib import RDF, Graph
from rdflib.namespace import SH

from authoring_util import PREFIXES
from test_lint import MISTAKES

from reasoner.authoring.lint import _Linter, _well_formed_in_lists, meta_shapes
from reasoner.policy.versions import VersionGraphs, shipped_graphs

# Each a mistake SHACL-SHACL finds, planted on its own shape (term: how lint names the finding).
BROKEN = {
    "shp:LoopP": "shp:Loop a sh:NodeShape ; sh:targetClass bx:InitialRequest ; sh:property shp:LoopP .\n"
                "shp:LoopP sh:path bx:p ; sh:in _:l1 . _:l1 rdf:first 1 ; rdf:rest _:l2 . "
                "_:l2 rdf:first 2 ; rdf:rest _:l3 . _:l3 rdf:first 3 ; rdf:rest _:l1 .",
    "shp:NotNilP": "shp:NotNil a sh:NodeShape ; sh:targetClass bx:InitialRequest ; sh:property shp:NotNilP .\n"
                  "shp:NotNilP sh:path bx:p ; sh:in _:n1 . _:n1 rdf:first 1 ; rdf:rest _:n2 . "
                  "_:n2 rdf:first 2 ; rdf:rest _:n3 . _:n3 rdf:first 3 ; rdf:rest bx:end .",
    "shp:TwoFirsts": "shp:TwoFirsts a sh:NodeShape ; sh:targetClass bx:InitialRequest ; sh:in _:t1 .\n"
                     "_:t1 rdf:first 1, 9 ; rdf:rest _:t2 . _:t2 rdf:first 2 ; rdf:rest _:t3 . "
                     "_:t3 rdf:first 3 ; rdf:rest rdf:nil .",
    "shp:ClosedYes": 'shp:ClosedYes a sh:NodeShape ; sh:targetClass bx:InitialRequest ; sh:closed "yes" .',
    "shp:IgnoredNotList": "shp:IgnoredNotList a sh:NodeShape ; sh:targetClass bx:InitialRequest ; sh:closed true ;\n"
                          "    sh:ignoredProperties bx:p .",
    "shp:InverseExtra": "shp:InverseExtra a sh:NodeShape ; sh:targetClass bx:InitialRequest ;\n"
                        "    sh:property [ sh:path [ sh:inversePath bx:p ; sh:name \"extra\" ] ; sh:minCount 1 ] .",
    "shp:TwoPaths": "shp:TwoPaths a sh:NodeShape ; sh:targetClass bx:InitialRequest ;\n"
                    "    sh:property [ sh:path bx:p, bx:q ; sh:maxCount 1 ] .",
    "shp:NoKind": "shp:NoKind a sh:NodeShape ; sh:targetClass bx:InitialRequest ; sh:nodeKind sh:Nothing .",
    "shp:LiteralClass": 'shp:LiteralClass a sh:NodeShape ; sh:targetClass "Request" .',
}


def by_engine(vg: VersionGraphs) -> Counter:
    linter = _Linter(vg)
    linter.shacl_shacl()
    return Counter((f.level, f.check, f.file, f.term, f.message) for f in linter.found)


def by_pyshacl(vg: VersionGraphs) -> Counter:
    """lint's SHACL-SHACL step as it was: the walk of the sh:in lists (a looping list makes pySHACL's
    report raise), then pySHACL's meta-validation of the whole shapes graph."""
    from pyshacl.entrypoints import meta_validate

    linter = _Linter(vg)
    graph, problems = _well_formed_in_lists(vg.shapes)
    for shape, message in problems:
        linter.add("error", "shacl-shacl", shape, message)
    conforms, report, _ = meta_validate(graph, inference="none")
    for r in report.subjects(RDF.type, SH.ValidationResult):
        message = str(report.value(r, SH.resultMessage) or "does not conform to SHACL-SHACL")
        linter.add("error", "shacl-shacl", report.value(r, SH.focusNode), message)
    assert conforms == (len(linter.found) == len(problems))
    return Counter((f.level, f.check, f.file, f.term, f.message) for f in linter.found)


def test_the_meta_shapes_compile_whole():
    assert meta_shapes().not_compiled == {}  # nothing runs through pySHACL


def test_the_shipped_shapes_same_findings():
    vg = shipped_graphs()
    assert by_engine(vg) == by_pyshacl(vg) == Counter()


@pytest.fixture(scope="module")
def broken():
    shapes = Graph().parse(data=PREFIXES + MISTAKES + "\n".join(BROKEN.values()), format="turtle")
    return VersionGraphs(Graph(), shapes)


def test_broken_shapes_same_findings(broken):
    engine, reference = by_engine(broken), by_pyshacl(broken)
    assert engine == reference
    terms = {term for _level, _check, _file, term, _message in engine}
    assert "shp:I.A.3" in terms  # tests/test_lint.py's mistake: sh:minCount "one"
    assert set(BROKEN) <= terms, set(BROKEN) - terms
