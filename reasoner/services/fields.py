"""What the criteria read, as questions: one Field per contract field, all of it read from the knowledge base.

`form_model(kb)` (built once per knowledge base, kept on it) walks every criterion's shapes (its shape,
open shape and note shape: sh:path sequences under sh:property, sh:or / sh:and / sh:xone / sh:not,
sh:node and qualified value shapes) and maps each path to the contract fields it comes from:

- a lifted field by the JSON-LD context (`kb.field_of_path`: `(bx:diagnosis bx:phStatus)` ->
  `diagnosis.ph_status`);
- a derived fact by ontology/derivations.ttl (`kb.derived_fields`: `bx:infantALL` -> the diagnosis date);
- a criterion's own `bx:asksFor`, and the key property of its referral table (`bx:lineOfBusiness`);
- the request type, for the criteria roots (`bx:appliesTo`), through the context's `@type` term.

A path that is neither is an error at load: a question the form would silently lack.

Each field becomes a `Field`: its type from the JSON Schema (an object of a number and a unit of the
knowledge base is one quantity item: the dose), the question text from ontology/questionnaire.ttl
(else the lifted property's label), answer options from the knowledge base (the individuals the
context maps an enumeration to, with their labels; for a name the knowledge base resolves, such as
a diagnosis or a specialty, the individuals of the derived property's range), the unit the FHIR
mapping converts to, and whether the contract requires it or it repeats.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterator

from rdflib import RDF, RDFS, SKOS, BNode, URIRef
from rdflib.collection import Collection
from rdflib.namespace import OWL, SH

from reasoner.fhir.mapping import mapping_for
from reasoner.flow.check import request_schema
from reasoner.policy.kb import BX, Criterion, KnowledgeBase
from reasoner.policy.resources import contract_file

__all__ = ["Field", "FormModel", "form_model", "drop_value"]

NESTED = (SH.property, SH.node, SH.qualifiedValueShape, SH["not"])
LISTED = (SH["or"], SH["and"], SH.xone)


@dataclass(frozen=True)
class Option:
    """An answer option: the contract's value and what a person reads."""

    value: Any
    display: str


@dataclass(frozen=True)
class Field:
    """One question: a contract field (its dotted path is the item's linkId)."""

    name: str
    kind: str  # choice | open-choice | boolean | integer | decimal | date | string | quantity
    text: str
    help: str | None
    required: bool
    repeats: bool
    options: tuple[Option, ...] = ()
    unit: str | None = None  # UCUM unit of a decimal answer
    unit_options: tuple[tuple[str, str], ...] = ()  # quantity: (UCUM code, contract spelling)
    order: int = 0


@dataclass(frozen=True)
class Root:
    """A criteria root and the request-type value it applies to."""

    criterion: Criterion
    type_value: str


@dataclass
class FormModel:
    """The questions of a knowledge base and which criteria read each of them."""

    fields: dict[str, Field]
    reads: dict[URIRef, frozenset[str]]  # criterion -> every field its shapes (and asks-for) read
    own: dict[URIRef, frozenset[str]]  # criterion -> the fields of its own shape only
    parent: dict[URIRef, URIRef | None]
    root_of: dict[URIRef, Root]
    roots: tuple[Root, ...]
    type_field: str
    empty_code: tuple[str, str, str] | None  # (system, code, display): a list answered "none known"
    field_of_sub: dict[str, str] = field(default_factory=dict)  # dose.value -> dose
    quantity_parts: dict[str, tuple[str, str]] = field(default_factory=dict)  # dose -> (number key, unit key)

    def readers(self, name: str) -> list[URIRef]:
        return [c for c, names in self.reads.items() if name in names]

    def ancestors(self, iri: URIRef) -> list[URIRef]:
        """The criteria above `iri`, the root first."""
        out = []
        up = self.parent.get(iri)
        while up is not None:
            out.append(up)
            up = self.parent.get(up)
        return out[::-1]


def form_model(kb: KnowledgeBase) -> FormModel:
    """The form model of a knowledge base, built on first use and kept on it (it never changes)."""
    cached = kb.__dict__.get("_form_model")
    if cached is None:
        cached = kb.__dict__["_form_model"] = _build(kb)
    return cached


# ---------------------------------------------------------------------------------------------
# Dropping a value by dotted path (reading and setting one: reasoner.flow.dotted)
# ---------------------------------------------------------------------------------------------

def drop_value(request: dict[str, Any], dotted: str) -> None:
    parts = dotted.split(".")
    node: Any = request
    for part in parts[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            return
    if isinstance(node, dict):
        node.pop(parts[-1], None)


# ---------------------------------------------------------------------------------------------
# Building the model
# ---------------------------------------------------------------------------------------------

def _build(kb: KnowledgeBase) -> FormModel:
    schema_types = mapping_for(kb).field_types  # dotted field -> its (resolved) JSON Schema, in schema order
    context = json.loads(contract_file("context.jsonld").read_text())["@context"]
    type_field, type_values = _type_term(context)
    roots = tuple(Root(c, type_values[c.applies_to]) for c in sorted(kb.criteria.values(), key=lambda c: c.number)
                  if c.applies_to is not None and c.applies_to in type_values)
    parent: dict[URIRef, URIRef | None] = {}
    root_of: dict[URIRef, Root] = {}
    for root in roots:
        _walk_tree(kb, root.criterion, None, parent, root_of, root)

    quantity_parts = {name: _quantity_parts(kb, sub) for name, sub in schema_types.items() if _is_quantity(kb, sub)}
    field_of_sub = {f"{q}.{part}": q for q, parts in quantity_parts.items() for part in parts}

    def collapse(names: set[str]) -> frozenset[str]:
        return frozenset(field_of_sub.get(n, n) for n in names)

    reads: dict[URIRef, frozenset[str]] = {}
    own: dict[URIRef, frozenset[str]] = {}
    for iri in parent:
        c = kb.criteria[iri]
        mine: set[str] = set()
        for shape in (c.shape, c.open_shape):
            if shape is not None:
                mine |= _shape_fields(kb, shape)
        mine |= set(c.asks_for)
        if c.shape is not None:
            mine |= set(kb.shape_info[c.shape].asks_for)
        extra: set[str] = set()
        if c.note_shape is not None:
            extra |= _shape_fields(kb, c.note_shape)
        if c.referrals:
            extra |= {kb.field_of_path[(BX.lineOfBusiness,)]}
        if iri == root_of[iri].criterion.iri:
            extra.add(type_field)
        own[iri] = collapse(mine)
        reads[iri] = collapse(mine | extra)

    read_fields = set().union(*reads.values()) if reads else set()
    unknown = sorted(n for n in read_fields if n not in schema_types)
    if unknown:
        raise LookupError(f"the criteria read fields the contract schema does not have: {', '.join(unknown)}")
    texts = _question_texts(kb)
    required = set(mapping_for(kb).required)
    order = {name: i for i, name in enumerate(schema_types)}
    fields: dict[str, Field] = {}
    for name in sorted(read_fields, key=lambda n: order[n]):
        fields[name] = _field(kb, name, _resolved(schema_types[name]), context, texts, name in required, order[name])
    empty = next(iter(kb.graph.objects(_mapping_settings(kb), BX.emptyListCode)), None)
    empty_code = None
    if empty is not None:
        system = next(iter(kb.graph.objects(kb.graph.value(empty, BX.codeSystem), BX.fhirSystem)), None)
        code = kb.graph.value(empty, SKOS.notation)
        if system is not None and code is not None:
            label = kb.graph.value(empty, SKOS.prefLabel)
            empty_code = (str(system), str(code), str(label) if label is not None else str(code))
    return FormModel(fields=fields, reads=reads, own=own, parent=parent, root_of=root_of, roots=roots,
                     type_field=type_field, empty_code=empty_code, field_of_sub=field_of_sub,
                     quantity_parts=quantity_parts)


def _mapping_settings(kb: KnowledgeBase) -> URIRef:
    return next(iter(kb.graph.subjects(RDF.type, BX.FhirMapping)))


def _type_term(context: dict[str, Any]) -> tuple[str, dict[URIRef, str]]:
    """The contract field the context maps to rdf:type (the request type), and its values by class."""
    for term, definition in context.items():
        if isinstance(definition, dict) and definition.get("@id") == "@type":
            values = {}
            for value, curie in (definition.get("@context") or {}).items():
                prefix, _, local = str(curie).partition(":")
                values[URIRef(str(context[prefix]) + local)] = value
            return term, values
    raise LookupError("the JSON-LD context maps no field to @type (the request type)")


def _walk_tree(kb: KnowledgeBase, c: Criterion, up: URIRef | None, parent: dict, root_of: dict, root: Root) -> None:
    parent[c.iri] = up
    root_of[c.iri] = root
    for child in c.children:
        _walk_tree(kb, kb.criteria[child], c.iri, parent, root_of, root)


def _resolved(schema: dict[str, Any]) -> dict[str, Any]:
    defs = request_schema().get("$defs", {})
    while isinstance(schema, dict) and "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _number_and_unit(kb: KnowledgeBase, schema: dict[str, Any]) -> tuple[list[str], list[str]]:
    props = {k: _resolved(v) for k, v in schema.get("properties", {}).items()}
    numbers = [k for k, v in props.items() if v.get("type") in ("number", "integer")]
    units = [k for k, v in props.items() if "enum" in v and v["enum"] and all(str(x) in kb.units for x in v["enum"])]
    return numbers, units


def _is_quantity(kb: KnowledgeBase, schema: dict[str, Any]) -> bool:
    """An object of a number and a unit the knowledge base knows (a dose): one quantity question."""
    schema = _resolved(schema)
    if schema.get("type") != "object":
        return False
    numbers, units = _number_and_unit(kb, schema)
    return len(numbers) == 1 and len(units) == 1


def _quantity_parts(kb: KnowledgeBase, schema: dict[str, Any]) -> tuple[str, str]:
    numbers, units = _number_and_unit(kb, _resolved(schema))
    return numbers[0], units[0]


# ---------------------------------------------------------------------------------------------
# Shapes -> fields
# ---------------------------------------------------------------------------------------------

def _shape_fields(kb: KnowledgeBase, shape: URIRef) -> set[str]:
    out: set[str] = set()
    for path in _paths(kb, shape, (), set()):
        out |= _fields_of_path(kb, shape, path)
    return out


def _path_steps(kb: KnowledgeBase, shape: Any, node: Any) -> tuple[URIRef, ...]:
    g = kb.shapes
    if isinstance(node, URIRef):
        return (node,)
    if isinstance(node, BNode) and (node, RDF.first, None) in g:
        steps = tuple(Collection(g, node))
        if all(isinstance(s, URIRef) for s in steps):
            return steps  # type: ignore[return-value]
    raise LookupError(f"{shape}: a sh:path form the questionnaire cannot read (only IRIs and sequences)")


def _paths(kb: KnowledgeBase, shape: Any, prefix: tuple[URIRef, ...], seen: set) -> Iterator[tuple[URIRef, ...]]:
    """Every path a shape reads, relative to the request node (nested shapes continue their property's path)."""
    g = kb.shapes
    if shape in seen:
        return
    seen = seen | {shape}
    here = prefix
    path = g.value(shape, SH.path)
    if path is not None:
        here = prefix + _path_steps(kb, shape, path)
        yield here
    for p in NESTED:
        for nested in g.objects(shape, p):
            yield from _paths(kb, nested, here, seen)
    for p in LISTED:
        for head in g.objects(shape, p):
            for member in Collection(g, head):
                yield from _paths(kb, member, here, seen)


def _fields_of_path(kb: KnowledgeBase, shape: Any, path: tuple[URIRef, ...]) -> set[str]:
    if path in kb.field_of_path:
        return {kb.field_of_path[path]}
    if path[-1] in kb.derived_fields:
        return set(kb.derived_fields[path[-1]])
    # a step into a value the request does not hold (a KB individual's class, a nested shape's
    # own property): what it reads is the field that gave the value
    for cut in range(len(path) - 1, 0, -1):
        head = path[:cut]
        if head in kb.field_of_path:
            return {kb.field_of_path[head]}
        if head[-1] in kb.derived_fields:
            return set(kb.derived_fields[head[-1]])
    raise LookupError(f"{shape}: the path {' / '.join(str(p) for p in path)} is neither a contract field "
                      "(reasoner/contract/context.jsonld) nor a derived fact (ontology/derivations.ttl)")


# ---------------------------------------------------------------------------------------------
# One field: type, text, options, unit
# ---------------------------------------------------------------------------------------------

def _question_texts(kb: KnowledgeBase) -> dict[str, tuple[str, str | None]]:
    g = kb.graph
    out = {}
    for q in g.subjects(RDF.type, BX.FormQuestion):
        name = g.value(q, BX.forField)
        text = g.value(q, BX.questionText)
        if name is not None and text is not None:
            help_ = g.value(q, BX.helpText)
            out[str(name)] = (str(text), None if help_ is None else str(help_))
    return out


def _context_term(context: dict[str, Any], dotted: str) -> dict[str, Any] | None:
    node: Any = context
    definition = None
    for part in dotted.split("."):
        definition = node.get(part) if isinstance(node, dict) else None
        if not isinstance(definition, dict):
            return None
        node = definition.get("@context", {})
    return definition


def _label(kb: KnowledgeBase, iri: URIRef) -> str:
    g = kb.graph
    value = g.value(iri, SKOS.prefLabel) or g.value(iri, RDFS.label)
    return str(value) if value is not None else kb.name_of(iri)


def _enum_options(kb: KnowledgeBase, definition: dict[str, Any] | None, values: list[Any],
                  context: dict[str, Any]) -> tuple[Option, ...]:
    out = []
    for value in values:
        iri = None
        if definition is not None:
            nested = definition.get("@context") or {}
            if definition.get("@type") == "@vocab" and "@vocab" in nested:
                iri = URIRef(str(nested["@vocab"]) + str(value))
            elif str(value) in nested:
                prefix, _, local = str(nested[str(value)]).partition(":")
                iri = URIRef(str(context.get(prefix, "")) + local)
        display = _label(kb, iri) if iri is not None and ((iri, None, None) in kb.graph) else str(value)
        out.append(Option(value, display))
    return tuple(out)


def _name_options(kb: KnowledgeBase, name: str) -> tuple[Option, ...]:
    """Names the knowledge base resolves for this field: the individuals of its derived properties' ranges."""
    g = kb.graph
    classes = set()
    for prop, sources in kb.derived_fields.items():
        if name in sources and (prop, RDF.type, OWL.ObjectProperty) in g:
            classes |= {r for r in g.objects(prop, RDFS.range) if isinstance(r, URIRef)}
    if not classes:
        return ()
    excluded = {p.covered_drug for p in kb.policies.values() if p.covered_drug is not None}
    members = sorted(s for s, types in kb.types.items() if types & classes and s not in excluded)
    options, seen = [], set()
    for s in sorted(members, key=lambda s: _label(kb, s).casefold()):
        label = _label(kb, s)
        if label.casefold() not in seen:
            seen.add(label.casefold())
            options.append(Option(label, label))
    return tuple(options)


def _target_unit(kb: KnowledgeBase, name: str) -> str | None:
    for source in mapping_for(kb).sources:
        if source.sets_field == name and source.target_unit:
            return source.target_unit
    return None


def _unit_options(kb: KnowledgeBase, schema: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    out = []
    for sub in schema.get("properties", {}).values():
        sub = _resolved(sub)
        for spelling in sub.get("enum", []):
            unit = kb.units.get(str(spelling))
            if unit is not None:
                ucum = kb.graph.value(unit.iri, BX.ucum)
                out.append((str(ucum) if ucum is not None else str(spelling), str(spelling)))
    return tuple(out)


def _property_label(kb: KnowledgeBase, name: str) -> str:
    for path, dotted in kb.field_of_path.items():
        if dotted == name:
            label = kb.graph.value(path[-1], RDFS.label)
            if label is not None:
                return str(label)[:1].upper() + str(label)[1:]
    return name


def _field(kb: KnowledgeBase, name: str, schema: dict[str, Any], context: dict[str, Any],
           texts: dict[str, tuple[str, str | None]], required: bool, order: int) -> Field:
    text, help_ = texts.get(name, (_property_label(kb, name), None))
    repeats = schema.get("type") == "array"
    item_schema = _resolved(schema.get("items", {})) if repeats else schema
    definition = _context_term(context, name)
    if _is_quantity(kb, schema):
        return Field(name, "quantity", text, help_, required, False, unit_options=_unit_options(kb, schema), order=order)
    if "enum" in item_schema:
        return Field(name, "choice", text, help_, required, repeats,
                     _enum_options(kb, definition, list(item_schema["enum"]), context), order=order)
    kind = item_schema.get("type")
    if kind == "boolean":
        return Field(name, "boolean", text, help_, required, repeats, order=order)
    if kind == "integer":
        return Field(name, "integer", text, help_, required, repeats, order=order)
    if kind == "number":
        return Field(name, "decimal", text, help_, required, repeats, unit=_target_unit(kb, name), order=order)
    if item_schema.get("format") == "date":
        return Field(name, "date", text, help_, required, repeats, order=order)
    options = _name_options(kb, name)
    if options:
        return Field(name, "open-choice", text, help_, required, repeats, options, order=order)
    return Field(name, "string", text, help_, required, repeats, order=order)
