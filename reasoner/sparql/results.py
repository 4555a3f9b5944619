"""SPARQL 1.1 query results written row by row, so the endpoint streams them and can stop at a row limit.

pyoxigraph's `QuerySolutions.serialize` writes a whole result set and cannot stop after N rows; these
writers emit the same four W3C formats one solution at a time (JSON, XML, CSV, TSV, with RDF 1.2
triple terms and directional language tags as pyoxigraph writes them). tests/test_endpoint_hostile.py
checks each against pyoxigraph's own serializer by parsing both back.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any, BinaryIO, Iterable
from xml.sax.saxutils import escape, quoteattr

import pyoxigraph as ox

__all__ = ["RowLimit", "write_solutions", "write_boolean", "FORMATS"]

XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
PLAIN_TYPES = frozenset({XSD_STRING, "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString",
                         "http://www.w3.org/1999/02/22-rdf-syntax-ns#dirLangString"})
FORMATS = ("json", "xml", "csv", "tsv")
_XML_HEAD = '<?xml version="1.0"?><sparql xmlns="http://www.w3.org/2005/sparql-results#">'


class RowLimit(Exception):
    """The result has more rows than the limit: the writer stopped before writing the next one."""


# --------------------------------------------------------------------------- one term


def _json_term(t: Any) -> dict[str, Any]:
    if isinstance(t, ox.NamedNode):
        return {"type": "uri", "value": t.value}
    if isinstance(t, ox.BlankNode):
        return {"type": "bnode", "value": t.value}
    if isinstance(t, ox.Literal):
        out: dict[str, Any] = {"type": "literal", "value": t.value}
        if t.language:
            out["xml:lang"] = t.language
            if getattr(t, "direction", None):
                out["its:dir"] = str(t.direction.value if hasattr(t.direction, "value") else t.direction)
        elif t.datatype.value not in PLAIN_TYPES:
            out["datatype"] = t.datatype.value
        return out
    return {"type": "triple", "value": {"subject": _json_term(t.subject), "predicate": _json_term(t.predicate),
                                        "object": _json_term(t.object)}}


def _xml_term(t: Any) -> str:
    if isinstance(t, ox.NamedNode):
        return f"<uri>{_xml_text(t.value)}</uri>"
    if isinstance(t, ox.BlankNode):
        return f"<bnode>{_xml_text(t.value)}</bnode>"
    if isinstance(t, ox.Literal):
        if t.language:
            attrs = f" xml:lang={quoteattr(t.language)}"
            direction = getattr(t, "direction", None)
            if direction:
                value = direction.value if hasattr(direction, "value") else direction
                attrs += (f' its:dir={quoteattr(str(value))} xmlns:its="http://www.w3.org/2005/11/its"'
                          ' its:version="2.0"')
        elif t.datatype.value not in PLAIN_TYPES:
            attrs = f" datatype={quoteattr(t.datatype.value)}"
        else:
            attrs = ""
        return f"<literal{attrs}>{_xml_text(t.value)}</literal>"
    return (f"<triple><subject>{_xml_term(t.subject)}</subject><predicate>{_xml_term(t.predicate)}</predicate>"
            f"<object>{_xml_term(t.object)}</object></triple>")


def _xml_text(value: str) -> str:
    return escape(value).replace("\r", "&#13;")


def _csv_term(t: Any) -> str:
    if t is None:
        return ""
    if isinstance(t, ox.BlankNode):
        return f"_:{t.value}"
    if isinstance(t, (ox.NamedNode, ox.Literal)):
        return t.value
    return f"{_csv_term(t.subject)} {_csv_term(t.predicate)} {_csv_term(t.object)}"


def _tsv_term(t: Any) -> str:
    if t is None:
        return ""
    if isinstance(t, ox.Triple):
        return f"<<( {_tsv_term(t.subject)} {_tsv_term(t.predicate)} {_tsv_term(t.object)} )>>"
    return str(t)  # N-Triples syntax, the TSV format's term syntax


# --------------------------------------------------------------------------- whole results


def write_boolean(value: bool, fmt: str, out: BinaryIO) -> None:
    """An ASK result."""
    word = "true" if value else "false"
    if fmt == "json":
        out.write(b'{"head":{},"boolean":' + word.encode() + b"}")
    elif fmt == "xml":
        out.write(f"{_XML_HEAD}<head></head><boolean>{word}</boolean></sparql>".encode())
    else:
        out.write(word.encode())


def write_solutions(solutions: Iterable[Any], variables: list[str], fmt: str, out: BinaryIO,
                    max_rows: int) -> int:
    """A SELECT result, one row at a time; raises RowLimit before row `max_rows + 1`. Returns the rows written."""
    write = out.write
    if fmt == "json":
        write(b'{"head":{"vars":' + json.dumps(variables).encode() + b'},"results":{"bindings":[')
    elif fmt == "xml":
        head = "".join(f"<variable name={quoteattr(v)}/>" for v in variables)
        write(f"{_XML_HEAD}<head>{head}</head><results>".encode())
    elif fmt == "csv":
        write(_csv_line(variables))
    else:
        write(("\t".join("?" + v for v in variables) + "\n").encode())
    rows = 0
    for solution in solutions:
        if rows >= max_rows:
            raise RowLimit()
        terms = [solution[v] for v in variables]
        if fmt == "json":
            binding = {v: _json_term(t) for v, t in zip(variables, terms) if t is not None}
            write((b"," if rows else b"") + json.dumps(binding, ensure_ascii=False, separators=(",", ":")).encode())
        elif fmt == "xml":
            cells = "".join(f"<binding name={quoteattr(v)}>{_xml_term(t)}</binding>"
                            for v, t in zip(variables, terms) if t is not None)
            write(f"<result>{cells}</result>".encode())
        elif fmt == "csv":
            write(_csv_line([_csv_term(t) for t in terms]))
        else:
            write(("\t".join(_tsv_term(t) for t in terms) + "\n").encode())
        rows += 1
    if fmt == "json":
        write(b"]}}")
    elif fmt == "xml":
        write(b"</results></sparql>")
    return rows


def _csv_line(cells: list[str]) -> bytes:
    if cells == [""]:
        return b"\r\n"  # csv would write "" for a lone empty cell
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(cells)
    return buffer.getvalue().encode()
