"""A shape's constraints as text: flat key/value pairs (for diffs) and one readable line (for review).

Blank nodes have no stable names, so two versions of a shape are compared through these keys
(`property[bx:dose/bx:dailyDoseMcg].maxInclusive = 21`), built from the SHACL terms alone. The same
walk collects, per property path, the classes, values and numbers a shape mentions: the request
space the witness search explores.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rdflib import RDF, BNode, Graph, Literal, URIRef
from rdflib.collection import Collection
from rdflib.namespace import SH
from rdflib.term import Node

from reasoner.policy.kb import PREFIXES

Path = tuple[URIRef, ...]

_NESTED = (SH.node, SH.qualifiedValueShape, SH["not"])
_LISTS = (SH["or"], SH["and"], SH.xone)
# Not constraints: what a shape says about itself, compared separately (messages, sentences).
_SKIP = {SH.message, SH.name, SH.description, SH.path, SH.order, SH.group}
_NUMERIC = (SH.minInclusive, SH.maxInclusive, SH.minExclusive, SH.maxExclusive)


def qname(term: Node) -> str:
    """`bx:ageGroup`, `kb:Mode-combination`, `sh:Warning`; a literal as its lexical form."""
    if isinstance(term, Literal):
        value = term.toPython()
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value) if isinstance(value, (int, float)) or not isinstance(value, str) else f'"{value}"'
    text = str(term)
    for prefix, ns in (*PREFIXES.items(), ("sh", SH)):
        if text.startswith(str(ns)):
            return f"{prefix}:{text[len(str(ns)):]}"
    return f"<{text}>" if isinstance(term, URIRef) else "[]"


def local(term: Node) -> str:
    """The last part of an IRI (`BCellPrecursorALL`), or the literal's value."""
    if isinstance(term, Literal):
        return qname(term).strip('"')
    text = str(term)
    return text.rsplit("#", 1)[-1].rsplit("/", 1)[-1] if isinstance(term, URIRef) else "[]"


def path_of(g: Graph, path: Node | None) -> Path:
    """A predicate or sequence path as a tuple of predicates (other path forms: empty)."""
    if isinstance(path, URIRef):
        return (path,)
    if path is not None and g.value(path, SH.inversePath) is None and (path, None, None) in g:
        members = list(Collection(g, path))
        if members and all(isinstance(m, URIRef) for m in members):
            return tuple(members)
    return ()


def path_text(g: Graph, path: Node | None) -> str:
    steps = path_of(g, path)
    if steps:
        return "/".join(qname(s) for s in steps)
    inverse = g.value(path, SH.inversePath) if path is not None else None
    return f"^{qname(inverse)}" if inverse is not None else qname(path) if path is not None else ""


# ---------------------------------------------------------------------------------------------
# Flat keys (diff)
# ---------------------------------------------------------------------------------------------

def flatten(g: Graph, node: Node, prefix: str = "") -> list[tuple[str, str]]:
    """Every constraint under a shape as (key, value); named shapes it refers to stay references."""
    return [(prefix + k, v) for k, v in _flat(g, node, {})]


def _flat(g: Graph, node: Node, memo: dict[Node, list[tuple[str, str]]]) -> list[tuple[str, str]]:
    """`flatten` without a prefix (a nested part's keys are its parent's key and its own), each blank
    node flattened once: ordering siblings by what they say flattens them too, and did so again at
    every level above (twice per level of nesting)."""
    if node in memo:
        return memo[node]
    out: list[tuple[str, str]] = []
    seen_keys: dict[str, int] = {}

    def key(base: str) -> str:
        seen_keys[base] = seen_keys.get(base, 0) + 1
        return base if seen_keys[base] == 1 else f"{base}#{seen_keys[base]}"

    def nested(o: Node, at: str) -> list[tuple[str, str]]:
        return [(f"{at}.{k}", v) for k, v in _flat(g, o, memo)]

    for p, o in sorted(g.predicate_objects(node), key=lambda po: (str(po[0]), _sort_key(g, po[1], memo))):
        name = local(p)
        if p in _SKIP or not str(p).startswith(str(SH)):
            continue
        if p == SH.property:
            k = key(f"property[{path_text(g, g.value(o, SH.path))}]")
            out.extend(nested(o, k) if isinstance(o, BNode) else [(k, qname(o))])
        elif p in _LISTS:
            k = key(name)
            for i, member in enumerate(Collection(g, o)):
                member_path = g.value(member, SH.path)
                sub = f"{k}[{i}]" + (f"[{path_text(g, member_path)}]" if member_path is not None else "")
                out.extend(nested(member, sub) if isinstance(member, BNode) else [(sub, qname(member))])
        elif p in _NESTED and isinstance(o, BNode):
            out.extend(nested(o, key(name)))
        elif p == SH["in"]:
            out.append((key("in"), "(" + " ".join(qname(x) for x in Collection(g, o)) + ")"))
        else:
            out.append((key(name), qname(o)))
    memo[node] = out
    return out


def _sort_key(g: Graph, o: Node, memo: dict[Node, list[tuple[str, str]]] | None = None) -> str:
    """Order sibling constraints by what they say, not by blank-node ids."""
    memo = {} if memo is None else memo
    if isinstance(o, BNode) and (o, RDF.first, None) in g:
        return "(" + " ".join(_sort_key(g, m, memo) for m in Collection(g, o)) + ")"
    if isinstance(o, BNode):
        return path_text(g, g.value(o, SH.path)) + "|" + "|".join(f"{k}={v}" for k, v in _flat(g, o, memo))
    return str(o)


# ---------------------------------------------------------------------------------------------
# One readable line (review)
# ---------------------------------------------------------------------------------------------

_PHRASES = {
    SH.minInclusive: "≥ {}", SH.maxInclusive: "≤ {}", SH.minExclusive: "> {}", SH.maxExclusive: "< {}",
    SH.minLength: "length ≥ {}", SH.maxLength: "length ≤ {}", SH.datatype: "of type {}",
    SH.hasValue: "= {}", SH["class"]: "a {}", SH.nodeKind: "a {}", SH.pattern: "matching {}",
}


def describe(g: Graph, node: Node) -> str:
    """What a shape checks, in one line: `bx:diagnosis/bx:condition: required, a BCellPrecursorALL`."""
    parts: list[str] = []
    min_count, max_count = g.value(node, SH.minCount), g.value(node, SH.maxCount)
    if min_count is not None:
        parts.append("required" if int(min_count) == 1 else f"at least {int(min_count)}")
    if max_count is not None:
        parts.append("absent" if int(max_count) == 0 else f"at most {int(max_count)}")
    for p, phrase in _PHRASES.items():
        for o in sorted(g.objects(node, p)):
            parts.append(phrase.format(local(o)))
    for o in g.objects(node, SH["in"]):
        parts.append("one of {" + ", ".join(local(x) for x in Collection(g, o)) + "}")
    for o in g.objects(node, SH.qualifiedValueShape):
        n = g.value(node, SH.qualifiedMinCount)
        what = f"that is {describe(g, o)}" if isinstance(o, BNode) else f"conforming to {qname(o)}"
        parts.append(f"at least {int(n) if n is not None else 1} value {what}")
    for o in g.objects(node, SH.node):
        parts.append(describe(g, o) if isinstance(o, BNode) else f"conforms to {qname(o)}")
    for o in g.objects(node, SH["not"]):
        parts.append("not (" + (describe(g, o) if isinstance(o, BNode) else qname(o)) + ")")
    for p, word, sep in ((SH["or"], "one of", " | "), (SH["and"], "all of", " & "),
                         (SH.xone, "exactly one of", " | ")):
        for o in sorted(g.objects(node, p), key=lambda o: _sort_key(g, o)):  # not the graph's order
            members = [_described_member(g, m) for m in Collection(g, o)]
            parts.append(f"{word}: " + sep.join(f"({m})" for m in members))
    for prop in sorted(g.objects(node, SH.property), key=lambda o: _sort_key(g, o)):
        parts.append(f"{path_text(g, g.value(prop, SH.path))}: {describe(g, prop)}")
    return "; ".join(parts)


def _described_member(g: Graph, member: Node) -> str:
    if not isinstance(member, BNode):
        return qname(member)
    path = g.value(member, SH.path)
    return (f"{path_text(g, path)}: " if path is not None else "") + describe(g, member)


# ---------------------------------------------------------------------------------------------
# What a shape mentions, per path (witness search)
# ---------------------------------------------------------------------------------------------

@dataclass
class PathFacts:
    """The classes, individuals and numbers that constraints on one property path mention."""

    classes: set[URIRef] = field(default_factory=set)
    values: set[Node] = field(default_factory=set)
    numbers: set[float] = field(default_factory=set)
    min_length: int | None = None


def mentions(g: Graph, node: Node, into: dict[Path, PathFacts] | None = None, path: Path = (),
             seen: frozenset[Node] = frozenset()) -> dict[Path, PathFacts]:
    """Per property path, what the shape under `node` mentions (named building blocks followed)."""
    into = {} if into is None else into
    if node in seen:
        return into
    seen = seen | {node}
    facts = into.setdefault(path, PathFacts()) if path else None
    if facts is not None:
        facts.classes.update(o for o in g.objects(node, SH["class"]) if isinstance(o, URIRef))
        facts.values.update(g.objects(node, SH.hasValue))
        for lst in g.objects(node, SH["in"]):
            facts.values.update(Collection(g, lst))
        for p in _NUMERIC:
            facts.numbers.update(float(o.toPython()) for o in g.objects(node, p) if isinstance(o, Literal))
        length = g.value(node, SH.minLength)
        if length is not None:
            facts.min_length = int(length)
    for prop in g.objects(node, SH.property):
        steps = path_of(g, g.value(prop, SH.path))
        mentions(g, prop, into, steps or path, seen)
    for p in _NESTED:
        for o in g.objects(node, p):
            mentions(g, o, into, path, seen)
    for p in _LISTS:
        for lst in g.objects(node, p):
            for member in Collection(g, lst):
                steps = path_of(g, g.value(member, SH.path))
                mentions(g, member, into, steps or path, seen)
    return into
