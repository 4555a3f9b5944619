"""The request space the witness search explores, built from the contract and the shapes.

Fields and their types come from the JSON Schema (reasoner/request-v1.schema.json); which fields a
shape reads comes from its property paths (the JSON-LD context, bx:derivedFromField); the values worth
trying come from what the shapes mention (sh:in / sh:hasValue individuals mapped back to the
contract's enum values through the context, KB individuals of an sh:class by their labels, numbers on
either side of a threshold) and from the KB's own bands (age groups, the infant cut-off). No value
is written here.
"""

from __future__ import annotations

import copy
import json
from datetime import date
from functools import cached_property
from typing import Any, Iterable

from dateutil.relativedelta import relativedelta
from rdflib import RDFS, Literal, URIRef

from reasoner.flow.dotted import get_value
from reasoner.policy.kb import BX, LABEL_CATEGORIES, KnowledgeBase
from reasoner.policy.resources import contract_file
from reasoner.authoring.shapetext import PathFacts, mentions


class _Absent:
    """Marks a field to leave out of the request (unknown, not false)."""

    def __repr__(self) -> str:
        return "(absent)"

    def __reduce__(self) -> str:
        return "ABSENT"  # pickled by name: read back, it is this module's one ABSENT (witnesses are cached)


ABSENT = _Absent()
FIXED = ("id", "policy", "request_type", "request_date")  # the search never changes these
NEUTRAL_TEXT = "witness: text supplied"


def _facts_key(facts: list[PathFacts]) -> tuple:
    """What a list of mentions says, as a key (PathFacts hold sets)."""
    return tuple((frozenset(f.classes), frozenset(f.values), frozenset(f.numbers), f.min_length) for f in facts)


def _walk_context(ctx: dict, names: tuple[str, ...], out: dict[str, dict]) -> None:
    for term, definition in ctx.items():
        if term.startswith("@") or not isinstance(definition, dict):
            continue
        out[".".join(names + (term,))] = definition
        nested = definition.get("@context")
        if isinstance(nested, dict):
            _walk_context(nested, names + (term,), out)


class RequestSpace:
    """Fields, candidate values and request editing for one knowledge base and request date."""

    def __init__(self, kb: KnowledgeBase, request_date: date) -> None:
        self.kb = kb
        self.request_date = request_date
        self.schema: dict = json.loads(contract_file("request-v1.schema.json").read_text())
        context = json.loads(contract_file("context.jsonld").read_text())["@context"]
        self.context: dict[str, dict] = {}
        _walk_context(context, (), self.context)
        # what the search asks again and again (~1,000 requests a version), worked out once
        self._facts: dict[tuple[URIRef, ...], dict[str, list[tuple[tuple[URIRef, ...], PathFacts]]]] = {}
        self._individuals_of: dict[tuple, tuple[list[str], list[str]]] = {}
        self._values_of: dict[tuple, list[Any]] = {}

    # -- schema --------------------------------------------------------------------------------

    def _resolve(self, node: dict) -> dict:
        while "$ref" in node:
            node = self.schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
        return node

    def field_schema(self, name: str) -> tuple[dict, bool]:
        """The field's schema and whether its own object requires it."""
        node, required = self.schema, True
        for part in name.split("."):
            required = part in node.get("required", ())
            node = self._resolve(node["properties"][part])
        return node, required

    # -- which fields a shape reads -------------------------------------------------------------

    def fields_of_path(self, path: tuple[URIRef, ...]) -> tuple[str, ...]:
        if path in self.kb.field_of_path:
            return (self.kb.field_of_path[path],)
        return self.kb.derived_fields.get(path[-1], ()) if path else ()

    def facts(self, shapes: Iterable[URIRef]) -> dict[str, list[tuple[tuple[URIRef, ...], PathFacts]]]:
        """Per contract field: the paths (and what they mention) of these shapes that read it (worked
        out once per list of shapes: the caller reads it, never changes it)."""
        shapes = tuple(shapes)
        if shapes not in self._facts:
            self._facts[shapes] = self._read_facts(shapes)
        return self._facts[shapes]

    def _read_facts(self, shapes: tuple[URIRef, ...]) -> dict[str, list[tuple[tuple[URIRef, ...], PathFacts]]]:
        out: dict[str, list[tuple[tuple[URIRef, ...], PathFacts]]] = {}
        for shape in shapes:
            # in path order, not the graph's (which follows hashing): the same version, the same search
            for path, facts in sorted(mentions(self.kb.shapes, shape).items(), key=lambda kv: [str(t) for t in kv[0]]):
                for name in self.fields_of_path(path):
                    if name.split(".")[0] not in FIXED and name.split(".")[0] in self.schema["properties"]:
                        out.setdefault(name, []).append((path, facts))
        return out

    @cached_property
    def all_facts(self) -> dict[str, list[tuple[tuple[URIRef, ...], PathFacts]]]:
        """What every criterion's shapes mention, per field: the default when no branch is given."""
        return self.facts(sorted({s for c in self.kb.criteria.values() for s in (c.shape, c.open_shape)
                                  if s is not None}))

    # -- candidate values -----------------------------------------------------------------------

    @cached_property
    def _category_of_field(self) -> dict[str, str]:
        """Which KB label category a name field resolves in: the range of the property derived from it."""
        out: dict[str, str] = {}
        for prop, fields in self.kb.derived_fields.items():
            rng = self.kb.graph.value(prop, RDFS.range)
            for cat, classes in LABEL_CATEGORIES.items():
                if rng in classes:
                    for name in fields:
                        out.setdefault(name, cat)
        return out

    @cached_property
    def _labels_of(self) -> dict[str, dict[URIRef, list[str]]]:
        """Per label category, each individual's labels, sorted."""
        out: dict[str, dict[URIRef, list[str]]] = {}
        for cat, labels in self.kb.labels.items():
            by_iri: dict[URIRef, list[str]] = {}
            for label, iri in labels.items():
                by_iri.setdefault(iri, []).append(label)
            out[cat] = {iri: sorted(names) for iri, names in by_iri.items()}
        return out

    def _label(self, cat: str, iri: URIRef) -> str:
        labels = self._labels_of[cat][iri]
        title = self.kb.titles.get(iri, "")
        return title if title.casefold() in labels else min(labels, key=len)

    @staticmethod
    def _satisfies(iri: URIRef, types: frozenset[URIRef], facts: PathFacts) -> bool:
        return iri in facts.values or bool(types & facts.classes)

    def _individuals(self, name: str, facts: list[PathFacts]) -> tuple[list[str], list[str]]:
        """Labels of KB individuals that meet what the shapes mention, one per mention; then others
        (worked out once per field and mentions; the caller copies before it changes them)."""
        key = (name, _facts_key(facts))
        if key not in self._individuals_of:
            self._individuals_of[key] = self._find_individuals(name, facts)
        return self._individuals_of[key]

    def _find_individuals(self, name: str, facts: list[PathFacts]) -> tuple[list[str], list[str]]:
        cat = self._category_of_field.get(name)
        if cat is None:
            return [], []
        members = sorted(set(self.kb.labels[cat].values()))
        covered = {p.covered_drug for p in self.kb.policies.values()}
        meeting: list[str] = []
        for f in facts:
            for wanted in sorted(f.values | f.classes):
                for iri in members:
                    if (iri == wanted or wanted in self.kb.types.get(iri, frozenset())) and iri not in covered:
                        label = self._label(cat, iri)
                        if label not in meeting:
                            meeting.append(label)
                        break
        others = [self._label(cat, iri) for iri in members if iri not in covered
                  and not any(self._satisfies(iri, self.kb.types.get(iri, frozenset()), f) for f in facts)]
        return meeting, others

    def _enum_iri(self, name: str, value: str) -> URIRef | None:
        definition = self.context.get(name, {})
        vocab = definition.get("@context", {}).get("@vocab") if definition.get("@type") == "@vocab" else None
        return URIRef(vocab + value) if vocab else None

    @staticmethod
    def _around(numbers: Iterable[float], integer: bool) -> list[float]:
        out: list[float] = []
        for t in sorted(numbers):
            step = 1.0 if (t >= 1 and float(t).is_integer()) or integer else max(t / 2, 0.01)
            for v in (t, t - step, t + step):
                v = int(round(v)) if integer or float(v).is_integer() else round(v, 4)
                if v not in out:
                    out.append(v)
        return out

    def _age_months(self, facts: list[PathFacts]) -> list[int]:
        """Ages worth trying: either side of every age bound the KB and the shapes state."""
        bounds: set[float] = {float(self.kb.infant_before_months)}
        for band in self.kb.age_groups:
            bounds.update(12 * b for b in (band.at_least, band.below) if b is not None)
        for f in facts:
            bounds.update(f.numbers)
            bounds.update(12 * n for n in f.numbers)
        return sorted({int(m) for b in bounds for m in (b - 1, b, b + 1) if m >= 0})

    def candidates(self, name: str, request: dict[str, Any],
                   facts: list[PathFacts] | None = None) -> list[Any]:
        """Values to try for a field, those the shapes mention first; ABSENT when the field is optional.
        Only dates and objects depend on the request; the others are worked out once per field and
        mentions (each call gets its own lists)."""
        if not facts:
            facts = [f for _, f in self.all_facts.get(name, [])]
        schema, required = self.field_schema(name)
        kind = schema.get("type")
        if kind == "string" and schema.get("format") == "date":
            out = self._dates(name, request, facts)
        elif kind == "object":
            out = self._objects(name, schema, request)
        else:
            key = (name, _facts_key(facts))
            if key not in self._values_of:
                self._values_of[key] = self._values(name, schema, facts)
            out = [list(v) if isinstance(v, list) else v for v in self._values_of[key]]
        if not required:
            out.append(ABSENT)
        return out

    def _values(self, name: str, schema: dict, facts: list[PathFacts]) -> list[Any]:
        kind = schema.get("type")
        out: list[Any] = []
        if "enum" in schema:
            def meets(value: str) -> bool:
                iri = self._enum_iri(name, value)
                return iri is not None and any(
                    self._satisfies(iri, self.kb.types.get(iri, frozenset()), f) for f in facts)
            out = sorted(schema["enum"], key=lambda v: not meets(v))
        elif kind == "boolean":
            wanted = [o.toPython() for f in facts for o in f.values if isinstance(o, Literal)]
            out = sorted([True, False], key=lambda v: v not in wanted)
        elif kind in ("number", "integer"):
            numbers = {n for f in facts for n in f.numbers}
            low = schema.get("exclusiveMinimum", schema.get("minimum"))
            out = [v for v in self._around(numbers or {1.0}, kind == "integer")
                   if low is None or v > low or (v == low and "minimum" in schema)]
        elif kind == "array":
            meeting, others = self._individuals(name, facts)
            counts = self._around({n for f in facts for n in f.numbers}, True)
            out = [[m] for m in meeting] + [[]]
            out += [others[:n] for n in counts if 0 < n <= len(others)]
        elif kind == "string":
            meeting, others = self._individuals(name, facts)
            out = meeting + others[:1] if (meeting or others) else [NEUTRAL_TEXT]
        return out

    def _dates(self, name: str, request: dict[str, Any], facts: list[PathFacts]) -> list[str]:
        months = self._age_months(facts)
        birth = self.get(request, "member.birth_date")
        if name == "member.birth_date" or not isinstance(birth, str):
            return [(self.request_date - relativedelta(months=m)).isoformat() for m in months]
        born = date.fromisoformat(birth)  # a later event: months after birth, not after the request
        return [d.isoformat() for m in months if (d := born + relativedelta(months=m)) <= self.request_date]

    def _objects(self, name: str, schema: dict, request: dict[str, Any]) -> list[dict]:
        """An object field (a previous dose): its required members, numbers from the same kind of field."""
        parts = {}
        for member in schema.get("required", ()):
            sub = self._resolve(schema["properties"][member])
            siblings = [n for n in self.numeric_fields() if n.endswith("." + member) and n != f"{name}.{member}"]
            current = [self.get(request, s) for s in siblings]
            if "enum" in sub:
                parts[member] = [sub["enum"][0]]
            else:
                parts[member] = sorted({v + d for v in current if isinstance(v, (int, float)) for d in (-1, 0, 1)
                                        if v + d > 0}) or [1]
        out: list[dict] = [{}]
        for member, values in parts.items():
            out = [{**o, member: v} for o in out for v in values]
        return out

    def numeric_fields(self) -> list[str]:
        found: list[str] = []

        def walk(node: dict, prefix: str) -> None:
            for key, sub in node.get("properties", {}).items():
                sub = self._resolve(sub)
                name = f"{prefix}{key}"
                if sub.get("type") in ("number", "integer"):
                    found.append(name)
                walk(sub, name + ".")

        walk(self.schema, "")
        return found

    # -- requests -------------------------------------------------------------------------------

    @staticmethod
    def get(request: dict[str, Any], name: str) -> Any:
        return get_value(request, name, ABSENT)

    def with_value(self, request: dict[str, Any], name: str, value: Any) -> dict[str, Any]:
        """A copy of `request` with one field set (or left out); missing objects made minimal."""
        out = copy.deepcopy(request)
        node, schema = out, self.schema
        parts = name.split(".")
        for i, part in enumerate(parts[:-1]):
            schema = self._resolve(schema["properties"][part])
            if part not in node:
                if value is ABSENT:
                    return out
                node[part] = self.minimal(".".join(parts[: i + 1]), out)
            node = node[part]
        if value is ABSENT:
            node.pop(parts[-1], None)
            self._drop_empty(out, parts[:-1])
        else:
            node[parts[-1]] = copy.deepcopy(value)
        return out

    def _drop_empty(self, request: dict[str, Any], parts: list[str]) -> None:
        """Leave out an optional object that a removal emptied (it says nothing)."""
        while parts:
            name = ".".join(parts)
            if self.get(request, name) != {} or self.field_schema(name)[1]:
                return
            parent = request if len(parts) == 1 else self.get(request, ".".join(parts[:-1]))
            parent.pop(parts[-1])
            parts = parts[:-1]

    def optional_fields(self, request: dict[str, Any]) -> list[str]:
        """The optional leaf fields a request states (what a minimal witness may leave out)."""
        found: list[str] = []

        def walk(node: Any, prefix: str) -> None:
            for key, value in node.items():
                name = f"{prefix}{key}"
                if name in FIXED:
                    continue
                if isinstance(value, dict) and value:
                    walk(value, name + ".")
                elif not self.field_schema(name)[1]:
                    found.append(name)

        walk(request, "")
        return found

    def minimal(self, name: str, request: dict[str, Any]) -> dict[str, Any]:
        """An object with only its required members, each at its first candidate."""
        schema, _ = self.field_schema(name)
        obj: dict[str, Any] = {}
        for member in schema.get("required", ()):
            values = [v for v in self.candidates(f"{name}.{member}", request) if v is not ABSENT]
            obj[member] = values[0]
        return obj

    def template(self, request_type: str, ident: str, policy: str) -> dict[str, Any]:
        """A request with only the required fields, each at its first candidate."""
        req: dict[str, Any] = {"id": ident, "policy": policy, "request_type": request_type,
                               "request_date": self.request_date.isoformat()}
        for key in self.schema["required"]:
            if key in req:
                continue
            sub = self._resolve(self.schema["properties"][key])
            req[key] = self.minimal(key, req) if sub.get("type") == "object" else \
                [v for v in self.candidates(key, req) if v is not ABSENT][0]
        return req

    def request_type_for(self, request_class: URIRef | None) -> str | None:
        """The contract's request_type value whose JSON-LD type is the root's bx:appliesTo class."""
        mapping = self.context.get("request_type", {}).get("@context", {})
        for value, iri in mapping.items():
            if isinstance(iri, str) and iri.startswith("bx:") and BX[iri[3:]] == request_class:
                return value
        return None

