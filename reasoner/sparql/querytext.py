"""What a SPARQL query's text says outside its strings, IRIs and comments (a best reading, without a
full parser): used to word messages and to see whether the query names its own dataset."""

from __future__ import annotations

import re

__all__ = ["code_only", "names_dataset"]

_NOT_CODE = re.compile(r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\''
                       r'|<[^<>"{}|^`\\\x00-\x20]*>|#[^\n]*')
_FROM = re.compile(r"(?<![\w?$:.-])FROM(?![\w:-])", re.IGNORECASE)


def code_only(text: str) -> str:
    """The query with strings, IRIs and comments blanked (lines and columns kept)."""
    return _NOT_CODE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def names_dataset(text: str) -> bool:
    """True when the query has a FROM or FROM NAMED clause: the store must then not answer over the
    union of its graphs (pyoxigraph's use_default_graph_as_union would override the query's own)."""
    return _FROM.search(code_only(text)) is not None
