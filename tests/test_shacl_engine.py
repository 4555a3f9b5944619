"""The SHACL engine's two back ends and one report, and what it refuses at load.

A shape the compiler does not cover runs through pySHACL, for that shape only, and its results join
the compiled ones: in the results by shape (what a decision reads) and in the one report graph. What
no back end can run as the specification says fails at load, naming the shape.
"""

from __future__ import annotations

import pytest
from rdflib import RDF, Graph, Literal, URIRef
from rdflib.compare import isomorphic
from rdflib.namespace import SH

from reasoner.shacl.compiler import ShapeError, compile_shapes
from w3c_shacl import reduced

PREFIXES = """
@prefix ex: <http://example.org/> .
@prefix sh: <http://www.w3.org/ns/shacl#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
"""
EX = "http://example.org/"

DATA = PREFIXES + """
ex:a a ex:Thing ; ex:code "ab-1" ; ex:size 3 .
ex:b a ex:Thing ; ex:code "XY" .
"""

# Compiled (ex:Sized), through pySHACL (ex:Coded: sh:pattern; ex:Queried: sh:sparql; ex:Custom: a
# component declared here), and a warning (ex:Warned: compiled).
SHAPES = PREFIXES + """
ex:Sized a sh:NodeShape ; sh:targetClass ex:Thing ;
    sh:property [ sh:path ex:size ; sh:minCount 1 ] .
ex:Coded a sh:NodeShape ; sh:targetClass ex:Thing ;
    sh:property [ sh:path ex:code ; sh:pattern "^[a-z]+-[0-9]$" ] .
ex:Queried a sh:NodeShape ; sh:targetClass ex:Thing ;
    sh:sparql [ sh:select "SELECT $this WHERE { $this <http://example.org/code> ?c . FILTER (STRLEN(?c) < 3) }" ] .
ex:NoteComponent a sh:ConstraintComponent ;
    sh:parameter [ sh:path ex:forbidden ] ;
    sh:validator [ a sh:SPARQLAskValidator ; sh:ask "ASK { FILTER (?value != $forbidden) }" ] .
ex:Custom a sh:NodeShape ; sh:targetClass ex:Thing ;
    sh:property [ sh:path ex:code ; ex:forbidden "XY" ] .
ex:Warned a sh:NodeShape ; sh:targetClass ex:Thing ; sh:severity sh:Warning ;
    sh:property [ sh:path ex:size ; sh:maxInclusive 2 ] .
"""

OWNER = {f"{EX}{n}": URIRef(f"{EX}{n}") for n in ("Sized", "Coded", "Queried", "Custom", "Warned")}


def graph(text: str) -> Graph:
    return Graph().parse(data=text, format="turtle")


def owners(shapes: Graph) -> dict[str, URIRef]:
    """Every shape node -> its top shape, as the knowledge base maps them."""
    out = dict(OWNER)
    for top in OWNER.values():
        for child in shapes.objects(top, SH.property):
            out[str(child)] = top
    return out


@pytest.fixture(scope="module")
def run():
    shapes = graph(SHAPES)
    compiled = compile_shapes(shapes, owners(shapes))
    return compiled, compiled.run(graph(DATA))


def test_uncovered_shapes_run_through_pyshacl_and_only_they(run):
    compiled, _report = run
    assert set(compiled.not_compiled) == {URIRef(EX + n) for n in ("Coded", "Queried", "Custom")}
    assert "sh:sparql" in compiled.not_compiled[URIRef(EX + "Queried")]
    assert "declared in the shapes graph" in compiled.not_compiled[URIRef(EX + "Custom")]
    assert {s.node for s in compiled.top} == {URIRef(EX + "Sized"), URIRef(EX + "Warned")}


def test_one_report_for_both_back_ends(run):
    _compiled, report = run
    ex = lambda n: URIRef(EX + n)  # noqa: E731
    assert set(report.by_shape) == {ex("Sized"), ex("Coded"), ex("Queried"), ex("Custom"), ex("Warned")}
    assert report.by_shape[ex("Coded")].paths == {(ex("code"),)}
    assert report.by_shape[ex("Queried")].pathless
    # the same report pySHACL writes for the whole shapes graph, up to blank nodes
    from pyshacl import validate

    _conforms, expected, _ = validate(graph(DATA), shacl_graph=graph(SHAPES), inference="none")
    assert isomorphic(reduced(report.graph), reduced(expected))
    assert len(list(report.graph.objects(None, SH.result))) == 5


def test_a_warning_is_a_result():
    shapes = graph(PREFIXES + """
ex:Warned a sh:NodeShape ; sh:targetClass ex:Thing ; sh:severity sh:Warning ;
    sh:property [ sh:path ex:size ; sh:maxInclusive 2 ] .
""")
    report = compile_shapes(shapes, {f"{EX}Warned": URIRef(EX + "Warned")}).run(graph(DATA))
    assert report.conforms is False  # SHACL 1.0 §3.6.1: sh:conforms is false if there is any result
    assert (None, SH.conforms, None) in report.graph
    clean = compile_shapes(shapes, {}).run(graph(PREFIXES + "ex:c a ex:Thing ; ex:size 1 ."))
    assert clean.conforms is True


@pytest.mark.parametrize("shape, finding", [
    ('ex:S a sh:NodeShape ; sh:targetClass ex:Thing ; sh:property [ sh:path ex:size ; sh:minCount "one" ] .',
     "sh:minCount must be one non-negative xsd:integer"),
    ('ex:S a sh:NodeShape ; sh:targetClass ex:Thing ; sh:minCount 1 .', "sh:minCount on a node shape"),
    ('ex:S a sh:NodeShape ; sh:targetClass ex:Thing ; sh:rule [ a sh:TripleRule ] .', "SHACL-AF rule"),
    ('ex:S a sh:NodeShape ; sh:target [ a ex:SomeTarget ] .', "SHACL-AF custom target"),
    ('ex:S a sh:NodeShape ; sh:targetClass ex:Thing ; sh:js [ sh:jsFunctionName "f" ] .', "SHACL-JS"),
    ('ex:S a sh:NodeShape ; sh:targetClass ex:Thing ; sh:sparql [ sh:select """SELECT $this WHERE {'
     ' SERVICE <http://example.org/sparql> { $this ?p ?o } }""" ] .', "SERVICE"),
    ('ex:S a sh:NodeShape ; sh:targetClass ex:Thing ; sh:sparql [ sh:select """SELECT $this WHERE {'
     ' $this ?p ?o MINUS { $this ex:code ?o } }""" ] .', "MINUS"),
    ('ex:S a sh:NodeShape ; sh:targetClass ex:Thing ; sh:sparql [ sh:select """SELECT $this WHERE {'
     ' BIND (ex:a AS $this) }""" ] .', "AS ?this) of a pre-bound variable"),
    ('ex:S a sh:NodeShape ; sh:targetClass ex:Thing ; sh:sparql [ sh:select """SELECT $this WHERE {'
     ' $this ?p ?o FILTER ($shapesGraph = ex:a) }""" ] .', "$shapesGraph"),
    ('ex:S a sh:NodeShape ; sh:targetClass ex:Thing ; sh:sparql [ sh:select "SELECT $this WHERE { $this" ] .',
     "does not parse"),
    # not compiled, and ill-formed for pySHACL: refused at load rather than in the first request
    ('ex:S a sh:NodeShape ; sh:targetClass ex:Thing ; sh:property [ sh:path ex:code ; sh:pattern ex:notText ] .',
     "pySHACL cannot run it"),
    ('ex:C a sh:ConstraintComponent ; sh:parameter [ sh:path ex:p ] .', "without a SPARQL-based validator"),
])
def test_what_no_back_end_can_run_fails_at_load(shape, finding):
    with pytest.raises(ShapeError) as err:
        compile_shapes(graph(PREFIXES + shape), {})
    assert finding in str(err.value), str(err.value)
    assert "http://example.org/" in str(err.value)  # names the shape


def test_xone_counts_a_repeated_member_twice():
    shapes = graph(PREFIXES + """
ex:S a sh:NodeShape ; sh:targetNode ex:a ; sh:xone ( ex:T ex:T ) .
ex:T a sh:NodeShape ; sh:class ex:Thing .
""")
    report = compile_shapes(shapes, {f"{EX}S": URIRef(EX + "S")}).run(graph(DATA))
    assert URIRef(EX + "S") in report.by_shape  # conforms to the member twice: not exactly one


# sh:closed (SHACL 1.0 §4.8.1), compiled: on a node shape with sh:ignoredProperties, on a property
# shape (its value nodes are closed), inside sh:or (conformance only), and sh:closed false
CLOSED_SHAPES = PREFIXES + """
@prefix rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#> .
ex:Closed a sh:NodeShape ; sh:targetClass ex:Thing ; sh:closed true ; sh:ignoredProperties ( rdf:type ) ;
    sh:property [ sh:path ex:code ] , [ sh:path ex:size ; sh:deactivated true ] .
ex:ClosedValues a sh:NodeShape ; sh:targetClass ex:Thing ;
    sh:property [ sh:path ex:part ; sh:closed true ; sh:property [ sh:path ex:label ] ] .
ex:Either a sh:NodeShape ; sh:targetClass ex:Thing ;
    sh:or ( [ sh:closed true ; sh:ignoredProperties ( rdf:type ex:code ex:size ex:part ) ] [ sh:class ex:Big ] ) .
ex:Open a sh:NodeShape ; sh:targetClass ex:Thing ; sh:closed false .
"""
CLOSED_DATA = PREFIXES + """
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
ex:a a ex:Thing ; ex:code "ab-1" ; ex:size 3 ; ex:colour "red", "blue" ; ex:part ex:p1, [ ex:label "x" ; ex:weight 2 ] .
ex:b a ex:Thing ; ex:code "XY" ; ex:extra ex:a .
ex:c a ex:Thing, rdfs:Resource .
ex:p1 a rdfs:Resource, ex:Piece ; ex:label "p" ; ex:part ex:p2 .
"""


def test_closed_is_compiled_and_reports_each_triple_as_pyshacl_does():
    from pyshacl import validate

    shapes = graph(CLOSED_SHAPES)
    tops = {f"{EX}{n}": URIRef(EX + n) for n in ("Closed", "ClosedValues", "Either", "Open")}
    compiled = compile_shapes(shapes, tops)
    assert compiled.not_compiled == {}
    data = graph(CLOSED_DATA)
    report = compiled.run(data)
    results = [(f, v, s.path) for f, v, s, *_ in report.parts.results if s.node == URIRef(EX + "Closed")]
    ex = lambda n: URIRef(EX + n)  # noqa: E731
    assert sorted(results) == sorted([  # the deactivated property shape's path is allowed, as in pySHACL
        (ex("a"), Literal("red"), ex("colour")), (ex("a"), Literal("blue"), ex("colour")),
        (ex("a"), next(o for o in data.objects(ex("a"), ex("part")) if o != ex("p1")), ex("part")),
        (ex("a"), ex("p1"), ex("part")), (ex("b"), ex("a"), ex("extra"))])
    # a property shape's value nodes are closed: the focus is still the focus, the value the object
    values = {(f, v, s.path) for f, v, s, *_ in report.parts.results if s.node != URIRef(EX + "Closed")
              and s.node != URIRef(EX + "Either")}
    assert values == {(ex("a"), ex("p2"), ex("part")), (ex("a"), Literal(2), ex("weight")),
                      (ex("a"), ex("Piece"), RDF.type)}  # not rdf:type rdfs:Resource (pySHACL's rule)
    assert report.by_shape[ex("Closed")].paths == {(ex("colour"),), (ex("part"),), (ex("extra"),)}
    assert ex("Open") not in report.by_shape
    _conforms, expected, _ = validate(data, shacl_graph=graph(CLOSED_SHAPES), inference="none")
    assert isomorphic(reduced(report.graph), reduced(expected))
    messages = {str(m) for m in report.graph.objects(None, SH.resultMessage)}
    assert "Node ex:b is closed. It cannot have value: ex:a" in messages
    interpreted = compiled.run(data, interpreted=True)  # the generated code and the closures agree
    assert sorted(map(repr, interpreted.parts.results)) == sorted(map(repr, report.parts.results))


@pytest.mark.parametrize("shape, finding", [
    ('ex:S a sh:NodeShape ; sh:targetClass ex:Thing ; sh:closed "yes" .', "sh:closed must be one xsd:boolean"),
    ('ex:S a sh:NodeShape ; sh:targetClass ex:Thing ; sh:closed true, false .', "sh:closed must be one xsd:boolean"),
    ('ex:S a sh:NodeShape ; sh:targetClass ex:Thing ; sh:ignoredProperties ( ex:p ) .', "without sh:closed"),
])
def test_an_ill_formed_closed_shape_fails_at_load(shape, finding):
    with pytest.raises(ShapeError) as err:
        compile_shapes(graph(PREFIXES + shape), {})
    assert finding in str(err.value)
