"""Lint a policy version's graphs: what an author must fix before the version can go live.

Checks (each finding names the file and the term):
  shacl-shacl  the shapes graph conforms to SHACL-SHACL (pySHACL's meta-shapes, run by the engine);
  declared     every class, property and individual a shape uses is declared in the ontology;
  reachable    every shape a criterion names exists, every criterion a tree names exists (both also
               at load); every shape is used by a criterion, or is a warning/info shape or a
               building block;
  engine       every shape can be run by the engine (compiled, or through pySHACL);
  numbers      criteria have unique numbers; a criterion's shapes (its shape, open shape and note
               shape share its number by design) carry that number and point back to it;
  leaf         every leaf has a shape (also at load), every shape a message, every criterion the
               policy's sentence;
  override     a stated bx:openShape (the not-contradicted reading, normally derived from the shape)
               says which reading makes it so (bx:reading), and overrides something;
  threshold    every threshold a criterion's shapes test is a number its policy sentence states,
               compared the same way (reasoner/authoring/thresholds.py);
The checks marked "at load" are reasoner.policy.integrity's: loading a knowledge base refuses to start
on them (PolicyError), so a decision is never made over such a mistake.
  consistency  the ontology is consistent for HermiT (owlready2's, Java), and no class is unsatisfiable;
  manifest     version manifests use declared terms, name existing graphs, one version is current.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from rdflib import RDF, BNode, Graph, URIRef
from rdflib.collection import Collection
from rdflib.namespace import DCTERMS, OWL, SH
from rdflib.term import Node

from reasoner.policy.integrity import findings
from reasoner.policy.kb import BX
from reasoner.authoring.outline import normalize
from reasoner.policy.resources import data_dir
from reasoner.authoring.shapetext import qname
from reasoner.authoring.thresholds import mismatches
from reasoner.policy.versions import (BXV, CURRENT, MANIFEST, PolicyVersion, VersionError, VersionGraphs, graphs,
                                      parse_turtle, read_manifest, shipped_graphs)

if TYPE_CHECKING:
    from reasoner.shacl.compiler import CompiledShapes

ERROR, WARNING, INFO = "error", "warning", "info"
STATUSES = ("current", "draft", "retired")


@dataclass(frozen=True)
class LintFinding:
    level: str
    check: str
    file: str
    term: str
    message: str

    def line(self) -> str:
        where = f"{self.file}: " if self.file else ""
        return f"{self.level.upper():7} {where}{self.term}: {self.message} [{self.check}]"


def _show(path: Path | None) -> str:
    if path is None:
        return ""
    try:
        return str(path.resolve().relative_to(data_dir("ontology").parent.resolve()))
    except ValueError:
        return str(path)


class _Linter:
    def __init__(self, vg: VersionGraphs) -> None:
        self.vg = vg
        self.o, self.s = vg.ontology, vg.shapes
        self.found: list[LintFinding] = []

    def add(self, level: str, check: str, term: Node, message: str) -> None:
        named = self._named(term)
        files = self.vg.files_of(named)
        if named != term:
            message += " (in a blank node of this shape)"
        self.found.append(LintFinding(level, check, _show(files[-1] if files else None), qname(named), message))

    def _named(self, node: Node) -> Node:
        """The named shape (or criterion) that a blank node belongs to, for the message."""
        seen = set()
        while isinstance(node, BNode) and node not in seen:
            seen.add(node)
            parent = next(iter(self.s.subjects(None, node)), None) or next(iter(self.o.subjects(None, node)), None)
            if parent is None:
                break
            node = parent
        return node

    # -- criteria and their shapes ---------------------------------------------------------------

    def criteria(self) -> dict[URIRef, str]:
        return {c: str(self.o.value(c, DCTERMS.identifier) or "")
                for c in self.o.subjects(RDF.type, BX.Criterion) if isinstance(c, URIRef)}

    def roles(self) -> list[tuple[URIRef, str, URIRef]]:
        """(criterion, role, shape) for every shape a criterion names."""
        return [(c, role, s) for role, p in (("shape", BX.shape), ("open shape", BX.openShape),
                                              ("note shape", BX.noteShape))
                for c, s in self.o.subject_objects(p) if isinstance(s, URIRef)]

    def children(self, c: Node) -> list[Node]:
        out: list[Node] = []
        for p in (BX.allOf, BX.anyOf):
            for head in self.o.objects(c, p):
                out.extend(Collection(self.o, head))
        return out

    def is_warning(self, s: Node) -> bool:
        return self.s.value(s, SH.severity) in (SH.Warning, SH.Info)

    # -- checks ---------------------------------------------------------------------------------

    def shacl_shacl(self) -> None:
        """The shapes graph against SHACL-SHACL, run by the engine (`reasoner.shacl`): pySHACL's
        meta-shapes compile whole, so this is the compiled code, linear in the size of the shapes
        (an `sh:in` list of 5,000 values is a fraction of a second; pySHACL's meta-validation was
        quadratic in it). tests/test_lint_meta.py holds its findings to pySHACL's `meta_validate`."""
        graph, problems = _well_formed_in_lists(self.s)
        for shape, message in problems:
            self.add(ERROR, "shacl-shacl", shape, message)
        report = meta_shapes().run(graph)
        if report.conforms:
            return
        results = report.graph
        for r in results.subjects(RDF.type, SH.ValidationResult):
            focus = results.value(r, SH.focusNode)
            message = str(results.value(r, SH.resultMessage) or "does not conform to SHACL-SHACL")
            self.add(ERROR, "shacl-shacl", focus, message)

    def integrity(self) -> None:
        """The load-time checks (reasoner.policy.integrity): declared terms, an evaluable tree, a
        shape for every leaf, and shapes the engine can run. `check`, `batch`, `serve` refuse to
        start on any of them; lint reports them all."""
        from reasoner.shacl.compiler import ShapeError, compile_shapes

        for f in findings(self.o, self.s):
            self.add(ERROR, f.check, f.term, f.message)
        try:
            compile_shapes(self.s, {})
        except ShapeError as exc:
            self.add(ERROR, "engine", exc.shape, exc.finding)

    def reachable(self) -> None:
        criteria = self.criteria()
        owned = {s for _, _, s in self.roles()}
        used_by_shapes: set[Node] = set()
        for p in (SH.node, SH.qualifiedValueShape, SH["not"], SH.property):
            used_by_shapes.update(self.s.objects(None, p))
        for p in (SH["or"], SH["and"], SH.xone):
            for head in self.s.objects(None, p):
                used_by_shapes.update(Collection(self.s, head))
        named = {x for x in self.s.subjects(RDF.type, SH.NodeShape) if isinstance(x, URIRef)}
        named |= {x for x in self.s.subjects(SH.targetClass, None) if isinstance(x, URIRef)}
        for shape in sorted(named - owned):
            if self.is_warning(shape):
                continue
            if (shape, SH.targetClass, None) in self.s:
                self.add(ERROR, "reachable", shape, "targets requests, but no criterion of the tree uses it: "
                         "its results would never be read")
            elif shape not in used_by_shapes:
                self.add(WARNING, "reachable", shape, "a building block that no shape uses")
        roots = [c for c in criteria if (c, BX.appliesTo, None) in self.o]
        reached: set[Node] = set()
        todo = list(roots)
        while todo:
            c = todo.pop()
            if c not in reached:
                reached.add(c)
                todo.extend(self.children(c))
                todo.extend(self.o.objects(c, BX.otherwise))
        for c in sorted(set(criteria) - reached):
            self.add(INFO, "reachable", c, "not under any root (bx:appliesTo): its shape is validated, "
                     "but no decision reads it")

    def numbers(self) -> None:
        criteria = self.criteria()
        by_number: dict[str, list[URIRef]] = {}
        for c, number in criteria.items():
            if not number:
                self.add(ERROR, "numbers", c, "has no dcterms:identifier (its number in the policy)")
            by_number.setdefault(number, []).append(c)
        for number, cs in sorted(by_number.items()):
            if number and len(cs) > 1:
                for c in cs:
                    self.add(ERROR, "numbers", c, f"shares number {number} with "
                             + ", ".join(qname(x) for x in cs if x != c))
        users: dict[URIRef, list[URIRef]] = {}
        for c, role, s in self.roles():
            users.setdefault(s, []).append(c)
            shape_number = str(self.s.value(s, DCTERMS.identifier) or "")
            if shape_number != criteria.get(c, ""):
                self.add(ERROR, "numbers", s, f"is the {role} of {criteria.get(c)} but is numbered "
                         f"{shape_number or '(none)'}")
            name = str(self.s.value(s, SH.name) or "")
            if name and not name.startswith(criteria.get(c, "")):
                self.add(WARNING, "numbers", s, f"sh:name {name!r} does not start with {criteria.get(c)}")
            back = self.s.value(s, BX.criterion)
            if back is not None and back != c:
                self.add(ERROR, "numbers", s, f"points back to {qname(back)} (bx:criterion), but {qname(c)} uses it")
        for s, cs in users.items():
            if len(set(cs)) > 1:
                self.add(ERROR, "numbers", s, "is used by more than one criterion: "
                         + ", ".join(criteria[c] for c in sorted(set(cs))))
        owned = set(users)
        for s in sorted(x for x in self.s.subjects(SH.targetClass, None) if isinstance(x, URIRef)):
            number = str(self.s.value(s, DCTERMS.identifier) or "")
            if s not in owned and not self.is_warning(s) and number in by_number:
                self.add(ERROR, "numbers", s, f"carries number {number}, which belongs to criterion "
                         f"{qname(by_number[number][0])}, but that criterion does not use it")

    def leaves(self) -> None:
        for c, number in sorted(self.criteria().items()):
            sentence = str(self.o.value(c, BX.policySentence) or "")
            if not sentence:
                self.add(ERROR, "leaf", c, "has no bx:policySentence (the policy's own words)")
        for c, role, s in self.roles():
            if self.s.value(s, SH.message) is None:
                self.add(ERROR, "leaf", s, f"{role} of {qname(c)} has no sh:message")
            quoted = str(self.s.value(s, BX.policySentence) or "")
            sentence = normalize(str(self.o.value(c, BX.policySentence) or ""))
            if role == "shape" and not quoted and not sentence:
                self.add(ERROR, "leaf", s, "neither the shape nor its criterion quotes the policy")
            for part in filter(None, (normalize(p) for p in quoted.split("..."))):
                if part not in sentence:
                    self.add(WARNING, "leaf", s, f"quotes {part!r}, which is not in the sentence of {qname(c)}")
        for s in sorted(x for x in self.s.subjects(SH.severity, None) if isinstance(x, URIRef)):
            if self.is_warning(s):
                for p in (SH.message, BX.warningCode):
                    if self.s.value(s, p) is None:
                        self.add(ERROR, "leaf", s, f"warning shape without {qname(p)}")

    def overrides(self) -> None:
        """A stated bx:openShape overrides the reading derived from the shape: it must say which
        reading of the policy makes it so (bx:reading), and the shape must have a derived reading to
        override (else it changes nothing)."""
        from reasoner.policy.kb import context_paths, contract_fields
        from reasoner.policy.openreading import OpenReadingError, Sources, derive

        stated = [(c, s) for c, s in self.o.subject_objects(BX.openShape) if isinstance(c, URIRef)]
        if not stated:
            return
        fields = {p: tuple(str(o) for o in self.o.objects(p, BX.derivedFromField))
                  for p in set(self.o.subjects(BX.derivedFromField, None))}
        sources = Sources.of(fields, context_paths(), *contract_fields(), ontology=self.o)
        for c, override in sorted(stated):
            if self.o.value(c, BX.reading) is None:
                self.add(ERROR, "override", c, f"states bx:openShape {qname(override)} without bx:reading: "
                         "say which reading of the policy the derived not-contradicted reading misses")
            shape = self.o.value(c, BX.shape)
            if shape is None or (shape, None, None) not in self.s:
                continue
            scratch = Graph()
            scratch += self.s
            try:
                derived = derive(scratch, [shape], sources)
            except OpenReadingError:
                continue  # an override is how such a shape is read
            if not derived and override == shape:
                # An override that is another shape adds a reading of values sent (an unknown
                # diagnosis), which no derivation from absence could: only the shape itself is redundant.
                self.add(WARNING, "override", c, f"states bx:openShape {qname(override)}, but {qname(shape)} "
                         "cannot be missing (nothing in it fails on a fact that was not sent): remove it")

    def thresholds(self) -> None:
        """A threshold a criterion's shape tests that its policy sentence does not state."""
        for c, _role, s in self.roles():
            sentence = " ".join(str(x) for x in (self.s.value(s, BX.policySentence),
                                                 self.o.value(c, BX.policySentence)) if x is not None)
            for m in mismatches(self.s, s, sentence):
                self.add(ERROR, "threshold", s, m.message)

    def consistency(self) -> None:
        """HermiT on the ontology (reasoner.authoring.hermit: `-U`, its verdict kept by content)."""
        from reasoner.authoring.hermit import HermitError, verdict

        if shutil.which("java") is None:
            self.found.append(LintFinding(WARNING, "consistency", "", "(ontology)",
                                          "java is not installed: HermiT did not run"))
            return
        imports = sorted(set(self.o.objects(None, OWL.imports)))
        for iri in imports:
            self.found.append(LintFinding(WARNING, "consistency", "", qname(iri),
                                          "owl:imports is not followed (nothing is fetched at run time): HermiT "
                                          "checked the version's own graphs; put what it needs in them"))
        local = self.o  # read, never changed
        if imports:
            local = Graph()
            for triple in self.o.triples((None, None, None)):
                if triple[1] != OWL.imports:  # HermiT (OWL API) would download each imported ontology
                    local.add(triple)
        try:
            found = verdict(local)
        except HermitError as exc:
            self.found.append(LintFinding(ERROR, "consistency", "", "(ontology)", str(exc)))
            return
        if not found.consistent:
            self.found.append(LintFinding(ERROR, "consistency", "", "(ontology)",
                                          "HermiT: the ontology is inconsistent"))
            return
        for iri in found.unsatisfiable:
            self.add(ERROR, "consistency", URIRef(iri), "HermiT: unsatisfiable class")


def _list_cells(g: Graph, head: Node) -> tuple[list[Node], list[Node], str | None]:
    """(cells, members, problem) of the RDF list at `head`, walked once; `problem` says why it is not one."""
    cells: list[Node] = []
    members: list[Node] = []
    seen: set[Node] = set()
    node = head
    while node != RDF.nil:
        if not isinstance(node, BNode) or node in seen:
            return cells, members, "it loops back on itself" if node in seen else f"it ends in {qname(node)}, not rdf:nil"
        seen.add(node)
        firsts, rests = list(g.objects(node, RDF.first)), list(g.objects(node, RDF.rest))
        if len(firsts) != 1 or len(rests) != 1:
            return cells, members, "a cell has not exactly one rdf:first and one rdf:rest"
        cells.append(node)
        members.append(firsts[0])
        node = rests[0]
    if (RDF.nil, RDF.first, None) in g or (RDF.nil, RDF.rest, None) in g:
        return cells, members, "rdf:nil has an rdf:first or rdf:rest"
    return cells, members, None


def _well_formed_in_lists(shapes: Graph) -> tuple[Graph, list[tuple[Node, str]]]:
    """The shapes graph with every `sh:in` value that is not a well-formed RDF list replaced by a
    well-formed list of the members read before the problem, and what is wrong with each.

    A looping list makes the report of SHACL-SHACL raise (pySHACL's and the engine's alike: a list
    value is copied, and worded, item by item); the walk here finds the problem once per list, in
    linear time, and says it plainly. Well-formed lists are meta-validated whole: the engine is linear
    in their length (benchmarks/lint_in_lists.py), where pySHACL, which lint ran before, was quadratic.
    """
    problems: list[tuple[Node, str]] = []
    broken: list[tuple[Node, Node, list[Node], list[Node]]] = []
    for shape, head in list(shapes.subject_objects(SH["in"])):
        if not isinstance(head, BNode):
            continue  # not a list at all: SHACL-SHACL itself reports it
        cells, members, problem = _list_cells(shapes, head)
        if problem is not None:
            problems.append((shape, f"sh:in is not a well-formed RDF list: {problem}"))
            broken.append((shape, head, cells, members))
    if not broken:
        return shapes, problems
    out = Graph()
    out += shapes
    for shape, head, cells, members in broken:
        for cell in cells:
            for p in (RDF.first, RDF.rest):
                out.remove((cell, p, None))
        out.remove((shape, SH["in"], head))
        fresh = [BNode() for _ in members]
        out.add((shape, SH["in"], fresh[0] if fresh else RDF.nil))
        for i, cell in enumerate(fresh):
            out.add((cell, RDF.first, members[i]))
            out.add((cell, RDF.rest, fresh[i + 1] if i + 1 < len(fresh) else RDF.nil))
    return out, problems


@lru_cache(maxsize=1)
def meta_shapes() -> CompiledShapes:
    """SHACL-SHACL (the meta-shapes pySHACL ships and its `meta_validate` runs), compiled once a process."""
    from importlib.resources import files

    from reasoner.shacl.compiler import compile_shapes

    text = (files("pyshacl") / "assets" / "shacl-shacl.ttl").read_text(encoding="utf-8")
    return compile_shapes(Graph().parse(data=text, format="turtle"), {})


def lint_graphs(vg: VersionGraphs, hermit: bool = True, shacl_shacl: bool = True) -> list[LintFinding]:
    linter = _Linter(vg)
    if shacl_shacl:
        linter.shacl_shacl()
    linter.integrity()
    linter.reachable()
    linter.numbers()
    linter.leaves()
    linter.overrides()
    linter.thresholds()
    if hermit:
        linter.consistency()
    return linter.found


def parsed_once() -> Callable[[Path], Graph]:
    """`parse_turtle`, each file read once (by its content): a lint builds the linted version's graphs
    and every manifest's, and the versions share most of their files (a draft is its base plus an
    override), so most of lint's time was parsing the same Turtle three times. The graphs it gives
    are read, never changed (`graphs` copies them into the version's own)."""
    parsed: dict[tuple[str, str], Graph] = {}

    def parse(path: Path) -> Graph:
        try:
            digest = hashlib.blake2b(Path(path).read_bytes(), digest_size=16).hexdigest()
        except OSError:
            return parse_turtle(path)  # says why it cannot be read
        key = (str(Path(path).resolve()), digest)
        if key not in parsed:
            parsed[key] = parse_turtle(path)
        return parsed[key]

    return parse


def lint_manifests(directory: Path, parse: Callable[[Path], Graph] | None = None,
                   built: dict[Path, VersionGraphs] | None = None) -> list[LintFinding]:
    """Every manifest under `directory`: terms declared, graphs present, one current version.
    `parse`: how a graph file is read (default: `parsed_once()`, for this call); `built`: graphs
    already built, by manifest (the linted version's)."""
    parse = parse or parsed_once()
    built = built or {}
    found: list[LintFinding] = []
    vocab_path = directory / "vocabulary.ttl"
    if not vocab_path.is_file():
        from reasoner.policy.versions import versions_dir

        vocab_path = versions_dir() / "vocabulary.ttl"
    vocab = parse_turtle(vocab_path) if vocab_path.is_file() else Graph()
    versions: list[PolicyVersion] = []
    for path in sorted(directory.glob(f"*/{MANIFEST}")):
        shown = _show(path)
        try:
            g = parse_turtle(path, path.as_uri())
        except VersionError as exc:  # names the line, never the file's content
            found.append(LintFinding(ERROR, "manifest", shown, "(file)", str(exc)))
            continue
        for term in {t for triple in g for t in triple if isinstance(t, URIRef) and str(t).startswith(str(BXV))}:
            if (term, RDF.type, None) not in vocab:
                found.append(LintFinding(ERROR, "manifest", shown, "bxv:" + str(term)[len(str(BXV)):],
                                         "not declared in versions/vocabulary.ttl"))
        try:
            v = read_manifest(path)
        except VersionError as exc:
            found.append(LintFinding(ERROR, "manifest", shown, "(manifest)", str(exc)))
            continue
        versions.append(v)
        for what, ok in (("dcterms:valid (the effective date)", v.effective is not None),
                         ("bxv:policyVersion", v.policy_version is not None),
                         (f"bxv:status, one of {', '.join(STATUSES)}", v.status in STATUSES)):
            if not ok:
                found.append(LintFinding(ERROR, "manifest", shown, v.identifier, f"needs {what}"))
        if path.parent.name != v.identifier:
            found.append(LintFinding(WARNING, "manifest", shown, v.identifier,
                                     f"folder {path.parent.name!r} differs from the identifier"))
        try:
            vg = built.get(v.manifest) or graphs(v, parse)
        except Exception as exc:  # noqa: BLE001
            found.append(LintFinding(ERROR, "manifest", shown, v.identifier, f"graphs do not load: {exc}"))
            continue
        current = set(vg.ontology.objects(None, BX.currentVersion))
        if v.policy_version is not None and current != {v.policy_version}:
            found.append(LintFinding(ERROR, "manifest", shown, v.identifier,
                                     f"bxv:policyVersion {qname(v.policy_version)} but the graphs' "
                                     f"bx:currentVersion is {', '.join(qname(c) for c in current) or 'none'}"))
    currents = [v.identifier for v in versions if v.status == CURRENT]
    if versions and len(currents) != 1:
        found.append(LintFinding(ERROR, "manifest", _show(directory), "(versions)",
                                 f"exactly one version must be current, found {len(currents)}"))
    ids = [v.identifier for v in versions]
    for dup in sorted({i for i in ids if ids.count(i) > 1}):
        found.append(LintFinding(ERROR, "manifest", _show(directory), dup, "identifier used twice"))
    return found


def lint(version: str | Path | PolicyVersion | None = None, versions_dir: Path | None = None,
         hermit: bool = True, shacl_shacl: bool = True) -> list[LintFinding]:
    """Lint a version (default: the shipped ontology/ and shapes/) and every manifest beside it."""
    from reasoner.policy.versions import resolve, versions_dir as default_dir

    directory = Path(versions_dir) if versions_dir is not None else default_dir()
    parse = parsed_once()
    linted = None if version is None else resolve(version, directory)
    vg = shipped_graphs(parse) if linted is None else graphs(linted, parse)
    found = lint_graphs(vg, hermit=hermit, shacl_shacl=shacl_shacl)
    if directory.is_dir():
        found += lint_manifests(directory, parse, {} if linted is None else {linted.manifest: vg})
    order = {ERROR: 0, WARNING: 1, INFO: 2}
    return sorted(found, key=lambda f: (order[f.level], f.check, f.file, f.term))
