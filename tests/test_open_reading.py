"""Each criterion is written once: its "not contradicted" reading is derived from its shape.

The proof that the derived reading is the one the hand-written twins gave (tests/fixtures/
open-twins-2024-08.ttl, the twins as they were in shapes/ until issue 12 §6): on every case and on
generated requests, every criterion has the same truth (met / not-met / missing) under both. The one
place they part is documented below (`DIFFERS`), with a request that shows it. Then the derivation's
rules on small shapes, and its invariant: a request that meets a shape never contradicts it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from rdflib import Graph, URIRef

from authoring_util import parses_shared
from requestgen import requests

HERE = Path(__file__).parent
TWINS = HERE / "fixtures" / "open-twins-2024-08.ttl"
CASES = sorted((HERE / "cases").glob("*.json"))
GENERATED = int(os.environ.get("OPEN_N", "3000"))


@pytest.fixture(scope="module", autouse=True)
def _parses_shared():
    """The shipped Turtle files parsed once for the lints and versions built here (authoring_util)."""
    with parses_shared():
        yield


class Readings:
    """The shipped shapes (with their derived readings) and the old twins, compiled together."""

    def __init__(self, extra: tuple[str, ...] = ()) -> None:
        from rdflib.namespace import SH

        from reasoner.policy import kb as kbmod
        from reasoner.policy.kb import contract_fields, load
        from reasoner.policy.openreading import Sources, derive
        from reasoner.shacl.compiler import compile_shapes

        self.kb = load([HERE / e for e in extra])
        twins = Graph().parse(data=TWINS.read_text(encoding="utf-8").replace("-open ", "-twin "), format="turtle")
        self.twin = {c: s for c, s in twins.subject_objects(URIRef("https://w3id.org/blincyto-pa/ontology#openShape"))}
        shapes = Graph()
        shapes += self.kb.shapes
        for s, p, o in twins:
            if p != URIRef("https://w3id.org/blincyto-pa/ontology#openShape"):
                shapes.add((s, p, o))
        assert len(self.twin) == 20 and all((s, SH.targetClass, None) in shapes for s in self.twin.values())
        # the reading derived from each shape (what the knowledge base uses unless it states one)
        self.derived = derive(shapes, sorted(c.shape for c in self.kb.criteria.values()
                                             if c.shape is not None and c.open_shape != c.shape),
                              Sources.of(self.kb.derived_fields, self.kb.field_of_path, *contract_fields(), ontology=self.kb.graph),
                              suffix="-derived")
        self.compiled = compile_shapes(shapes, kbmod.shape_owner_of(shapes), self.kb.graph)

    def truths(self, request: dict) -> dict[str, tuple[str, str]]:
        """criterion -> (derived reading, twin reading); also checks met => not contradicted."""
        from reasoner.flow.check import check_request
        from reasoner.flow.enrich import enrich
        from reasoner.flow.lift import lift

        q = check_request(request)
        graph, node = lift(q)
        enrich(graph, node, q, self.kb, self.kb.policies[q["policy"]])
        report = self.compiled.run(graph)
        out = {}
        for c in self.kb.criteria.values():
            if c.shape is None:
                continue
            open_shape = c.shape if c.open_shape == c.shape else self.derived.get(c.shape)
            if not report.violated(c.shape):
                assert open_shape is None or not report.violated(open_shape), (c.number, request)
                out[c.number] = ("met", "met")
                continue
            derived = "not-met" if open_shape is None or report.violated(open_shape) else "missing"
            twin = self.twin.get(c.iri)
            if c.open_shape == c.shape:  # a stated override (reading 8): the same before and after
                twin = c.shape
            old = "not-met" if twin is None or report.violated(twin) else "missing"
            out[c.number] = (derived, old)
        return out


@pytest.fixture(scope="module")
def readings():
    cache: dict[tuple[str, ...], Readings] = {}

    def get(extra: tuple[str, ...] = ()) -> Readings:
        if extra not in cache:
            cache[extra] = Readings(extra)
        return cache[extra]
    return get


def _differences(r: Readings, request: dict) -> dict[str, tuple[str, str]]:
    return {n: t for n, t in r.truths(request).items() if t[0] != t[1]}


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_case_derived_reading_is_the_twins(readings, path):
    case = json.loads(path.read_text(encoding="utf-8"))
    if path.stem in DIFFERS_CASES:
        return  # the documented difference: tested below
    assert _differences(readings(tuple(case.get("kb", ()))), case["request"]) == {}


@pytest.mark.parametrize("chunk", range(0, GENERATED, 500), ids=lambda c: f"requests-{c}")
def test_generated_derived_reading_is_the_twins(readings, chunk):
    r = readings()
    for request in requests(min(500, GENERATED - chunk), seed=chunk):
        assert _differences(r, request) == {}, request


# Where the derived reading parts from the twin, and why the derived one stands: I.A.4.b.i's twin
# read "for induction, consolidation, or relapsed or refractory disease" as not met when a phase
# other than induction or consolidation was sent and the disease status was not, while I.A.4.b.ii's
# twin (and reading 1: absent means unknown) leaves that disease status unknown. No case or generated
# request reaches it; tests/cases/IA4bi-tki-maintenance-status-absent-needs-info.json now does.
DIFFERS = {"I.A.4.b.i": ("missing", "not-met")}
DIFFERS_CASES = {"IA4bi-tki-maintenance-status-absent-needs-info"}


def test_the_one_documented_difference(readings):
    case = json.loads((HERE / "cases" / "IA4bi-tki-in-maintenance-refer.json").read_text())
    request = case["request"]
    del request["diagnosis"]["disease_status"]  # a TKI in maintenance; relapsed or refractory not said
    assert _differences(readings(), request) == DIFFERS


# -- the rules, on small shapes ------------------------------------------------------------------

PREFIXES = """
@prefix ex: <http://example.org/> .
@prefix sh: <http://www.w3.org/ns/shacl#> .
@prefix bx: <https://w3id.org/blincyto-pa/ontology#> .
"""


def _derive(text: str, sources: dict | None = None):
    from reasoner.policy.openreading import Sources, derive

    g = Graph().parse(data=PREFIXES + text, format="turtle")
    can_be_unknown = frozenset({URIRef("http://example.org/p")})  # ex:p may hold a bx:NotStatedValue
    made = derive(g, [URIRef("http://example.org/S")], Sources(sources or {}, not_stated=can_be_unknown))
    return g, made


def _holds(g: Graph, shape: URIRef, data: str) -> bool:
    from reasoner.policy.kb import shape_owner_of
    from reasoner.shacl.compiler import compile_shapes

    report = compile_shapes(g, shape_owner_of(g)).run(Graph().parse(data=PREFIXES + data, format="turtle"))
    return not report.violated(shape)


S, OPEN = URIRef("http://example.org/S"), URIRef("http://example.org/S-open")
REQUIRED = "ex:S a sh:NodeShape ; sh:targetClass ex:R ; sh:message \"m\" ; bx:notMetMessage \"contradicted\" ;\n"


def test_an_absent_fact_passes_a_present_one_is_read():
    g, made = _derive(REQUIRED + "sh:property [ sh:path ex:p ; sh:minCount 1 ; sh:hasValue ex:yes ] .")
    assert made == {S: OPEN}
    assert str(g.value(OPEN, URIRef("http://www.w3.org/ns/shacl#message"))) == "contradicted"
    assert _holds(g, OPEN, "ex:r a ex:R .")                  # not sent: not contradicted
    assert _holds(g, OPEN, "ex:r a ex:R ; ex:p ex:yes .")
    assert not _holds(g, OPEN, "ex:r a ex:R ; ex:p ex:no .")  # sent and wrong: contradicted
    assert not _holds(g, S, "ex:r a ex:R .")


def test_a_derived_property_is_absent_only_when_its_field_was_not_sent():
    ex = "http://example.org/"
    g, _ = _derive(REQUIRED + "sh:property [ sh:path ex:derived ; sh:minCount 1 ] .",
                   {URIRef(ex + "derived"): ((URIRef(ex + "sent"),),)})
    assert _holds(g, OPEN, "ex:r a ex:R .")
    assert not _holds(g, OPEN, "ex:r a ex:R ; ex:sent () .")  # [] is a fact: nothing was derived from it


def test_a_value_that_counts_as_not_sent():
    g, _ = _derive(REQUIRED + "sh:property [ sh:path ex:p ; sh:minCount 1 ; sh:class ex:Good ] .")
    assert _holds(g, OPEN, "ex:r a ex:R ; ex:p ex:unknown . ex:unknown a bx:NotStatedValue .")
    assert not _holds(g, OPEN, "ex:r a ex:R ; ex:p ex:bad .")


def test_or_and_not():
    g, _ = _derive(REQUIRED + """sh:or ( [ sh:path ex:a ; sh:minCount 1 ; sh:hasValue ex:yes ]
                                         [ sh:path ex:b ; sh:minCount 1 ; sh:hasValue ex:yes ] ) ;
        sh:not [ sh:path ex:c ; sh:minCount 1 ] .""")
    assert _holds(g, OPEN, "ex:r a ex:R ; ex:a ex:no .")                # b not sent: may hold
    assert not _holds(g, OPEN, "ex:r a ex:R ; ex:a ex:no ; ex:b ex:no .")
    assert not _holds(g, OPEN, "ex:r a ex:R ; ex:c ex:x .")             # sh:not is read as it is


def test_nothing_to_derive_and_what_is_not_derived():
    from reasoner.policy.openreading import OpenReadingError

    text = REQUIRED + "sh:property [ sh:path ex:p ; sh:in ( ex:a ) ] ."
    g, made = _derive(text)
    assert made == {}  # passes on an absent fact already: the criterion cannot be missing
    assert len(g) == len(Graph().parse(data=PREFIXES + text, format="turtle"))  # and nothing is left behind
    with pytest.raises(OpenReadingError, match="sh:xone"):
        _derive(REQUIRED + "sh:xone ( [ sh:path ex:a ; sh:minCount 1 ] [ sh:path ex:b ; sh:minCount 1 ] ) .")


# -- overrides are linted ------------------------------------------------------------------------

def test_an_override_says_which_reading_and_overrides_something(tmp_path):
    from authoring_util import make_version

    from reasoner.authoring.lint import lint

    folder = make_version(tmp_path, "overrides", """
cp:I.A.4.e bx:openShape shp:I.A.4.e .
cp:I.B.1.a bx:openShape shp:I.B.1.a ;
    bx:reading "A reading." .
""")
    found = {(f.level, f.term): f.message for f in lint(folder, hermit=False, shacl_shacl=False)
             if f.check == "override"}
    assert set(found) == {("error", "cp:I.A.4.e"), ("warning", "cp:I.B.1.a")}, found
    assert "without bx:reading" in found[("error", "cp:I.A.4.e")]
    assert "cannot be missing" in found[("warning", "cp:I.B.1.a")]


def test_the_knowledge_base_runs_the_derived_readings_on_both_back_ends():
    """The open shapes are in the shapes graph pySHACL is given too (the same three values)."""
    import reasoner

    fast = reasoner.Reasoner()
    ref = reasoner.Reasoner(engine="pyshacl", kb=fast.kb)
    opens = {c.open_shape for c in fast.kb.criteria.values() if c.open_shape not in (None, c.shape)}
    assert len(opens) >= 20 and all((o, None, None) in fast.kb.shapes for o in opens)
    for name in ("reading2-ph-unknown-needs-info", "IA4bi-tki-maintenance-status-absent-needs-info"):
        request = json.loads((HERE / "cases" / f"{name}.json").read_text())["request"]
        assert fast.evaluate(request) == ref.evaluate(request)
