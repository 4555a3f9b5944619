"""The HTTP layer the project's services share: the SPARQL endpoint today, the FHIR service next.

Knows HTTP and nothing of the policy (it imports no other layer). `app.make_app` builds a Starlette
application behind one guard (Host check, cross-origin refusal, body limits and timeouts, plain-text
errors that say nothing internal, an access log without query strings); `server.serve` runs it on
uvicorn with slow-client timeouts and a connection cap. See docs/sparql-endpoint.md.
"""
