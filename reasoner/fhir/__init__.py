"""FHIR R4 in and out: a Bundle becomes a contract-v1 request (each field traced to its resource), a
determination becomes a Da Vinci PAS response Bundle. The mapping is data (ontology/fhir-mapping.ttl).

    from reasoner.fhir.request import read_bundle       # Bundle -> Extraction(request, sources, findings)
    from reasoner.fhir.response import response_bundle  # determination -> PAS ClaimResponse Bundle
    from reasoner.fhir.evaluate import evaluate_fhir    # Bundle -> determination (with "sources")
    from reasoner.fhir.errors import FhirInputError     # bad input: .expression (FHIRPath), .reason

See docs/fhir.md.
"""
