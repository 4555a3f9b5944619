"""Evaluate a FHIR Bundle: Bundle -> request (read_bundle) -> determination, with its sources.

`evaluate_fhir(bundle)` is `reasoner.evaluate` for FHIR: the determination of the request the
Bundle carries, plus `sources` (every field -> the resource and element it came from) and the
mapping's findings among its `warnings`. `evaluate_text` is what the command line, batch and Spark
call on raw input: contract v1 JSON or a FHIR Bundle, recognised by its `resourceType`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from reasoner.fhir.errors import FhirInputError
from reasoner.flow.check import parse_request_text
from reasoner.flow.engine import Evaluation, Reasoner, default_reasoner

if TYPE_CHECKING:  # the FHIR reading (and the mapping, FHIRPath) is imported for FHIR input only:
    from reasoner.fhir.request import Extraction  # a contract request starts without it

__all__ = ["FhirEvaluation", "evaluate_bundle", "evaluate_fhir", "evaluate_text", "looks_like_fhir"]

InputKind = Literal["auto", "contract", "fhir"]
_MARK = b'"resourceType"'


@dataclass
class FhirEvaluation:
    """The engine's Evaluation of the Bundle's request, and what the Bundle gave (sources, findings)."""

    evaluation: Evaluation
    extraction: Extraction

    @property
    def determination(self) -> dict[str, Any]:
        return self.evaluation.determination


def evaluate_bundle(bundle: Any, reasoner: Reasoner | None = None) -> FhirEvaluation:
    """A parsed Bundle -> FhirEvaluation (raises FhirInputError, an InvalidRequest, for bad input)."""
    from reasoner.fhir.request import read_bundle

    engine = reasoner or default_reasoner()
    extraction = read_bundle(bundle, engine.kb)
    evaluation = engine.evaluate_full(extraction.request, checked=True)
    det = evaluation.determination
    det["warnings"] = list(det.get("warnings") or []) + extraction.findings
    det["sources"] = extraction.sources
    return FhirEvaluation(evaluation, extraction)


def evaluate_fhir(bundle: Any, reasoner: Reasoner | None = None) -> dict[str, Any]:
    """FHIR R4 Bundle (a dict, or its JSON text) in, determination (with `sources`) out."""
    if isinstance(bundle, (str, bytes, bytearray)):
        from reasoner.fhir.bundle import parse_json

        bundle = parse_json(bundle)
    return evaluate_bundle(bundle, reasoner).determination


def looks_like_fhir(obj: Any) -> bool:
    """A FHIR resource (a JSON object with a resourceType), not a contract request."""
    return isinstance(obj, dict) and "resourceType" in obj


def evaluate_text(engine: Reasoner, data: str | bytes, kind: InputKind = "auto") -> tuple[Evaluation, Extraction | None]:
    """Raw input (contract v1 or, with `kind` auto or fhir, a FHIR Bundle) -> its Evaluation.

    Raises InvalidRequest (FhirInputError for FHIR input) naming the field or the FHIRPath."""
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if kind == "fhir" or (kind == "auto" and _MARK in raw):
        from reasoner.fhir.bundle import parse_json

        try:
            obj = parse_json(raw)
        except FhirInputError:
            if kind == "fhir":
                raise
            obj = None
        if kind == "fhir" or looks_like_fhir(obj):
            fhir = evaluate_bundle(obj, engine)
            return fhir.evaluation, fhir.extraction
    request = parse_request_text(raw)
    return engine.evaluate_full(request, checked=True), None
