"""No query reaches a network: SPARQL `SERVICE` is refused unless an operator allow-lists the endpoint.

pyoxigraph runs `SERVICE <url> { ... }` by sending the pattern to that URL, so one query could make
the endpoint (or `blincyto query`) POST to any host, or call itself until every worker is busy. It
is the only way a query reaches a network: `FROM`, `FROM NAMED`, `DESCRIBE` and graph IRIs only
name graphs of the store, and updates (`LOAD`) are refused.

Why a word scan and not a tokenizer: Oxigraph's parser accepts the keyword glued to what follows or
precedes it (`SERVICE:x{...}`, `SERVICEex:x{...}`, `SERVICESILENT<...>`, `... true SERVICE<...>`), and
an expression such as `FILTER(?a<?b)` can look like the start of an IRI to a tokenizer that reads
ahead differently. So the scan refuses every occurrence of the letters `service` (any case, after
`\\u` escapes are decoded) except where no parser can read them as the keyword: inside a variable
name (`?service`, `?my_service`), the local part of a prefixed name (`ex:Service`), or right after
`/` or `#` (a path step or an IRI's last segment; a comment), or in a `#` comment whose rest of the
line holds no quote, `<` or `>` (nothing there could end an IRI or a string a parser might be
reading instead). The price: the word inside a string is refused too (`"service"`); write
`CONCAT("serv", "ice")`.

With an allow-list, an occurrence is accepted when it reads `SERVICE [SILENT] <allowed URL>`
exactly (an absolute IRI, so `BASE` cannot redirect it).
"""

from __future__ import annotations

import re
from typing import Iterable

__all__ = ["network_refusal", "normalise_endpoint"]

_WORD = re.compile(r"service", re.IGNORECASE)
_ESCAPE = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")
_ALLOWED_FORM = re.compile(r"service\s*(?:silent\s*)?<([^<>\"{}|^`\\\x00-\x20]*)>", re.IGNORECASE)
_NAME = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def _decoded(text: str) -> str:
    def char(m: re.Match[str]) -> str:
        code = int(m.group(1) or m.group(2), 16)
        return chr(code) if code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else m.group(0)

    return _ESCAPE.sub(char, text)


def _harmless(text: str, at: int) -> bool:
    """True where the letters at `at` cannot be the SERVICE keyword for any reading of the query."""
    start = at
    while start > 0 and text[start - 1] in _NAME:  # a variable's name: letters, digits, _ only
        start -= 1
    if start > 0 and text[start - 1] in "?$":
        return True
    start = at
    while start > 0 and (text[start - 1] in _NAME or text[start - 1] == "-"):
        start -= 1
    return start > 0 and text[start - 1] in ":/#"


def normalise_endpoint(url: str) -> str:
    """An allow-listed endpoint as compared: an absolute http(s) URL, unchanged but for surrounding space."""
    url = url.strip()
    if not re.match(r"^https?://[^\s<>\"{}|^`\\]+$", url, re.IGNORECASE):
        raise ValueError("an allowed SERVICE endpoint is an absolute http:// or https:// URL")
    return url


def network_refusal(query: str, allowed: Iterable[str] = ()) -> str | None:
    """Why `query` would reach a network (one sentence, naming the line), or None when it would not."""
    allow = set(allowed)
    decoded = _decoded(query)
    for text in (query, decoded) if decoded != query else (query,):  # as Oxigraph reads it, and as the spec does
        line = _first_unsafe(text, allow)
        if line is not None:
            return _refusal(line, allow)
    return None


def _in_comment(text: str, at: int) -> bool:
    """True inside a `#` comment that nothing on its line could end: from a `#` (not an escaped `\\#`)
    to the end of the line, no quote, `<` or `>`. Whatever a parser takes that `#` for (a comment,
    part of an IRI or of a string), the rest of the line then stays what it was."""
    start = text.rfind("\n", 0, at) + 1
    end = text.find("\n", at)
    end = len(text) if end < 0 else end
    hash_at = text.find("#", start, at)
    while hash_at >= 0:
        if (hash_at == 0 or text[hash_at - 1] != "\\") and not any(c in text[hash_at:end] for c in "\"'<>"):
            return True
        hash_at = text.find("#", hash_at + 1, at)
    return False


def _first_unsafe(text: str, allow: set[str]) -> int | None:
    for m in _WORD.finditer(text):
        if _harmless(text, m.start()) or _in_comment(text, m.start()):
            continue
        form = _ALLOWED_FORM.match(text, m.start())
        if form is not None and form.group(1) in allow:
            continue
        return text.count("\n", 0, m.start()) + 1
    return None


def _refusal(line: int, allow: set[str]) -> str:
    if allow:
        reason = "only SERVICE <URL> with a URL the operator allowed is accepted"
    else:
        reason = "this endpoint reaches no other host (an operator can allow one with --allow-service URL)"
    return (f"SPARQL SERVICE is refused (line {line}): {reason}. The word 'service' is refused in a string too "
            "(write CONCAT(\"serv\", \"ice\")); in a variable, a prefixed name or an IRI path it is fine.")
