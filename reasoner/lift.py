"""Lift: a contract v1 request (plain JSON) into its RDF graph through the shipped JSON-LD context."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from rdflib import Graph, URIRef

from .resources import package_file

REQUEST_BASE = "urn:blincyto:request:"


@lru_cache(maxsize=1)
def _context() -> dict[str, Any]:
    """The context ships with the package and is inlined: nothing is fetched (no remote @context)."""
    return json.loads(package_file("context.jsonld").read_text())["@context"]


def request_iri(request_id: str) -> URIRef:
    return URIRef(REQUEST_BASE + quote(request_id, safe=""))


def lift(request: dict[str, Any]) -> tuple[Graph, URIRef]:
    """The request as a graph: one node for the request, blank nodes for its nested objects."""
    node = request_iri(request["id"])
    doc = {"@context": _context(), "@id": str(node), **request}
    g = Graph()
    g.parse(data=json.dumps(doc), format="json-ld")
    return g, node
