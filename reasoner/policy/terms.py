"""The project's namespaces, each term made once (shared by the knowledge base, its checks and the
request graph)."""

from __future__ import annotations

from rdflib import SKOS, Namespace, URIRef
from rdflib.namespace import DCTERMS, SH

from reasoner.shacl.datagraph import canonical

__all__ = ["BX", "CP", "KB", "PREFIXES", "SHP", "TermNamespace"]


class TermNamespace(Namespace):
    """A namespace that makes each term once: `BX.member` is then the very object the KB tables and
    the request graph hold, so dictionary lookups skip rdflib's slow term comparison."""

    def __getattr__(self, name: str) -> URIRef:
        if name.startswith("__"):
            raise AttributeError(name)
        term = self.__dict__[name] = canonical(self.term(name))
        return term


BX = TermNamespace("https://w3id.org/blincyto-pa/ontology#")
KB = TermNamespace("https://w3id.org/blincyto-pa/kb/")
CP = TermNamespace("https://w3id.org/blincyto-pa/policy/CP.PHAR.312/")
SHP = TermNamespace("https://w3id.org/blincyto-pa/shapes/CP.PHAR.312/")

PREFIXES = {"bx": BX, "kb": KB, "cp": CP, "shp": SHP, "sh": SH, "skos": SKOS, "dcterms": DCTERMS}
