"""Lift: a contract v1 request (plain JSON) into its RDF graph, as the shipped JSON-LD context maps it.

The context (reasoner/context.jsonld) is the single mapping from JSON to RDF. `lift_jsonld` runs it
through rdflib's JSON-LD parser (about 3 ms a request). `lift` reads the same context once into a
table of terms and writes the triples directly (a tenth of that); it covers the JSON-LD features the
context uses (prefixes, property-scoped contexts, type coercion, @vocab-typed values, @type terms,
@list containers, nested objects as blank nodes) and hands anything else to `lift_jsonld`.
tests/test_lift.py checks that both give isomorphic graphs on every case and on generated requests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from rdflib import RDF, XSD, BNode, Graph, URIRef
from rdflib.term import Node
from rdflib.namespace import NamespaceManager

from reasoner.policy.resources import contract_file
from reasoner.shacl.datagraph import TYPE, blank, canonical, literal, shared, small_graph

REQUEST_BASE = "urn:blincyto:request:"
_NIL, _DOUBLE = canonical(RDF.nil), canonical(XSD.double)
_FIRST, _REST = canonical(RDF.first), canonical(RDF.rest)


@lru_cache(maxsize=1)
def _context() -> dict[str, Any]:
    """The context ships with the package and is inlined: nothing is fetched (no remote @context)."""
    return json.loads(contract_file("context.jsonld").read_text())["@context"]


def request_iri(request_id: str) -> URIRef:
    return URIRef(REQUEST_BASE + quote(request_id, safe=""))


def lift_jsonld(request: dict[str, Any]) -> tuple[Graph, URIRef]:
    """The request as a graph through rdflib's JSON-LD parser (the reference for `lift`)."""
    node = request_iri(request["id"])
    doc = {"@context": _context(), "@id": str(node), **request}
    g = Graph()
    g.parse(data=json.dumps(doc), format="json-ld")
    return g, node


def lift(request: dict[str, Any]) -> tuple[Graph, URIRef]:
    """The request as a graph: one node for the request, blank nodes for its nested objects."""
    terms = _compiled()
    if terms is None or _keyword(request):
        return lift_jsonld(request)
    node = request_iri(request["id"])
    g = small_graph()  # a request graph is small and short-lived: plain dicts, no context bookkeeping
    g.namespace_manager = terms.namespaces  # binding prefixes per graph costs more than the triples
    try:
        _node(g, node, request, terms.scope)
    except _Unsupported:
        return lift_jsonld(request)
    return g, node


# ---------------------------------------------------------------------------------------------
# The context, compiled once
# ---------------------------------------------------------------------------------------------

class _Unsupported(Exception):
    """A value the direct lift does not cover: the JSON-LD parser takes the request instead."""


@dataclass
class _Term:
    iri: URIRef | None  # None: the term maps to @type
    datatype: URIRef | None = None
    vocab: str | None = None  # @type: @vocab, with the scoped @vocab
    is_list: bool = False
    scope: dict[str, "_Term"] = field(default_factory=dict)  # active terms inside the value


@dataclass
class _Compiled:
    prefixes: dict[str, URIRef]
    scope: dict[str, _Term]
    namespaces: NamespaceManager  # the prefixes the JSON-LD parser would bind, shared by every graph


@lru_cache(maxsize=1)
def _compiled() -> _Compiled | None:
    try:
        ctx = _context()
        prefixes = {k: URIRef(v) for k, v in ctx.items() if isinstance(v, str) and not k.startswith("@")}
        template = Graph()
        for prefix, ns in prefixes.items():
            template.bind(prefix, ns)
        return _Compiled(prefixes, _scope(ctx, {}, prefixes), template.namespace_manager)
    except _Unsupported:
        return None


def _expand(value: str, prefixes: dict[str, URIRef]) -> URIRef:
    prefix, sep, rest = value.partition(":")
    if sep and prefix in prefixes:
        return canonical(URIRef(prefixes[prefix] + rest))
    if sep and rest.startswith("//"):
        return canonical(URIRef(value))
    raise _Unsupported(value)


_KNOWN = {"@id", "@type", "@context", "@container"}


def _scope(ctx: dict[str, Any], parent: dict[str, _Term], prefixes: dict[str, URIRef]) -> dict[str, _Term]:
    """The terms active inside an object whose (property-scoped) context is `ctx`."""
    active = dict(parent)
    nested_of: dict[str, dict[str, Any]] = {}
    for name, definition in ctx.items():
        if name.startswith("@"):
            if name != "@version":
                raise _Unsupported(name)
            continue
        if isinstance(definition, str):
            continue  # a prefix
        if not isinstance(definition, dict) or set(definition) - _KNOWN:
            raise _Unsupported(name)
        if definition.get("@container") not in (None, "@list"):
            raise _Unsupported(name)
        iri, kind, nested = definition.get("@id"), definition.get("@type"), definition.get("@context")
        term = _Term(None if iri == "@type" else _expand(iri, prefixes),
                     is_list=definition.get("@container") == "@list")
        if term.iri is None:
            if kind is not None or term.is_list:
                raise _Unsupported(name)
            term.scope = {k: _Term(_expand(v, prefixes)) for k, v in (nested or {}).items() if isinstance(v, str)}
        elif kind == "@vocab":
            term.vocab = (nested or {}).get("@vocab")
            if not term.vocab or set(nested) != {"@vocab"}:
                raise _Unsupported(name)
        elif kind is not None:
            term.datatype = _expand(kind, prefixes)
            if nested is not None:
                raise _Unsupported(name)
        elif nested is not None:
            nested_of[name] = nested
        active[name] = term
    for name, term in active.items():
        if name in nested_of:
            term.scope = _scope(nested_of[name], active, prefixes)
        elif term.iri is not None and term.vocab is None and name in ctx:
            term.scope = active  # a nested object without its own context keeps the active one
    return active


# ---------------------------------------------------------------------------------------------
# Writing the triples
# ---------------------------------------------------------------------------------------------

def _node(g: Graph, subject: URIRef | BNode, obj: dict[str, Any], scope: dict[str, _Term]) -> None:
    for key, value in obj.items():
        term = scope.get(key)
        if term is None or value is None:
            if key.startswith("@"):
                raise _Unsupported(key)
            continue  # JSON-LD drops what the context does not map
        if term.iri is None:  # @type through the term's scoped context
            for name in value if isinstance(value, list) else [value]:
                if not isinstance(name, str) or name not in term.scope:
                    raise _Unsupported(key)
                g.add((subject, TYPE, term.scope[name].iri))
            continue
        if term.is_list:
            if not isinstance(value, list):
                value = [value]
            items = [_value(g, term, v, scope) for v in value if v is not None]
            g.add((subject, term.iri, _rdf_list(g, items)))
            continue
        if not isinstance(value, list):  # most values: one scalar or object (value is not None here)
            g.add((subject, term.iri, _value(g, term, value, scope)))
            continue
        for v in value:
            if v is not None:
                g.add((subject, term.iri, _value(g, term, v, scope)))


@lru_cache(maxsize=1024)  # bounded: an unknown value sent once does not stay
def _vocab_term(vocab: str, value: str) -> URIRef:
    """An @vocab-typed value as its IRI (the KB's own object when the KB names it): made once, not
    validated again by URIRef on every request."""
    return shared(URIRef(vocab + value))


def _keyword(obj: dict[str, Any]) -> bool:
    """A JSON-LD keyword (@id, @type, ...) among the keys: the JSON-LD parser takes the request then
    (a loop, not any() over a generator: this runs for every object of every request)."""
    for k in obj:
        if k.startswith("@"):
            return True
    return False


def _rdf_list(g: Graph, items: list) -> Node:
    """An RDF collection (rdf:first / rdf:rest, ending in rdf:nil) of `items`; its head."""
    head = _NIL
    for item in reversed(items):
        cell = blank()
        g.add((cell, _FIRST, item))
        g.add((cell, _REST, head))
        head = cell
    return head


def _value(g: Graph, term: _Term, value: Any, scope: dict[str, _Term]):
    if isinstance(value, dict):
        if _keyword(value):
            raise _Unsupported(term.iri)
        b = blank()
        _node(g, b, value, term.scope or scope)
        return b
    if isinstance(value, list):
        raise _Unsupported(term.iri)  # a list of lists
    if term.vocab is not None:
        if not isinstance(value, str) or ":" in value or value in scope or value in term.scope:
            raise _Unsupported(term.iri)
        return _vocab_term(term.vocab, value)
    if term.datatype is not None:
        return literal(value, term.datatype)
    if isinstance(value, float):
        return literal(value, _DOUBLE)
    return literal(value)
