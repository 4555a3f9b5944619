"""Past requests read back from the SPARQL store, for `blincyto impact OLD NEW --requests STORE`.

The store keeps each determination's request graph (reasoner/store.py). The request is read back
into contract-v1 JSON through the same JSON-LD context that lifted it: every context term is
looked up on its node; derived facts, which no context term names, are left behind.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from rdflib import RDF, BNode, Graph, Literal, URIRef
from rdflib.collection import Collection

from reasoner.policy.kb import BX
from reasoner.policy.resources import contract_file

# Each determination's provenance graph names its request id, when it ended and the request graph.
_LATEST = """PREFIX bx: <https://w3id.org/blincyto-pa/ontology#>
PREFIX prov: <http://www.w3.org/ns/prov#>
SELECT ?id ?ended ?g WHERE {
  GRAPH ?provenance {
    ?d a bx:Determination ; bx:requestId ?id ; prov:wasGeneratedBy ?a ; prov:wasDerivedFrom ?r .
    ?a prov:endedAtTime ?ended .
    ?r bx:describedIn ?g .
  }
}"""
_GRAPH = """SELECT ?s ?p ?o WHERE { GRAPH ?g { ?s ?p ?o } }"""


def _expand(curie: str, ctx: dict[str, Any]) -> str:
    prefix, _, local = curie.partition(":")
    base = ctx.get(prefix)
    return base + local if isinstance(base, str) and local and not curie.startswith("http") else curie


def _value(term: Any) -> Any:
    if isinstance(term, Literal):
        value = term.toPython()
        if isinstance(value, date):
            return value.isoformat()
        return float(value) if isinstance(value, Decimal) else value
    return str(term)


def _read(g: Graph, node: Any, ctx: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for term, definition in ctx.items():
        if term.startswith("@") or not isinstance(definition, dict):
            continue
        nested = definition.get("@context", {})
        if definition.get("@id") == "@type":  # request_type: the class each value is typed as
            types = set(g.objects(node, RDF.type))
            found = [v for v, iri in nested.items() if isinstance(iri, str) and URIRef(_expand(iri, root)) in types]
            if found:
                out[term] = found[0]
            continue
        values = list(g.objects(node, URIRef(_expand(definition.get("@id", ""), root))))
        if not values:
            continue
        v = values[0]
        if definition.get("@container") == "@list":
            out[term] = [_value(x) for x in Collection(g, v)]
        elif definition.get("@type") == "@vocab":
            out[term] = str(v)[len(nested.get("@vocab", "")):]
        elif isinstance(v, BNode) and isinstance(nested, dict) and nested:
            out[term] = _read(g, v, nested, root)
        else:
            out[term] = _value(v)
    return out


def is_store(path: Path) -> bool:
    """A directory that holds an Oxigraph store rather than request files."""
    return path.is_dir() and any(path.iterdir()) and not any(path.rglob("*.json*"))


def requests_from_store(path: Path) -> list[tuple[str, dict[str, Any], tuple[Path, ...]]]:
    """Every request in the store, once, as (request id, contract-v1 request, no extra KB files): the
    request graph of its latest determination (a request checked twice is one request)."""
    import pyoxigraph as ox

    from reasoner.policy.oxigraph import from_oxigraph
    from reasoner.sparql.store import query_local

    latest: dict[str, tuple[str, str]] = {}  # request id -> (ended, request graph)
    for row in query_local(path, _LATEST):
        key = (row["ended"].value, row["g"].value)  # ISO times in UTC sort as text; then by graph name
        request_id = row["id"].value
        if request_id not in latest or key > latest[request_id]:
            latest[request_id] = key
    ctx = json.loads(contract_file("context.jsonld").read_text())["@context"]
    out = []
    for request_id, (_ended, name) in sorted(latest.items()):
        g = Graph()
        graph = ox.NamedNode(name)
        for row in query_local(path, _GRAPH + f"\nVALUES ?g {{ <{graph.value}> }}"):
            g.add((from_oxigraph(row["s"]), from_oxigraph(row["p"]), from_oxigraph(row["o"])))
        for node in g.subjects(RDF.type, BX.PriorAuthorizationRequest):
            out.append((request_id, _read(g, node, ctx, ctx), ()))
    return out
