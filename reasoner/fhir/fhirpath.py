"""FHIRPath, evaluated by fhirpathpy with its R4 model (choice types such as `Observation.value`).

Each expression of the mapping is compiled once per process; evaluating it is then a function call.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Callable

from fhirpathpy import compile as _compile
from fhirpathpy.models import models

__all__ = ["evaluate"]

_MODEL = models["r4"]


@cache
def _compiled(expression: str) -> Callable[..., list]:
    return _compile(expression, _MODEL)


def evaluate(resource: Any, expression: str, variables: dict[str, Any] | None = None) -> list[Any]:
    """The collection an expression gives on a resource (environment variables as %name)."""
    return list(_compiled(expression)(resource, variables or {}))
