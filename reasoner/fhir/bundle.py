"""A Bundle as the mapping reads it: its entries, references resolved inside it, the Claim and the member.

`open_bundle(obj)` checks what every later step relies on and raises `FhirInputError` (naming the
FHIRPath, never a value) for: not a FHIR resource, not a Bundle, a Bundle type that is not a
request's, an entry without a resource, a Claim that is not the first entry, a Claim reference that
does not resolve inside the Bundle, no Patient (or several without a Claim to say which one).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Iterator

from reasoner.fhir.errors import FhirInputError

__all__ = ["Bundle", "Entry", "open_bundle", "parse_json", "reference_of"]

BUNDLE_TYPES = ("collection", "transaction", "searchset", "batch", "document")
WHOLE = "Bundle"


@dataclass(frozen=True, eq=False)
class Entry:
    """One entry: its position (for FHIRPath), fullUrl and resource."""

    index: int
    full_url: str | None
    resource: dict[str, Any]

    @property
    def type(self) -> str:
        return self.resource["resourceType"]

    @property
    def ref(self) -> str:
        """How the determination names the resource: fullUrl, else Type/id, else its entry."""
        if self.index < 0:
            return "Bundle"
        if self.full_url:
            return self.full_url
        if isinstance(self.resource.get("id"), str):
            return f"{self.type}/{self.resource['id']}"
        return f"Bundle.entry[{self.index}]"

    @property
    def path(self) -> str:
        return "Bundle" if self.index < 0 else f"Bundle.entry[{self.index}].resource"


@dataclass
class Bundle:
    """The Bundle's entries and indexes; the Claim (PAS request), the member, the policy drug's requests."""

    raw: dict[str, Any]
    entries: list[Entry]
    by_key: dict[str, Entry] = field(default_factory=dict)
    claim: Entry | None = None
    patient: Entry | None = None

    def of_type(self, resource_type: str) -> Iterator[Entry]:
        return (e for e in self.entries if e.type == resource_type)

    def entry_of(self, resource: Any) -> Entry | None:
        for e in self.entries:
            if e.resource is resource:
                return e
        return None

    def resolve(self, reference: Any, within: Entry | None = None) -> Entry | None:
        """The entry a Reference points to (fullUrl, Type/id, or the tail Type/id of an absolute URL)."""
        target = reference_of(reference)
        if target is None:
            return None
        if target in self.by_key:
            return self.by_key[target]
        parts = target.rstrip("/").split("/")
        if len(parts) >= 2:
            tail = "/".join(parts[-2:])
            if "_history" in parts and len(parts) >= 4:
                tail = "/".join(parts[-4:-2])
            return self.by_key.get(tail)
        return None


def reference_of(value: Any) -> str | None:
    """The `reference` string of a Reference, or None."""
    if isinstance(value, dict) and isinstance(value.get("reference"), str) and value["reference"].strip():
        return value["reference"].strip()
    return None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise FhirInputError(WHOLE, "not valid JSON: a key appears twice in one object", "structure")
    return obj


def _no_constants(name: str) -> Any:
    raise FhirInputError(WHOLE, "not valid JSON: NaN and Infinity are not numbers", "structure")


def parse_json(data: str | bytes) -> Any:
    """JSON text to Python, numbers with a fraction as exact Decimals (UCUM conversions stay exact)."""
    if isinstance(data, (bytes, bytearray)):
        try:
            data = bytes(data).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise FhirInputError(WHOLE, "not valid JSON: the text is not UTF-8", "structure") from None
    elif data.startswith("\ufeff"):
        data = data[1:]
    try:
        return json.loads(data, parse_float=Decimal, parse_constant=_no_constants, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise FhirInputError(WHOLE, f"not valid JSON: line {exc.lineno} column {exc.colno} ({exc.msg})",
                             "structure") from None
    except RecursionError:
        raise FhirInputError(WHOLE, "not valid JSON: nested too deeply", "structure") from None


def open_bundle(obj: Any) -> Bundle:
    """Check the Bundle's structure and index it (see the module doc)."""
    if not isinstance(obj, dict) or not isinstance(obj.get("resourceType"), str):
        raise FhirInputError("Bundle.resourceType", "is missing: not a FHIR resource", "structure")
    if obj["resourceType"] != "Bundle":
        raise FhirInputError("Bundle.resourceType", "must be Bundle (a request is a Bundle of resources)", "structure")
    if obj.get("type") not in BUNDLE_TYPES:
        raise FhirInputError("Bundle.type", "must be one of: " + ", ".join(BUNDLE_TYPES), "structure")
    raw_entries = obj.get("entry", [])
    if not isinstance(raw_entries, list):
        raise FhirInputError("Bundle.entry", "must be a list", "structure")
    bundle = Bundle(obj, [])
    for i, raw in enumerate(raw_entries):
        resource = raw.get("resource") if isinstance(raw, dict) else None
        if not isinstance(resource, dict):
            raise FhirInputError(f"Bundle.entry[{i}].resource", "is missing", "structure")
        if not isinstance(resource.get("resourceType"), str) or not resource["resourceType"]:
            raise FhirInputError(f"Bundle.entry[{i}].resource.resourceType", "is missing: not a FHIR resource",
                                 "structure")
        full_url = raw.get("fullUrl")
        if full_url is not None and not isinstance(full_url, str):
            raise FhirInputError(f"Bundle.entry[{i}].fullUrl", "must be a string (a URI)", "structure")
        entry = Entry(i, full_url, resource)
        bundle.entries.append(entry)
        if full_url:
            bundle.by_key.setdefault(full_url, entry)
        if isinstance(resource.get("id"), str):
            bundle.by_key.setdefault(f"{entry.type}/{resource['id']}", entry)
    _find_claim(bundle)
    _find_patient(bundle)
    return bundle


def _find_claim(bundle: Bundle) -> None:
    claims = list(bundle.of_type("Claim"))
    if not claims:
        return
    if len(claims) > 1:
        raise FhirInputError(f"{claims[1].path}", "a request Bundle carries one Claim", "structure")
    claim = claims[0]
    if claim.index != 0:
        raise FhirInputError("Bundle.entry[0]", "a PAS request Bundle starts with its Claim "
                             f"(the Claim is entry {claim.index})", "structure")
    if claim.resource.get("use") != "preauthorization":
        raise FhirInputError(f"{claim.path}.use", "must be preauthorization (a prior-authorization request)", "invalid")
    for expression, value in _references(claim.resource, claim.path):
        if bundle.resolve(value) is None and not reference_of(value).startswith("#"):
            raise FhirInputError(expression, "does not resolve inside the Bundle", "not-found")
    bundle.claim = claim


def _references(node: Any, path: str) -> Iterator[tuple[str, dict]]:
    """Every Reference (an object with a `reference` string) under `node`, with its FHIRPath."""
    if isinstance(node, dict):
        if reference_of(node) is not None:
            yield path + ".reference", node
        for key, value in node.items():
            if key not in ("reference", "contained"):
                yield from _references(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _references(value, f"{path}[{i}]")


def _find_patient(bundle: Bundle) -> None:
    if bundle.claim is not None and reference_of(bundle.claim.resource.get("patient")) is not None:
        target = bundle.resolve(bundle.claim.resource["patient"])
        if target is None or target.type != "Patient":
            raise FhirInputError(f"{bundle.claim.path}.patient", "must reference the Patient in the Bundle", "not-found")
        bundle.patient = target
        return
    patients = list(bundle.of_type("Patient"))
    if not patients:
        raise FhirInputError("Bundle.entry.resource.ofType(Patient)", "no Patient (the member) in the Bundle", "required")
    if len(patients) > 1:
        raise FhirInputError("Bundle.entry.resource.ofType(Patient)",
                             "more than one Patient and no Claim saying which is the member: send one member's Bundle",
                             "structure")
    bundle.patient = patients[0]
