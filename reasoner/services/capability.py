"""What the service serves, in one table: the routes are made from it and so is `GET /metadata`.

The CapabilityStatement lists exactly the FHIR operations of the table (PAS, DTR, and the clinician's
decision, whose OperationDefinition is this project's); the CDS Hooks endpoints are not FHIR and are
named in `implementation.description` and listed by their own discovery endpoint (`/cds-services`).
No RESTful interaction (read, search, create) is served, so none is listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from reasoner.flow.provenance import engine_version

__all__ = ["Operation", "OPERATIONS", "METADATA", "CDS_DISCOVERY", "CDS_SERVICE", "capability_statement"]

METADATA = "/metadata"
CDS_DISCOVERY = "/cds-services"
CDS_SERVICE = "/cds-services/{service_id}"


@dataclass(frozen=True)
class Operation:
    resource: str
    code: str
    name: str
    definition: str
    clinician: bool = False  # needs a clinician's token

    @property
    def path(self) -> str:
        return f"/{self.resource}/${self.code}"


OPERATIONS = (
    # HL7/davinci-pas input/fsh/ClaimOperation.fsh
    Operation("Claim", "submit", "PAS Claim Request", "http://hl7.org/fhir/us/davinci-pas/OperationDefinition/Claim-submit"),
    Operation("Claim", "inquire", "PAS Claim Inquiry", "http://hl7.org/fhir/us/davinci-pas/OperationDefinition/Claim-inquiry"),
    Operation("Claim", "clinician-decision", "Clinician's final decision on a pended request",
              "https://w3id.org/blincyto-pa/OperationDefinition/Claim-clinician-decision", clinician=True),
    # HL7/davinci-dtr input/fsh/DTROperation-QuestionnairePackage.fsh; DTROperation-NextQuestion.fsh (base: SDC)
    Operation("Questionnaire", "questionnaire-package", "DTR Questionnaire Package",
              "http://hl7.org/fhir/us/davinci-dtr/OperationDefinition/questionnaire-package"),
    Operation("Questionnaire", "next-question", "Adaptive questionnaire: next question",
              "http://hl7.org/fhir/uv/sdc/OperationDefinition/Questionnaire-next-question"),
)


def capability_statement(token_required: bool) -> dict[str, Any]:
    resources: dict[str, list[dict[str, str]]] = {}
    for op in OPERATIONS:
        resources.setdefault(op.resource, []).append({"name": op.code, "definition": op.definition})
    security = ("Every request needs `Authorization: Bearer <token>`; the clinician-decision operation needs a "
                "clinician's token." if token_required else
                "Bound to loopback without tokens: open to this machine only; the clinician-decision operation "
                "always needs a clinician's token.")
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": datetime.now(timezone.utc).date().isoformat(),
        "kind": "instance",
        "software": {"name": "blincyto-reasoner", "version": engine_version()},
        "implementation": {"description": "Prior-authorization reasoner (Da Vinci PAS, DTR; CRD as CDS Hooks at "
                                          f"{CDS_DISCOVERY})."},
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [{"mode": "server", "security": {"cors": False, "description": security},
                  "resource": [{"type": kind, "operation": ops} for kind, ops in resources.items()]}],
    }
