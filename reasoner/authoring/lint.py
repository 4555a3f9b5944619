"""Lint a policy version's graphs: what an author must fix before the version can go live.

Checks (each finding names the file and the term):
  shacl-shacl  the shapes graph conforms to SHACL-SHACL (pySHACL's meta-shapes);
  declared     every class, property and individual a shape uses is declared in the ontology;
  reachable    every shape is used by a criterion, or is a warning/info shape or a building block;
               every criterion a tree names exists;
  numbers      criteria have unique numbers; a criterion's shapes (its shape, open shape and note
               shape share its number by design) carry that number and point back to it;
  leaf         every leaf has a shape, every shape a message, every criterion the policy's sentence;
  consistency  the ontology is consistent for HermiT (owlready2, Java), as tests/test_ontology.py runs it;
  manifest     version manifests use declared terms, name existing graphs, one version is current.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rdflib import RDF, BNode, Graph, URIRef
from rdflib.collection import Collection
from rdflib.namespace import DCTERMS, OWL, SH
from rdflib.term import Node

from reasoner.policy.kb import BX, CP, KB
from reasoner.authoring.outline import normalize
from reasoner.policy.resources import data_dir
from reasoner.authoring.shapetext import qname
from reasoner.policy.versions import (BXV, CURRENT, MANIFEST, PolicyVersion, VersionError, VersionGraphs, graphs,
                                      parse_turtle, read_manifest, shipped_graphs)

ERROR, WARNING, INFO = "error", "warning", "info"
PROJECT = (str(BX), str(KB), str(CP))
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
        from pyshacl.entrypoints import meta_validate

        graph, problems = _short_in_lists(self.s)
        for shape, message in problems:
            self.add(ERROR, "shacl-shacl", shape, message)
        conforms, report, _ = meta_validate(graph, inference="none")
        if conforms:
            return
        for r in report.subjects(RDF.type, SH.ValidationResult):
            focus = report.value(r, SH.focusNode)
            message = str(report.value(r, SH.resultMessage) or "does not conform to SHACL-SHACL")
            self.add(ERROR, "shacl-shacl", focus, message)

    def declared(self) -> None:
        seen: set[tuple[Node, str]] = set()
        path_cells = {cell for head in self.s.objects(None, SH.path) if isinstance(head, BNode)
                      for cell in self._cells(head)}
        for subj, pred, obj in self.s:
            if subj in path_cells:
                continue  # the steps of a path: checked below as properties
            for term, role in ((pred, "property"), (obj, "class" if pred in (SH["class"], SH.targetClass)
                                                   else "individual")):
                if isinstance(term, URIRef) and str(term).startswith(PROJECT) and (term, role) not in seen:
                    seen.add((term, role))
                    if (term, RDF.type, None) not in self.o:
                        self.add(ERROR, "declared", self._named(subj),
                                 f"uses {role} {qname(term)}, which the ontology does not declare")
        for head in self.s.objects(None, SH.path):
            for step in (Collection(self.s, head) if isinstance(head, BNode) else [head]):
                if isinstance(step, URIRef) and str(step).startswith(PROJECT) and (step, RDF.type, None) not in self.o \
                        and (step, "path") not in seen:
                    seen.add((step, "path"))
                    self.add(ERROR, "declared", self._named(head), f"path uses property {qname(step)}, "
                             "which the ontology does not declare")

    def _cells(self, head: Node) -> list[Node]:
        cells = []
        while isinstance(head, BNode) and head not in cells:
            cells.append(head)
            head = self.s.value(head, RDF.rest)
        return cells

    def reachable(self) -> None:
        criteria = self.criteria()
        owned = {s for _, _, s in self.roles()}
        for c, role, s in self.roles():
            if (s, None, None) not in self.s:
                self.add(ERROR, "reachable", c, f"names {role} {qname(s)}, which no shapes file defines")
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
        for c in criteria:
            for child in self.children(c):
                if child not in criteria:
                    self.add(ERROR, "reachable", c, f"lists {qname(child)}, which is not a criterion")
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
            if not self.children(c) and self.o.value(c, BX.shape) is None:
                self.add(ERROR, "leaf", c, "is a leaf with no shape: it would always be met")
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

    def consistency(self) -> None:
        if shutil.which("java") is None:
            self.found.append(LintFinding(WARNING, "consistency", "", "(ontology)",
                                          "java is not installed: HermiT did not run"))
            return
        import owlready2

        imports = sorted(set(self.o.objects(None, OWL.imports)))
        for iri in imports:
            self.found.append(LintFinding(WARNING, "consistency", "", qname(iri),
                                          "owl:imports is not followed (nothing is fetched at run time): HermiT "
                                          "checked the version's own graphs; put what it needs in them"))
        local = Graph()
        for triple in self.o.triples((None, None, None)):
            if triple[1] != OWL.imports:  # owlready2 would download each imported ontology
                local.add(triple)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "kb.nt"
            local.serialize(destination=str(path), format="nt", encoding="utf-8")
            world = owlready2.World()
            world.get_ontology(path.as_uri()).load()
            try:
                owlready2.sync_reasoner(world, infer_property_values=False, debug=0,
                                        ignore_unsupported_datatypes=True)
            except owlready2.OwlReadyInconsistentOntologyError as exc:
                self.found.append(LintFinding(ERROR, "consistency", "", "(ontology)",
                                              f"HermiT: the ontology is inconsistent: {exc}"))
                return
            for cls in world.inconsistent_classes():
                self.add(ERROR, "consistency", URIRef(cls.iri), "HermiT: unsatisfiable class")


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


def _short_in_lists(shapes: Graph, keep: int = 2) -> tuple[Graph, list[tuple[Node, str]]]:
    """The shapes graph with every `sh:in` list cut to its first `keep` members, and what is wrong
    with any that is not a well-formed list.

    SHACL-SHACL only asks an `sh:in` value to be a well-formed list (its members are free), but
    pySHACL checks that by describing the rest of the list from every cell: 250 values took 17 s,
    2,000 values 367 s. The walk here checks the same rule once per list, in linear time, and the
    meta-validation sees lists of `keep` members, so lint stays linear in the size of the shapes.
    """
    out = Graph()
    out += shapes
    problems: list[tuple[Node, str]] = []
    for shape, head in list(shapes.subject_objects(SH["in"])):
        if not isinstance(head, BNode):
            continue  # not a list at all: SHACL-SHACL itself reports it
        cells, members, problem = _list_cells(shapes, head)
        if problem is None and len(members) <= keep:
            continue
        if problem is not None:
            problems.append((shape, f"sh:in is not a well-formed RDF list: {problem}"))
        for cell in cells:
            for p in (RDF.first, RDF.rest):
                out.remove((cell, p, None))
        out.remove((shape, SH["in"], head))
        short = [BNode() for _ in members[:keep]]
        out.add((shape, SH["in"], short[0] if short else RDF.nil))
        for i, cell in enumerate(short):
            out.add((cell, RDF.first, members[i]))
            out.add((cell, RDF.rest, short[i + 1] if i + 1 < len(short) else RDF.nil))
    return out, problems


def lint_graphs(vg: VersionGraphs, hermit: bool = True, shacl_shacl: bool = True) -> list[LintFinding]:
    linter = _Linter(vg)
    if shacl_shacl:
        linter.shacl_shacl()
    linter.declared()
    linter.reachable()
    linter.numbers()
    linter.leaves()
    if hermit:
        linter.consistency()
    return linter.found


def lint_manifests(directory: Path) -> list[LintFinding]:
    """Every manifest under `directory`: terms declared, graphs present, one current version."""
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
            built = graphs(v)
        except Exception as exc:  # noqa: BLE001
            found.append(LintFinding(ERROR, "manifest", shown, v.identifier, f"graphs do not load: {exc}"))
            continue
        current = set(built.ontology.objects(None, BX.currentVersion))
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
    vg = shipped_graphs() if version is None else graphs(resolve(version, directory))
    found = lint_graphs(vg, hermit=hermit, shacl_shacl=shacl_shacl)
    if directory.is_dir():
        found += lint_manifests(directory)
    order = {ERROR: 0, WARNING: 1, INFO: 2}
    return sorted(found, key=lambda f: (order[f.level], f.check, f.file, f.term))
