"""The knowledge base, loaded once per process: ontology, criteria tree, shapes and their indexes.

Everything the engine needs to know about the policy is read here from the graphs, once, into
plain lookup tables; per request the engine only consults them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterable

from rdflib import RDF, RDFS, SKOS, BNode, Graph, Literal, URIRef
from rdflib.term import Node
from rdflib.collection import Collection
from rdflib.namespace import DCTERMS, SH
from rdflib.plugins.stores.memory import Memory

from reasoner.policy import cache, integrity
from reasoner.policy.openreading import OpenReadingError, Sources, derive
from reasoner.policy.resources import contract_file, data_dir, turtle_files
from reasoner.policy.terms import BX, CP, KB, PREFIXES, SHP, TermNamespace  # noqa: F401 - re-exported
from reasoner.shacl.datagraph import TYPE, canonical, exact


@dataclass(frozen=True)
class Criterion:
    """One numbered criterion of the policy's outline, as the criteria tree states it."""

    iri: URIRef
    number: str
    sentence: str
    shape: URIRef | None
    open_shape: URIRef | None
    note_shape: URIRef | None
    combination: str | None  # "all", "any" or None (a leaf)
    children: tuple[URIRef, ...]
    is_pathway: bool
    deny_when_not_met: bool
    asks_for: tuple[str, ...]
    referrals: dict[URIRef, URIRef]  # line of business -> referral policy
    applies_to: URIRef | None
    approval_months: int | None
    otherwise: URIRef | None


@dataclass(frozen=True)
class ShapeInfo:
    """What the explainer reports about a top-level shape."""

    iri: URIRef
    number: str
    message: str
    sentence: str
    severity: URIRef
    warning_code: str | None
    asks_for: tuple[str, ...]


@dataclass(frozen=True)
class Band:
    """A numeric band read from the KB (age group, weight band): lower bound inclusive, upper exclusive.
    Bounds are exact decimals: a value at a bound is in the band that starts there, whatever its spelling."""

    iri: URIRef
    notation: str
    at_least: Decimal | None
    below: Decimal | None

    def contains(self, value: Decimal | int) -> bool:
        return (self.at_least is None or value >= self.at_least) and (self.below is None or value < self.below)


@dataclass(frozen=True)
class Unit:
    iri: URIRef
    spelling: str
    per_bsa: bool


@dataclass(frozen=True)
class LabelChange:
    iri: URIRef
    when: date
    reflected_in: frozenset[URIRef]


@dataclass
class PolicyInfo:
    iri: URIRef
    identifier: str
    version: URIRef
    version_label: str
    covered_drug: URIRef | None
    label_change_window_months: int


@dataclass
class KnowledgeBase:
    graph: Graph
    shapes: Graph
    criteria: dict[URIRef, Criterion]
    shape_info: dict[URIRef, ShapeInfo]
    shape_owner: dict[str, URIRef]  # any (nested) shape node id -> its top-level shape
    types: dict[URIRef, frozenset[URIRef]]
    labels: dict[str, dict[str, URIRef]]  # category -> lower-case label -> individual
    regimen_components: dict[URIRef, tuple[URIRef, ...]]
    regimen_recognised_by: dict[URIRef, tuple[URIRef, ...]]
    regimen_broader: dict[URIRef, tuple[URIRef, ...]]  # skos:broader closure of every individual
    alternatives: dict[URIRef, frozenset[URIRef]]
    age_groups: tuple[Band, ...]
    weight_bands: tuple[Band, ...]
    units: dict[str, Unit]
    infant_before_months: int
    label_changes: tuple[LabelChange, ...]
    policies: dict[str, PolicyInfo]
    field_of_path: dict[tuple[URIRef, ...], str]
    derived_fields: dict[URIRef, tuple[str, ...]]
    identifiers: dict[URIRef, str]  # dcterms:identifier of named nodes (policies, versions)
    titles: dict[URIRef, str]  # preferred label of every typed individual
    notations: dict[URIRef, str] = field(default_factory=dict)
    decimal_places: dict[URIRef, int] = field(default_factory=dict)  # derived property -> rounding
    compiled: Any = None  # the shapes, compiled (reasoner.shacl.compiler.CompiledShapes), at load
    cache_key: str | None = None  # the content key of the files it was read from (policy/cache.py), if cached

    @property
    def broader(self) -> dict[URIRef, tuple[URIRef, ...]]:
        """What each KB individual is a kind of (skos:broader, transitively): regimens and diseases."""
        return self.regimen_broader

    def by_number(self, number: str) -> Criterion:
        for c in self.criteria.values():
            if c.number == number:
                return c
        raise KeyError(number)

    def root_for(self, request_types: Iterable[URIRef]) -> Criterion:
        types = set(request_types)
        for c in self.criteria.values():
            if c.applies_to in types and c.approval_months is not None:
                return c
        raise LookupError("no criteria root applies to this request type")

    def name_of(self, iri: URIRef) -> str:
        """Short human name of a KB individual (notation, else preferred label, else local name)."""
        if iri in self.notations:
            return self.notations[iri]
        return str(iri).rsplit("/", 1)[-1]


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------

def load(extra_kb: Iterable[Path] = (), ontology: Graph | None = None, shapes: Graph | None = None,
         origin: Callable[[Node], str] | None = None,
         version: tuple[list[tuple[str, Path]], Callable[[], tuple[Graph, Graph, Callable[[Node], str]]]] | None = None,
         ) -> KnowledgeBase:
    """Parse ontology/ (plus any extra Turtle) and shapes/, check them, index them, compile the shapes.

    `ontology` / `shapes` stand in for the shipped folders: a policy version's graphs
    (reasoner/versions.py). They are copied, never changed. A mistake that would make decisions
    meaningless (`reasoner.policy.integrity`) raises `PolicyError`, naming the finding, the file
    (`origin(term)`; by default the Turtle file read that describes the term) and the term.
    `version` = (inputs, build): a policy version given lazily, cached as the shipped folders are:
    `inputs` are (role, file) of every file its graphs are built from (manifests, Turtle, overrides, in
    the order read), `build()` gives (ontology, shapes, origin) and is called only on a cache miss.
    """
    extra_kb = [Path(p) for p in extra_kb]
    cached = ontology is None and shapes is None
    if cached:
        engine_inputs = [contract_file("context.jsonld"), contract_file("request-v1.schema.json"),
                         *sorted(data_dir("queries").glob("*.rq"))]
        if version is None:
            inputs = [*turtle_files("ontology"), *extra_kb, *turtle_files("shapes"), *engine_inputs]
            entry = cache.key(inputs)
        else:
            roles = [*version[0], *(("extra", p) for p in extra_kb)]
            entry = cache.key([p for _, p in roles] + engine_inputs,
                              recipe="version\n" + "\n".join(role for role, _ in roles))
        hit = cache.read(entry)
        if isinstance(hit, tuple) and len(hit) == 2 and isinstance(hit[0], KnowledgeBase):
            kb, derived = hit
            if kb.compiled is not None:  # kept with it: compiled (and so checked) from this very content
                return kb
            if version is not None:
                origin = origin or version[1]()[2]
            files = [*turtle_files("ontology"), *extra_kb, *turtle_files("shapes")]
            return _compiled(kb, origin or integrity.file_of(files), derived, entry, shared=True)
        known = cache.known_terms()
        if version is not None:
            ontology, shapes, built_origin = version[1]()
            origin = origin or built_origin
    g = _graph()
    files: list[Path] = []
    if ontology is not None:
        g += ontology
    for path in [*(turtle_files("ontology") if ontology is None else ()), *map(Path, extra_kb)]:
        g.parse(path, format="turtle")
        files.append(Path(path))
    shapes_graph = _graph()
    if shapes is not None:
        shapes_graph += shapes
    else:
        for path in turtle_files("shapes"):
            shapes_graph.parse(path, format="turtle")
            files.append(Path(path))
    shapes = shapes_graph
    for prefix, ns in PREFIXES.items():
        g.bind(prefix, ns)
        shapes.bind(prefix, ns)
    origin = origin or integrity.file_of(files)
    types = _type_closure(g)
    integrity.refuse(integrity.findings(g, shapes, types), origin)
    criteria = _criteria(g)
    field_of_path = context_paths()
    derived_fields = {p: tuple(sorted(str(o) for o in g.objects(p, BX.derivedFromField)))
                      for p in set(g.subjects(BX.derivedFromField, None))}
    sources = Sources.of(derived_fields, field_of_path, *contract_fields(), ontology=g)
    criteria, derived = _with_open_readings(criteria, shapes, sources, origin)

    kb = KnowledgeBase(
        graph=g,
        shapes=shapes,
        criteria=criteria,
        shape_info=_shape_info(shapes),
        shape_owner=shape_owner_of(shapes),
        types=types,
        labels=_labels(g, types),
        regimen_components=_multi(g, BX.hasComponent),
        regimen_recognised_by=_multi(g, BX.recognisedByComponent),
        regimen_broader=_broader(g),
        alternatives={k: frozenset(v) for k, v in _multi(g, BX.alternativeAgent).items()},
        age_groups=_bands(g, BX.ageYearsAtLeast, BX.ageYearsBelow),
        weight_bands=_bands(g, BX.weightKgAtLeast, BX.weightKgBelow),
        units=_units(g),
        infant_before_months=int(_one(g, KB.InfantALL, BX.diagnosedBeforeAgeMonths)),
        label_changes=_label_changes(g),
        policies=_policies(g),
        field_of_path=field_of_path,
        derived_fields=derived_fields,
        identifiers={s: str(o) for s, o in g.subject_objects(DCTERMS.identifier) if isinstance(s, URIRef)},
        titles={s: str(g.value(s, SKOS.prefLabel) or g.value(s, RDFS.label))
                for s in types if (s, SKOS.prefLabel, None) in g or (s, RDFS.label, None) in g},
        notations={s: str(o) for s, o in g.subject_objects(SKOS.notation) if isinstance(s, URIRef)},
        decimal_places=_decimal_places(g),
    )
    kb = _compiled(kb, origin, derived, entry if cached else None)
    if cached:
        kb.cache_key = entry  # only reached by a knowledge base that passed every load check
        # with the compiled shapes when they pickle (cache.py writes the package's closures) and need no
        # pySHACL (its objects are not read back from a cache), else without them
        if not kb.compiled.not_compiled:
            _ = kb.compiled.generated  # written now, kept as code: a cold start does not compile it
        if kb.compiled.not_compiled or not cache.write(entry, (kb, derived), known):
            cache.write(entry, (replace(kb, compiled=None), derived), known)
    return kb


def _compiled(kb: KnowledgeBase, origin: Callable[[Node], str], derived: dict[URIRef, URIRef],
              entry: str | None = None, shared: bool = False) -> KnowledgeBase:
    """The shapes compiled (on every load, cached or not: a shape no back end can run is refused).

    `entry`: the KB's cache key. The compiled shapes are kept under it once the compiler can say them
    as data (its optional `cache_state(compiled)` and `from_cache_state(state, shapes, owner, terms)`,
    through `cache.remember_compiled`); until then they are compiled on every load. `shared`: the KB
    was read from the cache, so every IRI and literal in it is already the process's shared object
    (`cache.read`) and the compiler need not share the KB graph's terms again."""
    from reasoner.shacl import compiler

    terms = None if shared else kb.graph
    state = getattr(compiler, "cache_state", None)
    restore = getattr(compiler, "from_cache_state", None)

    def build() -> Any:
        return cache.remember_compiled(
            entry, lambda: compiler.compile_shapes(kb.shapes, kb.shape_owner, terms), state,
            None if restore is None else lambda kept: restore(kept, kb.shapes, kb.shape_owner, terms))

    kb.compiled = integrity.compiled(build, kb.graph, kb.shapes, origin, {o: s for s, o in derived.items()})
    return kb


def _with_open_readings(criteria: dict[URIRef, Criterion], shapes: Graph, sources: Sources,
                        origin: Callable[[Node], str]) -> tuple[dict[URIRef, Criterion], dict[URIRef, URIRef]]:
    """Every criterion with a shape and no stated bx:openShape gets the derived one (openreading.py),
    written into `shapes` before they are indexed and compiled; also shape -> derived open shape."""
    todo = sorted(c.shape for c in criteria.values() if c.shape is not None and c.open_shape is None)
    try:
        derived = derive(shapes, todo, sources)
    except OpenReadingError as exc:
        integrity.refuse([integrity.Finding("open-reading", exc.shape, str(exc))], origin)
        raise  # not reached
    return {iri: replace(c, open_shape=derived[c.shape]) if c.open_shape is None and c.shape in derived else c
            for iri, c in criteria.items()}, derived


class _CanonicalMemory(Memory):
    """rdflib's Memory store, keeping each term as its one shared object (`reasoner.shacl.datagraph.canonical`):
    every table read from the graph, and every request graph, then holds the very same objects."""

    def add(self, triple, context, quoted: bool = False) -> None:  # type: ignore[no-untyped-def]
        super().add(tuple(t if isinstance(t, BNode) else canonical(t) for t in triple), context, quoted)
        # (blank nodes are new on every parse: sharing them would only grow the table)


def _graph() -> Graph:
    return Graph(store=_CanonicalMemory())


def _one(g: Graph, s: URIRef, p: URIRef):
    value = g.value(s, p)
    if value is None:
        raise LookupError(f"the knowledge base has no {p} for {s}")
    return value.toPython() if isinstance(value, Literal) else value


def _list(g: Graph, head) -> tuple:
    return tuple(Collection(g, head)) if head is not None else ()


def _multi(g: Graph, p: URIRef) -> dict[URIRef, tuple[URIRef, ...]]:
    out: dict[URIRef, list[URIRef]] = {}
    for s, o in g.subject_objects(p):
        out.setdefault(s, []).append(o)
    return {k: tuple(sorted(v)) for k, v in out.items()}


def _type_closure(g: Graph) -> dict[URIRef, frozenset[URIRef]]:
    """Every named individual's classes, with all their superclasses (RDFS entailment of rdf:type)."""
    supers: dict[URIRef, set[URIRef]] = {}

    def up(cls: URIRef, seen: set[URIRef]) -> set[URIRef]:
        if cls in supers:
            return supers[cls]
        out = {cls}
        for parent in g.objects(cls, RDFS.subClassOf):
            if isinstance(parent, URIRef) and parent not in seen:
                out |= up(parent, seen | {cls})
        supers[cls] = out
        return out

    closure: dict[URIRef, set[URIRef]] = {}
    for s, cls in g.subject_objects(RDF.type):
        if isinstance(s, URIRef) and isinstance(cls, URIRef):
            closure.setdefault(s, set()).update(up(cls, set()))
    return {k: frozenset(v) for k, v in closure.items()}


LABEL_CATEGORIES = {"agent": (BX.Drug, BX.NamedRegimen), "condition": (BX.Disease,),
                    "specialty": (BX.MedicalSpecialty,)}


def _labels(g: Graph, types: dict[URIRef, frozenset[URIRef]]) -> dict[str, dict[str, URIRef]]:
    """Lower-case SKOS labels (and their sub-properties, e.g. brand names) by category."""
    label_props = {SKOS.prefLabel, SKOS.altLabel, SKOS.hiddenLabel, RDFS.label, SKOS.notation}
    label_props |= {p for p in g.subjects(RDFS.subPropertyOf, None)
                    if set(g.objects(p, RDFS.subPropertyOf)) & {SKOS.altLabel, SKOS.prefLabel, SKOS.hiddenLabel}}
    out: dict[str, dict[str, URIRef]] = {cat: {} for cat in LABEL_CATEGORIES}
    for cat, classes in LABEL_CATEGORIES.items():
        members = [s for s, ts in types.items() if ts & set(classes)]
        for s in sorted(members):
            for p in label_props:
                for label in g.objects(s, p):
                    out[cat].setdefault(str(label).strip().casefold(), s)
    return out


def _broader(g: Graph) -> dict[URIRef, tuple[URIRef, ...]]:
    out: dict[URIRef, tuple[URIRef, ...]] = {}
    for s in set(g.subjects(SKOS.broader, None)):
        seen: list[URIRef] = []
        todo = list(g.objects(s, SKOS.broader))
        while todo:
            b = todo.pop()
            if b not in seen:
                seen.append(b)
                todo.extend(g.objects(b, SKOS.broader))
        out[s] = tuple(seen)
    return out


def _bands(g: Graph, at_least: URIRef, below: URIRef) -> tuple[Band, ...]:
    subjects = set(g.subjects(at_least, None)) | set(g.subjects(below, None))
    return tuple(
        Band(s, str(g.value(s, SKOS.notation) or s.rsplit("/", 1)[-1]),
             _num(g.value(s, at_least)), _num(g.value(s, below)))
        for s in sorted(subjects))


def _decimal_places(g: Graph) -> dict[URIRef, int]:
    """bx:decimalPlaces of the derived properties that a formula rounds; the body-surface area must
    have one (Mosteller's square root is irrational: the KB says to how many places it is kept)."""
    places = {s: int(o.toPython()) for s, o in g.subject_objects(BX.decimalPlaces)}
    _one(g, BX.bodySurfaceArea, BX.decimalPlaces)
    return places


def _num(lit) -> Decimal | None:
    return None if lit is None else exact(lit)


def _units(g: Graph) -> dict[str, Unit]:
    return {str(spelling): Unit(s, str(spelling), bool(g.value(s, BX.perBodySurfaceArea, default=Literal(False)).toPython()))
            for s, spelling in g.subject_objects(BX.contractSpelling)}


def _label_changes(g: Graph) -> tuple[LabelChange, ...]:
    out = []
    for s in g.subjects(RDF.type, BX.LabelChange):
        when = g.value(s, DCTERMS.date)
        if when is None:
            continue
        when = when.toPython()
        if not isinstance(when, date):
            when = date.fromisoformat(str(when)[:10])
        out.append(LabelChange(s, when, frozenset(g.objects(s, BX.reflectedIn))))
    return tuple(sorted(out, key=lambda c: c.when))


def _policies(g: Graph) -> dict[str, PolicyInfo]:
    out = {}
    for s in g.subjects(RDF.type, BX.ClinicalPolicy):
        version = g.value(s, BX.currentVersion)
        if version is None:
            continue
        ident = str(g.value(s, DCTERMS.identifier))
        out[ident] = PolicyInfo(
            iri=s, identifier=ident, version=version,
            version_label=str(g.value(version, DCTERMS.identifier) or version),
            covered_drug=g.value(s, BX.coversDrug),
            label_change_window_months=int(_one(g, s, BX.labelChangeWindowMonths)),
        )
    return out


def _criteria(g: Graph) -> dict[URIRef, Criterion]:
    out = {}
    for c in g.subjects(RDF.type, BX.Criterion):
        all_of, any_of = g.value(c, BX.allOf), g.value(c, BX.anyOf)
        referrals = {}
        for ref in g.objects(c, BX.referral):
            referrals[g.value(ref, BX.lineOfBusiness)] = g.value(ref, BX.referralPolicy)
        months = g.value(c, BX.approvalMonths)
        out[c] = Criterion(
            iri=c,
            number=str(g.value(c, DCTERMS.identifier)),
            sentence=str(g.value(c, BX.policySentence) or ""),
            shape=g.value(c, BX.shape),
            open_shape=g.value(c, BX.openShape),
            note_shape=g.value(c, BX.noteShape),
            combination="all" if all_of is not None else "any" if any_of is not None else None,
            children=_list(g, all_of if all_of is not None else any_of),
            is_pathway=(c, RDF.type, BX.Pathway) in g,
            deny_when_not_met=bool(g.value(c, BX.denyWhenNotMet, default=Literal(False)).toPython()),
            asks_for=tuple(sorted(str(o) for o in g.objects(c, BX.asksFor))),
            referrals=referrals,
            applies_to=g.value(c, BX.appliesTo),
            approval_months=None if months is None else int(months.toPython()),
            otherwise=g.value(c, BX.otherwise),
        )
    return out


def _shape_info(shapes: Graph) -> dict[URIRef, ShapeInfo]:
    out = {}
    for s in set(shapes.subjects(SH.targetClass, None)):
        out[s] = ShapeInfo(
            iri=s,
            number=str(shapes.value(s, DCTERMS.identifier) or shapes.value(s, SH.name) or ""),
            message=str(shapes.value(s, SH.message) or ""),
            sentence=str(shapes.value(s, BX.policySentence) or ""),
            severity=shapes.value(s, SH.severity) or SH.Violation,
            warning_code=None if shapes.value(s, BX.warningCode) is None else str(shapes.value(s, BX.warningCode)),
            asks_for=tuple(sorted(str(o) for o in shapes.objects(s, BX.asksFor))),
        )
    return out


def shape_owner_of(shapes: Graph) -> dict[str, URIRef]:
    """Map every shape node reachable from a targeted shape back to that shape.

    pySHACL names the property shape (often a blank node) as a result's sh:sourceShape; the
    explainer needs the criterion's own shape.
    """
    owner: dict[str, URIRef] = {}
    for top in set(shapes.subjects(SH.targetClass, None)):
        todo = [top]
        while todo:
            node = todo.pop()
            if str(node) in owner:
                continue
            owner[str(node)] = top
            for p in (SH.property, SH.node, SH.qualifiedValueShape, SH["not"]):
                todo.extend(o for o in shapes.objects(node, p) if isinstance(o, BNode))
            for p in (SH["or"], SH["and"], SH.xone):
                for head in shapes.objects(node, p):
                    todo.extend(o for o in Collection(shapes, head) if isinstance(o, BNode))
    return owner


def contract_fields() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The dotted contract fields every valid request has (required all the way from the top), and
    those that hold one value (not a list), from the JSON Schema."""
    schema = json.loads(contract_file("request-v1.schema.json").read_text())
    required: list[str] = []
    scalar: list[str] = []

    def walk(node: dict, prefix: str, always: bool) -> None:
        needed = set(node.get("required", ()))
        for name, child in node.get("properties", {}).items():
            if not isinstance(child, dict):
                continue
            kinds = child.get("type")
            kinds = set(kinds) if isinstance(kinds, list) else {kinds}
            if always and name in needed:
                required.append(prefix + name)
            if "object" in kinds:
                walk(child, prefix + name + ".", always and name in needed)
            elif "array" not in kinds:
                scalar.append(prefix + name)

    walk(schema, "", True)
    return tuple(required), tuple(scalar)


def context_paths() -> dict[tuple[URIRef, ...], str]:
    """Invert the JSON-LD context: property path -> the contract's dotted field name."""
    ctx = json.loads(contract_file("context.jsonld").read_text())["@context"]
    out: dict[tuple[URIRef, ...], str] = {}

    def walk(context: dict, props: tuple[URIRef, ...], names: tuple[str, ...]) -> None:
        for term, definition in context.items():
            if term.startswith("@") or not isinstance(definition, dict):
                continue
            iri = definition.get("@id", "")
            if not iri.startswith("bx:"):
                continue
            path = props + (BX[iri[3:]],)
            out[path] = ".".join(names + (term,))
            nested = definition.get("@context")
            if isinstance(nested, dict):
                walk(nested, path, names + (term,))

    walk(ctx, (), ())
    return out
