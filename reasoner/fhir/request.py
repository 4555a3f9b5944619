"""A FHIR Bundle to a contract-v1 request, with where every field came from and what did not fit.

`read_bundle(obj, kb)` evaluates the mapping of ontology/fhir-mapping.ttl (read by mapping.py) on
the Bundle: every source gives candidates (field, value, precedence, date, resource, element); for
each field the best precedence that has a value wins, chosen by its selection rule; what disagrees
is a finding. The request is then checked as contract v1 (`check_request`), and a contract error is
named by the FHIR element the value came from.

Returns an `Extraction`: the request, `sources` (field -> [{resource, element, expression}]) and
`findings` (warnings in the determination's form, codes `fhir-*`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from reasoner.fhir.bundle import Bundle, Entry, open_bundle, reference_of
from reasoner.fhir.errors import FhirInputError
from reasoner.fhir.fhirpath import evaluate
from reasoner.fhir.mapping import FhirMapping, Source, mapping_for
from reasoner.fhir.values import Unusable, codings, concept_text, json_number, read_date, read_dose, read_value
from reasoner.flow.check import InvalidRequest, check_request
from reasoner.flow.dotted import get_value, put_value
from reasoner.policy.kb import KnowledgeBase

__all__ = ["Extraction", "read_bundle"]

SECTION = "FHIR"
_EMPTY = object()  # a list field answered "none known": sent as []


@dataclass
class Extraction:
    """What a Bundle says, as contract v1: the checked request, its sources, and the findings."""

    request: dict[str, Any]
    sources: dict[str, list[dict[str, str]]]
    findings: list[dict[str, Any]]
    bundle: Bundle | None = None


@dataclass
class Candidate:
    field: str
    value: Any
    precedence: int
    entry: Entry
    element: str  # FHIRPath from the resource: "Observation.value"
    selection: str
    date: str | None = None
    finding: tuple[str, str] | None = None
    fallback: bool = False

    @property
    def source(self) -> dict[str, str]:
        relative = self.element.split(".", 1)[1] if "." in self.element else ""
        return {"resource": self.entry.ref, "element": self.element,
                "expression": f"{self.entry.path}.{relative}" if relative else self.entry.path}


def read_bundle(obj: Any, kb: KnowledgeBase, *, partial: bool = False) -> Extraction:
    """Bundle (parsed JSON) -> Extraction; raises FhirInputError for input the mapping cannot read.

    `partial=True` (a questionnaire pre-filled from an order, which may lack required facts): the
    request is what the Bundle gives, not checked against the contract and missing what it lacks."""
    mapping = mapping_for(kb)
    bundle = open_bundle(obj)
    return _Reader(bundle, mapping).run(partial)


def _bundle_entry(bundle: Bundle) -> Entry:
    return Entry(-1, None, bundle.raw)


class _Reader:
    """One Bundle's evaluation (all state per request lives here)."""

    def __init__(self, bundle: Bundle, mapping: FhirMapping) -> None:
        self.bundle = bundle
        self.mapping = mapping
        self._values: dict[tuple[int, str, bool], tuple[Any, tuple[Any, ...]]] = {}
        self.whole = _bundle_entry(bundle)
        self.used: set[int] = {bundle.patient.index}
        self.findings: list[dict[str, Any]] = []
        if bundle.claim is not None:
            self.used.add(bundle.claim.index)
            for value in _walk_references(bundle.claim.resource):
                target = bundle.resolve(value)
                if target is not None:
                    self.used.add(target.index)
        self.drug_requests = self._drug_requests()
        self.anchors: dict[str, list[Entry]] = {
            "%bundle": [self.whole],
            "%claim": [bundle.claim] if bundle.claim else [],
            "%patient": [bundle.patient],
            "%drugRequest": self.drug_requests,
        }
        self.env = {name[1:]: [e.resource for e in entries] for name, entries in self.anchors.items()}
        self.env["bundle"] = bundle.raw

    def _evaluate(self, resource: Any, path: str, with_env: bool = False) -> tuple[Any, ...]:
        """An expression's collection on a resource of the Bundle, worked out once a request: the
        mapping's sources ask the same of one resource again and again (its code, its status: about a
        third of a Bundle's evaluations). The resource is kept beside its answer, so an id is never
        taken for another object's."""
        key = (id(resource), path, with_env)
        found = self._values.get(key)
        if found is None or found[0] is not resource:
            found = self._values[key] = (resource, tuple(evaluate(resource, path, self.env if with_env else None)))
        return found[1]

    # ------------------------------------------------------------------ the run

    def run(self, partial: bool = False) -> Extraction:
        candidates: list[Candidate] = []
        for source in self.mapping.sources:
            candidates.extend(self._source(source))
        candidates.extend(self._questionnaires())
        by_field: dict[str, list[Candidate]] = {}
        for c in candidates:
            by_field.setdefault(c.field, []).append(c)

        request: dict[str, Any] = {}
        sources: dict[str, list[dict[str, str]]] = {}
        date_field = self.mapping.request_date_field
        request_date = None
        if date_field in by_field:
            value, chosen = self._choose(date_field, by_field.pop(date_field), None)
            if value is not None:
                request_date = value
                put_value(request, date_field, value)
                sources[date_field] = _unique(c.source for c in chosen)
        for name in sorted(by_field, key=lambda f: (f.count("."), f)):
            value, chosen = self._choose(name, by_field[name], request_date)
            if value is None:
                continue
            put_value(request, name, [] if value is _EMPTY else value)
            sources[name] = _unique(c.source for c in chosen)
        if partial:
            self._unused()
            return Extraction(request, sources, self.findings, self.bundle)
        self._require(request)
        self._unused()
        try:
            checked = check_request(request, owned=True)
        except FhirInputError:
            raise
        except InvalidRequest as exc:
            raise self._located(exc, sources) from None
        return Extraction(checked, sources, self.findings, self.bundle)

    # ------------------------------------------------------------------ anchors and membership

    def _medication_codes(self, entry: Entry) -> list[tuple[str | None, str, str | None]]:
        path = self.mapping.covered_drug_path or "MedicationRequest.medication"
        out = []
        for value in self._evaluate(entry.resource, path):
            out.extend(codings([self._medication_concept(value, entry)]))
        return out

    def _medication_concept(self, value: Any, entry: Entry) -> Any:
        """A medication[x]: the CodeableConcept itself, or the code of the Medication it references."""
        if reference_of(value) is not None:
            target = self.bundle.resolve(value)
            if target is None:
                raise FhirInputError(f"{entry.path}.medication.reference", "does not resolve inside the Bundle",
                                     "not-found")
            self.used.add(target.index)
            return target.resource.get("code")
        return value

    def _drug_requests(self) -> list[Entry]:
        """The MedicationRequests for the policy's drug: the Claim item's requested service, else by code."""
        out: list[Entry] = []
        claim = self.bundle.claim
        url = self.mapping.requested_service_url
        if claim is not None and url:
            for item in claim.resource.get("item") or []:
                for ext in (item.get("extension") or []) if isinstance(item, dict) else []:
                    if isinstance(ext, dict) and ext.get("url") == url:
                        target = self.bundle.resolve(ext.get("valueReference"))
                        if target is not None and target.type == "MedicationRequest" and target not in out:
                            out.append(target)
        if out:
            return out
        covered = {(system, code) for (system, code), drug in self.mapping.drug_by_code.items()
                   if drug == self.mapping.covered_drug}
        for entry in self.bundle.of_type("MedicationRequest"):
            if self._is_member(entry) and any((s, c) in covered for s, c, _ in self._medication_codes(entry)):
                out.append(entry)
        return out

    def _is_member(self, entry: Entry) -> bool:
        """Is the resource about the member? (no member reference: yes; one that resolves elsewhere: no)"""
        for path in self.mapping.member_paths:
            value = entry.resource.get(path)
            if reference_of(value) is not None:
                target = self.bundle.resolve(value)
                return target is not None and target.index == self.bundle.patient.index
        return True

    # ------------------------------------------------------------------ sources

    def _resources(self, source: Source) -> list[Entry]:
        if source.from_ is None:
            found = [e for e in self.bundle.of_type(source.resource_type) if self._is_member(e)]
        elif source.from_ in self.anchors:
            found = list(self.anchors[source.from_])
        else:
            found = []
            for value in evaluate({}, source.from_, self.env):
                target = self.bundle.resolve(value) if reference_of(value) is not None else None
                if target is not None and target not in found:
                    found.append(target)
                    self.used.add(target.index)
        if source.whose is not None:
            keys = {e.index for e in found}
            found = [e for e in self.bundle.of_type(source.resource_type)
                     if any((t := self.bundle.resolve(v)) is not None and t.index in keys
                            for v in self._evaluate(e.resource, source.whose))]
        found = [e for e in found if e.type == source.resource_type]
        if source.status_path is not None:
            found = [e for e in found if set(map(str, self._evaluate(e.resource, source.status_path))) & source.accepted]
        return found

    def _source(self, source: Source) -> Iterable[Candidate]:
        for entry in self._resources(source):
            out = list(self._read(source, entry))
            if out:
                if entry.index >= 0:
                    self.used.add(entry.index)
                yield from out

    def _read(self, source: Source, entry: Entry) -> Iterable[Candidate]:
        matched = []
        if source.code_path is not None:
            for system, code, _display in codings(self._evaluate(entry.resource, source.code_path, with_env=True)):
                hit = source.lookup(system, code)
                if hit is not None and hit not in matched:
                    matched.append(hit)
            if not matched:
                return
        date = self._date(source, entry)
        base = dict(precedence=source.precedence, entry=entry, selection=source.selection, date=date)
        fallback = source.fallback
        if source.value_path is None:
            for hit in matched:
                for name, value in hit.sets:
                    finding = (hit.finding, hit.finding_message) if hit.finding else None
                    yield Candidate(name, value, element=f"{source.resource_type}.{source.code_path}",
                                    finding=finding, fallback=fallback or hit.fallback, **base)
            return
        element = f"{source.resource_type}.{source.value_path}"
        for raw in self._evaluate(entry.resource, source.value_path, with_env=True):
            if source.kind == "drug":
                value = self._drug(raw, entry, source)
            else:
                try:
                    value = read_value(source.kind, raw, source, self.mapping)
                except Unusable as why:
                    self._unusable(source.sets_field, entry, element, str(why))
                    continue
            if value is not None:
                yield Candidate(source.sets_field, value, element=element, fallback=fallback, **base)

    def _date(self, source: Source, entry: Entry) -> str | None:
        if source.date_path is None:
            return None
        for raw in self._evaluate(entry.resource, source.date_path):
            if isinstance(raw, dict):  # a Period: its end, else its start
                raw = raw.get("end") or raw.get("start")
            try:
                return read_date(raw)
            except Unusable:
                continue
        return None

    def _drug(self, raw: Any, entry: Entry, source: Source) -> str | None:
        """A medication element: the KB drug its code identifies, else its text (an unknown agent)."""
        if source.excludes_covered_drug and entry in self.drug_requests:
            return None
        concept = self._medication_concept(raw, entry)
        found = codings([concept])
        for system, code, _ in found:
            drug = self.mapping.drug_by_code.get((system, code))
            if drug is not None:
                if source.excludes_covered_drug and drug == self.mapping.covered_drug:
                    return None
                return self.mapping.drug_names[drug]
        text = concept_text(concept)
        if found:
            listed = ", ".join(f"{s or '(no system)'}|{c}" for s, c, _ in found)
            self._finding("fhir-unknown-code", f"{entry.type} {entry.ref}: the medication code ({listed}) is not "
                          "one the knowledge base knows; " + ("its text is taken as the agent's name."
                                                              if text else "it has no text and is not counted."),
                          f"{entry.path}.medication", [entry.ref])
        return text

    # ------------------------------------------------------------------ questionnaire answers

    def _questionnaires(self) -> Iterable[Candidate]:
        q = self.mapping.questionnaire
        for entry in self._resources(q):
            unknown: list[str] = []
            for item in _items(entry.resource.get("item")):
                link = item.get("linkId")
                if not isinstance(link, str):
                    continue
                if link not in self.mapping.field_types:
                    unknown.append(link)
                    continue
                element = f"QuestionnaireResponse.item.where(linkId = '{link}').answer"
                for answer in item.get("answer") or []:
                    try:
                        value = self._answer(link, answer)
                    except Unusable as why:
                        self._unusable(link, entry, element, str(why))
                        continue
                    self.used.add(entry.index)
                    kind = "all" if self.mapping.field_types[link].get("type") == "array" else "single"
                    yield Candidate(link, value, q.precedence, entry, element, kind)
            if unknown:
                self._finding("fhir-unknown-item", f"QuestionnaireResponse {entry.ref}: items whose linkId is not a "
                              f"contract field are not read: {', '.join(sorted(set(unknown)))}.",
                              f"{entry.path}.item", [entry.ref])

    def _answer(self, link: str, answer: dict) -> Any:
        schema = self.mapping.field_types[link]
        kind = schema.get("type")
        value_key = next((k for k in answer if k.startswith("value")), None) if isinstance(answer, dict) else None
        if value_key is None:
            raise Unusable("has no answer value")
        value = answer[value_key]
        if value_key == "valueCoding":
            if (value.get("system"), value.get("code")) in self.mapping.empty_list_codes and kind == "array":
                return _EMPTY
            return self._coded_answer(link, value)
        if value_key == "valueQuantity":
            return read_dose(value, self.mapping.dose_units, self.mapping.conversions)
        if kind == "number" or kind == "integer":
            if isinstance(value, bool):
                raise Unusable("is not a number")
            return json_number(value) if not isinstance(value, int) else value
        if value_key in ("valueDate", "valueDateTime"):
            return read_date(value)
        return value

    def _coded_answer(self, link: str, coding: dict) -> Any:
        """A coded answer: what a code table says it is, a KB drug, else its code (the contract spelling)."""
        system, code = coding.get("system"), coding.get("code")
        drug = self.mapping.drug_by_code.get((system, code))
        if drug is not None:
            return self.mapping.drug_names[drug]
        for source in self.mapping.sources:
            hit = source.lookup(system, code) if isinstance(code, str) else None
            if hit is not None:
                values = [v for f, v in hit.sets if f == link] or [v for _f, v in hit.sets]
                if len(values) == 1:
                    return values[0]
        if isinstance(code, str):
            return code
        raise Unusable("has no code")

    # ------------------------------------------------------------------ choosing

    def _choose(self, name: str, candidates: list[Candidate], request_date: str | None) -> tuple[Any, list[Candidate]]:
        """The field's value (None: none, or a conflict) and the candidates it came from."""
        levels = sorted({c.precedence for c in candidates})
        for i, level in enumerate(levels):
            here = [c for c in candidates if c.precedence == level]
            if here[0].selection == "latest":
                dated = [c for c in here if c.date is not None and (request_date is None or c.date <= request_date)]
                if not dated:
                    continue
                latest = max(c.date for c in dated)
                here = [c for c in dated if c.date == latest]
            if here[0].selection == "all":
                value, chosen = self._all(here)
            else:
                distinct = _distinct(c.value for c in here)
                if len(distinct) > 1:
                    self._finding("fhir-conflict", f"{name}: the Bundle gives different values at the same precedence; "
                                  "the field is left out (unknown) until one is confirmed.",
                                  here[0].source["expression"], [c.entry.ref for c in here])
                    return None, []
                value, chosen = here[0].value, here
            below = [c for lvl in levels[i + 1:] for c in candidates if c.precedence == lvl and not c.fallback]
            if value is not _EMPTY and any(not _same(c.value, value) and not isinstance(value, list) for c in below):
                self._finding("fhir-conflict", f"{name}: a source of lower precedence gives a different value; the "
                              "value from the source of higher precedence is used (ontology/fhir-mapping.ttl).",
                              chosen[0].source["expression"], [c.entry.ref for c in chosen + below])
            for c in chosen:
                if c.finding:
                    self._finding(c.finding[0], c.finding[1], c.source["expression"], [c.entry.ref])
            return value, chosen
        return None, []

    def _all(self, here: list[Candidate]) -> tuple[Any, list[Candidate]]:
        values: list[Any] = []
        chosen: list[Candidate] = []
        for c in sorted(here, key=lambda c: c.entry.index):
            if c.value is _EMPTY:
                continue
            if not any(_same(c.value, v) for v in values):
                values.append(c.value)
            chosen.append(c)
        if not values and any(c.value is _EMPTY for c in here):
            return _EMPTY, [c for c in here if c.value is _EMPTY]
        return values, chosen

    # ------------------------------------------------------------------ findings and errors

    def _finding(self, code: str, message: str, expression: str, resources: list[str]) -> None:
        item = {"code": code, "message": message, "section": SECTION, "shape": None, "expression": expression,
                "resources": sorted(set(resources))}
        if item not in self.findings:
            self.findings.append(item)

    def _unusable(self, name: str | None, entry: Entry, element: str, why: str) -> None:
        relative = element.split(".", 1)[1]
        expression = f"{entry.path}.{relative}"
        if name in self.mapping.required:
            raise FhirInputError(expression, why, "invalid")
        self._finding("fhir-ignored-value", f"{name}: {entry.type} {entry.ref} {element} {why}; it is not used.",
                      expression, [entry.ref])

    def _require(self, request: dict) -> None:
        for name in self.mapping.required:
            if get_value(request, name) is None:
                raise FhirInputError(self._expected(name), f"gives no {name}, which contract v1 requires: code it in "
                                     f"the Bundle or answer a QuestionnaireResponse item with linkId '{name}'",
                                     "required")

    def _expected(self, name: str) -> str:
        """Where the mapping looks first for a field (for an error about its absence)."""
        for source in self.mapping.sources:
            if name in source.fields or source.sets_field == name:
                anchors = self.anchors.get(source.from_ or "", [])
                path = source.value_path or source.code_path or ""
                if anchors:
                    return f"{anchors[0].path}.{path}" if anchors[0].index >= 0 else f"Bundle.{path}"
                if source.from_ is None:
                    return f"Bundle.entry.resource.ofType({source.resource_type}).{path}"
        return f"Bundle.entry.resource.ofType(QuestionnaireResponse).item.where(linkId = '{name}')"

    def _located(self, exc: InvalidRequest, sources: dict[str, list[dict[str, str]]]) -> FhirInputError:
        """A contract error named by the FHIR element its value came from."""
        name = exc.field.split("[", 1)[0]
        while name and name not in sources:
            name = name.rsplit(".", 1)[0] if "." in name else ""
        if name:
            return FhirInputError(sources[name][0]["expression"], f"({exc.field}) {exc.reason}", "invalid")
        return FhirInputError("Bundle", f"({exc.field}) {exc.reason}", "invalid")

    def _unused(self) -> None:
        todo = list(self.used)
        while todo:  # what a used resource references plays its part too (a role's Practitioner)
            index = todo.pop()
            for value in _walk_references(self.bundle.entries[index].resource):
                target = self.bundle.resolve(value)
                if target is not None and target.index not in self.used:
                    self.used.add(target.index)
                    todo.append(target.index)
        unused = [e.ref for e in self.bundle.entries if e.index not in self.used]
        if unused:
            self._finding("fhir-unused-resource", f"{len(unused)} resource(s) of the Bundle play no part in the "
                          "request (no field of the mapping reads them).", "Bundle.entry", unused)


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

def _items(items: Any) -> Iterable[dict]:
    for item in items or []:
        if isinstance(item, dict):
            yield item
            yield from _items(item.get("item"))
            for answer in item.get("answer") or []:
                if isinstance(answer, dict):
                    yield from _items(answer.get("item"))


def _walk_references(node: Any) -> Iterable[dict]:
    if isinstance(node, dict):
        if reference_of(node) is not None:
            yield node
        for key, value in node.items():
            if key != "contained":
                yield from _walk_references(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk_references(value)


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b or (isinstance(a, (int, float)) and isinstance(b, (int, float))
                                           and not isinstance(a, bool) and not isinstance(b, bool) and a == b)


def _unique(items: Iterable[dict]) -> list[dict]:
    out: list[dict] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


def _distinct(values: Iterable[Any]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if not any(_same(v, w) for w in out):
            out.append(v)
    return out
