"""A request the service refuses, as an OperationOutcome with its HTTP status (never a value that was sent).

- 400 a body that is not JSON, not the resource the operation takes, or a Bundle whose structure
  the mapping cannot read (FhirInputError code `structure`);
- 401 / 403 no or a wrong token, or not a clinician's; 404 an unknown claim; 409 a claim that is not
  pended (a clinician decides only a pended one); 413 / 415 / 421 ... from the HTTP layer;
- 422 a well-formed Bundle the profile rejects: a Claim that is not a preauthorization, a reference
  that does not resolve, a required fact no source gives, a value the contract refuses.
"""

from __future__ import annotations

from typing import Any

from reasoner.fhir.errors import FhirInputError, operation_outcome

__all__ = ["ServiceError", "from_fhir", "outcome", "ISSUE_CODES"]

# HTTP status -> OperationOutcome issue type (http://hl7.org/fhir/issue-type) for refusals of the HTTP layer
ISSUE_CODES = {400: "structure", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported",
               408: "timeout", 409: "conflict", 413: "too-long", 415: "not-supported", 421: "security",
               422: "processing", 500: "exception", 503: "transient"}


class ServiceError(Exception):
    """A refusal: HTTP status, OperationOutcome issue code, FHIRPath of the problem, and what to change."""

    def __init__(self, status: int, message: str, expression: str = "", code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.expression = expression
        self.code = code or ISSUE_CODES.get(status, "processing")
        self.headers = headers or {}

    def outcome(self) -> dict[str, Any]:
        return outcome(self.message, self.code, self.expression)

    def __reduce__(self) -> Any:  # raised in a worker process, answered by the service's
        return ServiceError, (self.status, self.message, self.expression, self.code, self.headers)


def outcome(message: str, code: str, expression: str = "") -> dict[str, Any]:
    if expression:
        return operation_outcome([(expression, message, code)])
    return {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code, "diagnostics": message}]}


def from_fhir(exc: FhirInputError) -> ServiceError:
    """A Bundle the mapping cannot read: 400 when its structure is wrong, 422 when the profile rejects it."""
    status = 400 if exc.code == "structure" else 422
    return ServiceError(status, exc.reason, exc.expression, exc.code)
