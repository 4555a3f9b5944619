"""The Da Vinci services (issue 15): one HTTP service for PAS, DTR and CRD on top of the reasoner.

    blincyto serve-fhir [--store DIR|URL] [--host 127.0.0.1] [--port N]

- `fields`: what the criteria read, as questions (one per contract field), from the knowledge base;
- `probe`: one request's truths (criteria, pathways, decision) and what-if trials of one field;
- `questionnaire`: the DTR Questionnaire (enableWhen following the criteria tree) and its pre-filled
  QuestionnaireResponse; `adaptive`: the next question that can change the decision;
- `claims`: pended and decided claims in the store (request, determination, status, authorization);
- `pas`: $submit / $inquire and the clinician's final decision (PROV-O); `crd`: CDS Hooks;
- `auth`, `capability`, `app`: bearer tokens, the CapabilityStatement, the Starlette application on the
  project's HTTP layer (`reasoner.web`). See docs/services.md.

Nothing here names a criterion, a field or a code: they are read from the knowledge base, the JSON
Schema, the JSON-LD context and ontology/services.ttl, ontology/questionnaire.ttl.
"""
