"""FHIRPath, evaluated by fhirpathpy with its R4 model (choice types such as `Observation.value`).

Each expression of the mapping is compiled once per process; evaluating it is then a function call.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Callable

__all__ = ["evaluate"]


@cache
def _compiled(expression: str) -> Callable[..., list]:
    """fhirpathpy (and its ANTLR parser) is imported on the first FHIR input, not at every start."""
    from fhirpathpy import compile as compile_
    from fhirpathpy.models import models

    return compile_(expression, models["r4"])


def evaluate(resource: Any, expression: str, variables: dict[str, Any] | None = None) -> list[Any]:
    """The collection an expression gives on a resource (environment variables as %name)."""
    return list(_compiled(expression)(resource, variables or {}))
