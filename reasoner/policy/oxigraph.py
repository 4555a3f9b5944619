"""rdflib terms to and from Oxigraph terms: the knowledge base is queried by Oxigraph (Section V
tables) and determinations are stored in it (`reasoner.sparql.store`)."""

from __future__ import annotations

from typing import Any

import pyoxigraph as ox
from rdflib import BNode, Literal, URIRef
from rdflib.namespace import XSD

from reasoner.shacl.datagraph import shared

__all__ = ["from_oxigraph", "to_oxigraph"]

_TERMS: dict[Any, Any] = {}  # IRIs and literals repeat across determinations: convert each once


def to_oxigraph(term: Any, bnodes: dict[BNode, ox.BlankNode]) -> Any:
    """An rdflib term as an Oxigraph term; blank nodes fresh per `bnodes` mapping (one per graph set)."""
    if isinstance(term, BNode):
        # A fresh blank node per determination: rdflib labels are not unique across graphs/requests.
        if term not in bnodes:
            bnodes[term] = ox.BlankNode()
        return bnodes[term]
    # keyed by lexical form: rdflib's Literal equality is by value ("01" == "1" as integers)
    key = (str(term), term.datatype, term.language) if isinstance(term, Literal) else term
    cached = _TERMS.get(key)
    if cached is None:
        if len(_TERMS) > 200_000:
            _TERMS.clear()
        cached = _TERMS[key] = _convert(term)
    return cached


def from_oxigraph(term: Any) -> Any:
    """An Oxigraph term (or None, unbound) as an rdflib term; IRIs as the KB's own objects when known,
    plain strings without a datatype, as rdflib's parsers make them."""
    if term is None:
        return None
    if isinstance(term, ox.NamedNode):
        return shared(URIRef(term.value))
    if isinstance(term, ox.BlankNode):
        return BNode(term.value)
    if term.language:
        return Literal(term.value, lang=term.language)
    datatype = term.datatype.value
    return Literal(term.value, datatype=None if datatype == _XSD_STRING else URIRef(datatype))


_XSD_STRING = str(XSD.string)


def _convert(term: Any) -> Any:
    if isinstance(term, URIRef):
        return ox.NamedNode(str(term))
    if isinstance(term, Literal):
        if term.language:
            return ox.Literal(str(term), language=term.language)
        if term.datatype is not None:
            return ox.Literal(str(term), datatype=ox.NamedNode(str(term.datatype)))
        return ox.Literal(str(term))
    raise TypeError(f"not an RDF term for Oxigraph: {type(term).__name__}")
