"""The shapes graph: well-formed SHACL, one shape per criterion, each traceable to the policy."""

from __future__ import annotations

import pytest
from rdflib.namespace import DCTERMS, SH

import reasoner
from reasoner.policy.kb import BX


@pytest.fixture(scope="module")
def kb():
    return reasoner.default_reasoner().kb


def test_shapes_conform_to_shacl_shacl(kb):
    # The loaded shapes (the files' and the derived open readings) against SHACL-SHACL, run by the
    # engine as lint runs it; tests/test_lint_meta.py holds that to pySHACL's meta-validation (the
    # suite's one, on the shipped shapes: pySHACL takes some 18 s of CPU on these)
    from reasoner.authoring.lint import meta_shapes

    report = meta_shapes().run(kb.shapes)
    assert report.conforms, report.graph.serialize(format="turtle")


def test_every_criterion_shape_exists_and_is_numbered_as_the_criterion(kb):
    for c in kb.criteria.values():
        for shape in (c.shape, c.open_shape, c.note_shape):
            if shape is None:
                continue
            assert shape in kb.shape_info, f"{c.number}: {shape} is not a targeted shape"
            assert kb.shape_info[shape].number == c.number, shape
        if c.shape is not None:
            info = kb.shape_info[c.shape]
            assert info.message, f"{c.number}: no sh:message"
            assert info.sentence, f"{c.number}: no bx:policySentence"
            assert (c.shape, BX.criterion, c.iri) in kb.shapes, f"{c.number}: shape does not point back"


def test_every_criterion_shape_cites_the_encoded_policy_version(kb):
    version = kb.policies["CP.PHAR.312"].version
    for shape in kb.shape_info:
        assert (shape, DCTERMS.source, version) in kb.shapes, shape


def test_no_two_criteria_share_a_number(kb):
    numbers = [c.number for c in kb.criteria.values()]
    assert len(numbers) == len(set(numbers))


def test_every_leaf_criterion_of_I_A_and_II_A_has_its_own_shape(kb):
    for root in ("I.A", "II.A"):
        def walk(c):
            if c.combination is None:
                assert c.shape is not None, f"leaf {c.number} has no shape"
            for i in c.children:
                walk(kb.criteria[i])
        walk(kb.by_number(root))


def test_pathways_are_the_policy_numbering(kb):
    pathways = sorted(c.number for c in kb.criteria.values() if c.is_pathway)
    assert pathways == sorted(["I.A.4.a", "I.A.4.b.i", "I.A.4.b.ii", "I.A.4.c.i", "I.A.4.c.ii",
                               "I.A.4.c.iii", "I.A.4.c.iv", "I.A.4.d", "I.A.4.e", "II.A"])


def test_warning_shapes_have_codes(kb):
    for shape, info in kb.shape_info.items():
        if info.severity in (SH.Warning, SH.Info):
            assert info.warning_code, shape
