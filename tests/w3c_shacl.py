"""The W3C SHACL test suite (tests/w3c-shacl/, vendored data), read and compared as the suite says.

The suite's own instructions (data-shapes-test-suite/index.html, "Validate RDF data"): the expected
report is the manifest's `mf:result` node, its `sh:result` nodes and the structures of their
`sh:resultPath`; the actual report loses nested results (`sh:detail`) and every triple whose
predicate the expected graph cannot use, keeps an `sh:resultMessage` only where the expected graph
has that very message, and clones each result path so that no structure is shared; the two must be
isomorphic (blank nodes matched structurally). A test whose `mf:result` is `sht:Failure` passes when
the engine reports a failure (refuses the shapes graph).

This module is data handling only; tests/test_w3c_shacl.py runs the engines over it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rdflib import RDF, BNode, Graph, Literal, Namespace, URIRef
from rdflib.collection import Collection
from rdflib.compare import isomorphic
from rdflib.namespace import SH
from rdflib.term import Node

SUITE = Path(__file__).parent / "w3c-shacl"
MF = Namespace("http://www.w3.org/2001/sw/DataAccess/tests/test-manifest#")
SHT = Namespace("http://www.w3.org/ns/shacl-test#")

# The predicates an expected report uses (the suite's list); anything else leaves the actual report.
REPORT_PREDICATES = (SH.conforms, SH.result)
RESULT_PREDICATES = (SH.focusNode, SH.resultPath, SH.resultSeverity, SH.sourceConstraint,
                     SH.sourceConstraintComponent, SH.sourceShape, SH.value)


@dataclass(frozen=True)
class Case:
    """One `sht:Validate` entry of the suite."""

    name: str            # the test's path under tests/w3c-shacl, e.g. "core/node/xone-duplicate"
    label: str
    data: Path
    shapes: Path
    manifest: Path
    result: Node         # the mf:result node (sht:Failure: the suite expects the shapes to be refused)
    report: Graph        # every triple reachable from mf:result in the manifest graph
    status: str

    @property
    def expects_failure(self) -> bool:
        return self.result == SHT.Failure


def parse(path: Path) -> Graph:
    """A Turtle file of the suite, with its own URL as the base (the relative IRIs of its tests)."""
    return Graph().parse(path, format="turtle", publicID=path.resolve().as_uri())


def _local(iri: Node) -> Path:
    text = str(iri)
    if not text.startswith("file://"):
        raise ValueError(f"not a file of the suite: {text}")
    return Path(text[len("file://"):])


def cases() -> list[Case]:
    """Every test of the suite: those reachable from the root manifest, in the manifests' order, then
    those of a test file no manifest includes (sparql/component/nodeValidator-001 is one). Read once a
    process (two test modules collect it; 270 Turtle files): a new list of the same cases each call."""
    return list(_all_cases())


@functools.cache
def _all_cases() -> tuple[Case, ...]:
    found = list(_entries(SUITE / "manifest.ttl"))
    reached = {c.manifest.resolve() for c in found}
    for path in sorted(SUITE.rglob("*.ttl")):
        if path.resolve() not in reached and "sht:Validate" in path.read_text(encoding="utf-8"):
            found.extend(_entries(path, include=False))
    return tuple(found)


def _entries(manifest: Path, include: bool = True) -> Iterator[Case]:
    g = parse(manifest)
    me = URIRef(manifest.resolve().as_uri())
    for head in g.objects(me, MF.entries):
        for entry in Collection(g, head):
            if (entry, RDF.type, SHT.Validate) not in g:
                continue
            action = g.value(entry, MF.action)
            yield Case(
                name=str(_local(entry).relative_to(SUITE.resolve())),
                label=str(g.value(entry, _RDFS_LABEL) or ""),
                data=_local(g.value(action, SHT.dataGraph)),
                shapes=_local(g.value(action, SHT.shapesGraph)),
                manifest=manifest,
                result=g.value(entry, MF.result),
                report=_closure(g, g.value(entry, MF.result)),
                status=str(g.value(entry, MF.status) or "").rsplit("#", 1)[-1],
            )
    if include:
        for included in sorted(g.objects(me, MF.include), key=str):
            yield from _entries(_local(included))


_RDFS_LABEL = URIRef("http://www.w3.org/2000/01/rdf-schema#label")


# -- the comparison -----------------------------------------------------------------------------

def _copy_structure(source: Graph, node: Node, target: Graph) -> Node:
    """`node` into `target`; a blank node with everything reachable from it, as fresh blank nodes
    (the suite: result paths must not share structure)."""
    if not isinstance(node, BNode):
        return node
    clone = BNode()
    for p, o in source.predicate_objects(node):
        target.add((clone, p, _copy_structure(source, o, target)))
    return clone


def reduced(report: Graph, messages: frozenset[Literal] = frozenset()) -> Graph:
    """A validation report reduced to what the suite compares (top-level results only)."""
    out = Graph()
    for r in report.subjects(RDF.type, SH.ValidationReport):
        node = BNode()
        out.add((node, RDF.type, SH.ValidationReport))
        for p in REPORT_PREDICATES:
            for o in report.objects(r, p):
                if p == SH.result:
                    out.add((node, SH.result, _reduced_result(report, o, out, messages)))
                else:
                    out.add((node, p, o))
    return out


def _reduced_result(report: Graph, result: Node, out: Graph, messages: frozenset[Literal]) -> BNode:
    node = BNode()
    out.add((node, RDF.type, SH.ValidationResult))
    for p in RESULT_PREDICATES:
        for o in report.objects(result, p):
            out.add((node, p, _copy_structure(report, o, out) if p == SH.resultPath else o))
    for m in report.objects(result, SH.resultMessage):
        if m in messages:
            out.add((node, SH.resultMessage, m))
    return node


def expected(case: Case) -> tuple[Graph, frozenset[Literal]]:
    """The expected report of a case (as a report graph) and the messages it names."""
    messages = frozenset(case.report.objects(None, SH.resultMessage))
    return reduced(case.report, messages), messages


def _closure(g: Graph, node: Node) -> Graph:
    out = Graph()
    todo, seen = [node], set()
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        for p, o in g.predicate_objects(n):
            out.add((n, p, o))
            if isinstance(o, BNode):
                todo.append(o)
    return out


def outcome(case: Case, validate: Callable[[Graph, Graph], Graph]) -> str:
    """"pass", "fail: ..." or "error: ..." for one engine (`validate(data, shapes) -> report graph`).

    An engine signals "this shapes graph is not well-formed / cannot be run" by raising."""
    data, shapes = parse(case.data), parse(case.shapes)
    try:
        report = validate(data, shapes)
    except Exception as exc:  # noqa: BLE001 - a refusal of any kind is the outcome
        return "pass" if case.expects_failure else f"error: {type(exc).__name__}: {exc}"[:300]
    if case.expects_failure:
        return "fail: validated a shapes graph the suite expects to be refused"
    want, messages = expected(case)
    got = reduced(report, messages)
    if isomorphic(want, got):
        return "pass"
    return "fail: " + _difference(want, got)


def _difference(want: Graph, got: Graph) -> str:
    def results(g: Graph) -> list[str]:
        conforms = [str(o) for o in g.objects(None, SH.conforms)]
        rows = sorted(" ".join(f"{p.n3(g.namespace_manager) if isinstance(p, URIRef) else p}="
                               f"{'[]' if isinstance(o, BNode) else o.n3(g.namespace_manager)}"
                               for p, o in sorted(g.predicate_objects(r)) if p != RDF.type)
                      for r in g.objects(None, SH.result))
        return [f"conforms={','.join(conforms)}", *rows]
    w, g_ = results(want), results(got)
    missing = [r for r in w if r not in g_]
    extra = [r for r in g_ if r not in w]
    return f"missing {missing} extra {extra}"[:600]
