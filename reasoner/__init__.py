"""CP.PHAR.312 (Blincyto) prior-authorization reasoner: the public API.

    import reasoner
    det = reasoner.evaluate(request)            # contract v1 in, determination out
    det = reasoner.evaluate_fhir(bundle)        # a FHIR R4 Bundle in (PAS, US Core, mCODE), with "sources"
    reasoner.InvalidRequest                     # raised for bad input; .field names it
    reasoner.Reasoner(version="draft-2025")     # a knowledge base + compiled shapes, reused
    reasoner.schedule(request)                  # Section V plan; reasoner.check_units(...)

The names are resolved on first use (PEP 562), so `import reasoner` or a subpackage costs nothing
until the engine is needed. The package tree is the architecture (docs/architecture.md):
shacl <- policy <- dosing <- flow <- {planning, sparql, fhir, pipelines, authoring} <- cli.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reasoner.flow.check import InvalidRequest
    from reasoner.fhir.evaluate import evaluate_fhir
    from reasoner.flow.engine import ENGINES, Evaluation, Reasoner, default_reasoner, evaluate
    from reasoner.planning.plan import check_units, schedule

__all__ = ["ENGINES", "Evaluation", "InvalidRequest", "Reasoner", "check_units", "default_reasoner", "evaluate",
           "evaluate_fhir", "schedule"]

_WHERE = {
    "ENGINES": "reasoner.flow.engine",
    "Evaluation": "reasoner.flow.engine",
    "Reasoner": "reasoner.flow.engine",
    "default_reasoner": "reasoner.flow.engine",
    "evaluate": "reasoner.flow.engine",
    "evaluate_fhir": "reasoner.fhir.evaluate",
    "InvalidRequest": "reasoner.flow.check",
    "schedule": "reasoner.planning.plan",
    "check_units": "reasoner.planning.plan",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'reasoner' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
