"""RDF terms as N-Triples / N-Quads text, written directly (no rdflib serializer): the fast RDF output.

A determination's RDF is some 600 quads; rdflib builds and serializes them at ~50 ms a request,
this writes them at well under 1 ms. Terms are formatted once and cached (the same IRIs and
literals recur in every determination).

- **IRIs** are written as they are; an IRI that N-Triples cannot hold (a control character, space,
  `<>"{}|^`` ` or `\\`) raises ValueError, as rdflib's serializer does (a batch makes it an error row).
- **Literals** escape `"` `\\` and line breaks as N-Triples requires, and every other control
  character, line/paragraph separator and bidirectional control as `\\uXXXX`: the text of a
  hostile id never reaches a terminal that shows the file. A lone surrogate raises ValueError
  (`reasoner.flow.check` refuses them first).
- **Blank nodes** get labels that are unique to one determination (`Labels`): a file of many
  determinations, or a store, never merges two of them through a label.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from rdflib import BNode, Literal, URIRef

__all__ = ["TEXT_BY_ID", "Labels", "graph_lines", "iri", "literal", "term"]

_IRI_BAD = re.compile(r'[\x00-\x20<>"{}|^`\\]')
_LITERAL_ESCAPE = re.compile(r'[\x00-\x1f"\\\x7f-\x9f\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]')
_SHORT = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
_CACHE: dict[Any, str] = {}
TEXT_BY_ID: dict[int, tuple[Any, str]] = {}  # id -> (the term, its text): see term()
_CACHE_LIMIT = 200_000


def _escape_char(match: re.Match[str]) -> str:
    ch = match.group(0)
    short = _SHORT.get(ch)
    if short is not None:
        return short
    if "\ud800" <= ch <= "\udfff":
        raise ValueError("a literal holds a lone surrogate: it is not Unicode text")
    return f"\\u{ord(ch):04X}"


def iri(value: str) -> str:
    """`<value>`; ValueError for a string N-Triples cannot hold as an IRI."""
    if _IRI_BAD.search(value):
        raise ValueError("not an IRI N-Triples can hold (a space, control character or one of <>\"{}|^`\\)")
    return f"<{value}>"


def literal(lexical: str, datatype: str | None = None, language: str | None = None) -> str:
    """A literal in N-Triples syntax, escaped (see the module doc)."""
    text = '"' + _LITERAL_ESCAPE.sub(_escape_char, lexical) + '"'
    if language:
        return f"{text}@{language}"
    if datatype is not None:
        return f"{text}^^{iri(datatype)}"
    return text


def term(t: Any, labels: Labels) -> str:
    """An rdflib term as N-Triples text (blank nodes through `labels`)."""
    found = TEXT_BY_ID.get(id(t))  # the engine's terms are shared objects (datagraph): by identity first, which
    if found is not None and found[0] is t:  # spares rdflib's Python-level __hash__ and __eq__
        return found[1]
    kind = type(t)
    if kind is BNode or (kind is not URIRef and kind is not Literal and isinstance(t, BNode)):
        return labels.of(t)
    if kind is Literal or isinstance(t, Literal):
        key: Any = (str(t), t.datatype, t.language)  # rdflib compares literals by value: key by lexical form
    else:
        key = t
    text = _CACHE.get(key)
    if text is None:
        if isinstance(t, Literal):
            text = literal(str(t), None if t.datatype is None else str(t.datatype), t.language)
        elif isinstance(t, URIRef):
            text = iri(str(t))
        else:
            raise TypeError(f"not an RDF term: {type(t).__name__}")
        if len(_CACHE) >= _CACHE_LIMIT:
            _CACHE.clear()
        _CACHE[key] = text
    if len(TEXT_BY_ID) >= _CACHE_LIMIT:
        TEXT_BY_ID.clear()
    TEXT_BY_ID[id(t)] = (t, text)  # the entry holds the term: its id is not reused while it is there
    return text


class Labels:
    """Blank-node labels of one determination: `_:<prefix><n>`, the prefix unique to it."""

    __slots__ = ("prefix", "_known", "_next")

    def __init__(self, prefix: str) -> None:
        self.prefix = "_:" + prefix
        self._known: dict[Any, str] = {}
        self._next = 0

    def fresh(self) -> str:
        self._next += 1
        return f"{self.prefix}{self._next}"

    def of(self, key: Any) -> str:
        """The label of a node (an rdflib BNode, or any key): the same key, the same label."""
        label = self._known.get(key)
        if label is None:
            label = self._known[key] = self.fresh()
        return label


def graph_lines(triples: Iterable[tuple[Any, Any, Any]], graph: str, labels: Labels, out: list[str],
                rename: dict[Any, str] | None = None) -> None:
    """Append one N-Quads line per triple to `out`; `graph` is the graph's term text ("" for the default
    graph); `rename` maps nodes to the term text written instead (a report's blank node to its IRI)."""
    end = f" {graph} .\n" if graph else " .\n"
    spo = getattr(getattr(triples, "store", None), "spo", None)  # a request graph (datagraph.SmallStore)
    if spo is not None and not rename:  # its index read directly: each subject and predicate written once
        for s, by_p in spo.items():
            s_text = term(s, labels) + " "
            for p, objs in by_p.items():
                head = s_text + term(p, labels) + " "
                for o in objs:
                    out.append(head + term(o, labels) + end)
        return
    for s, p, o in triples:
        if rename:
            s_text = rename.get(s) or term(s, labels)
            o_text = rename.get(o) or term(o, labels)
        else:
            s_text, o_text = term(s, labels), term(o, labels)
        out.append(f"{s_text} {term(p, labels)} {o_text}{end}")
