"""Bad FHIR input, in FHIR's own terms: the FHIRPath of the problem and the rule it broke.

`FhirInputError` is an `InvalidRequest` (so every caller that handles bad contract input handles bad
FHIR input too: the command line's `error: <field>: <reason>` and exit 2, batch's error row); its
`field` is the FHIRPath expression. Like contract errors, the reason never repeats a sent value.
"""

from __future__ import annotations

from typing import Any

from reasoner.flow.check import InvalidRequest

__all__ = ["FhirInputError", "operation_outcome"]


class FhirInputError(InvalidRequest):
    """A Bundle the reasoner cannot read. `expression` is a FHIRPath (`Bundle.entry[1].resource.birthDate`),
    `code` the OperationOutcome issue type (invalid, structure, required, not-found, conflict)."""

    def __init__(self, expression: str, reason: str, code: str = "invalid") -> None:
        super().__init__(expression, reason)
        self.expression = expression
        self.code = code

    def to_outcome(self) -> dict[str, Any]:
        return operation_outcome([(self.expression, self.reason, self.code)])


def operation_outcome(issues: list[tuple[str, str, str]]) -> dict[str, Any]:
    """An OperationOutcome with one error issue per (expression, reason, code)."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": reason, "expression": [expression]}
                  for expression, reason, code in issues],
    }
