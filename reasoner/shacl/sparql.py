"""SHACL-SPARQL in a shapes graph (SHACL 1.0 §5, §6): which shapes use it, and the queries the
specification forbids.

The compiler does not run SPARQL: a shape with an `sh:sparql` constraint, or with every mandatory
parameter of a constraint component declared in the shapes graph (`sh:ConstraintComponent`, §6.1),
runs through pySHACL (`reasoner.shacl.fallback`). Before it does, every query of the shapes graph is
held to §5.3.1 "Pre-binding of Variables": no MINUS, no VALUES, no SERVICE (also: no network at run
time), no `AS ?var` for a pre-bound variable, and a subquery returns every pre-bound variable. pySHACL
runs such queries with undefined results; here they fail at load. So do `$shapesGraph` and
`$currentShape`, which pySHACL cannot bind (it raises in the middle of a validation).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from rdflib import RDF, RDFS, Graph, Literal, URIRef
from rdflib.namespace import SH
from rdflib.term import Node, Variable

from reasoner.shacl.shape import ShapeError

__all__ = ["CustomComponent", "check_queries", "custom_components", "uses_sparql"]

VALIDATORS = (SH.validator, SH.nodeValidator, SH.propertyValidator)
_ALWAYS = frozenset({"this", "shapesGraph", "currentShape"})  # §5.3.1: pre-bound in every query
_OPTIONAL = frozenset({"shapesGraph", "currentShape"})        # a subquery need not return these
_UNBOUND = frozenset({"shapesGraph", "currentShape"})          # pySHACL cannot pre-bind these


@dataclass(frozen=True)
class CustomComponent:
    """A constraint component declared in the shapes graph: its parameters (§6.1)."""

    node: Node
    mandatory: frozenset[URIRef]
    optional: frozenset[URIRef]

    def applies(self, g: Graph, shape: Node) -> bool:
        """A shape uses the component when it has a value for every mandatory parameter (§6.2)."""
        return all((shape, p, None) in g for p in self.mandatory)


def custom_components(g: Graph) -> list[CustomComponent]:
    """Every sh:ConstraintComponent of the shapes graph outside the SHACL namespace."""
    kinds = {SH.ConstraintComponent, *g.subjects(RDFS.subClassOf, SH.ConstraintComponent)}
    out = []
    for node in sorted({c for k in kinds for c in g.subjects(RDF.type, k)}, key=str):
        if str(node).startswith(str(SH)):
            continue
        mandatory, optional = set(), set()
        for param in g.objects(node, SH.parameter):
            path = g.value(param, SH.path)
            if not isinstance(path, URIRef):
                raise ShapeError(node, "a parameter of a constraint component needs one IRI sh:path (§6.1)")
            flag = g.value(param, SH.optional)
            (optional if isinstance(flag, Literal) and flag.value is True else mandatory).add(path)
        if not mandatory:
            raise ShapeError(node, "a constraint component needs a mandatory parameter (§6.1)")
        if not any(g.value(node, v) is not None for v in VALIDATORS):
            raise ShapeError(node, "a constraint component without a SPARQL-based validator (§6.2.3): "
                                   "no back end could run it, and pySHACL would ignore it")
        out.append(CustomComponent(node, frozenset(mandatory), frozenset(optional)))
    return out


def uses_sparql(g: Graph, shape: Node, components: list[CustomComponent]) -> str | None:
    """Why the compiler cannot run `shape` itself (its SPARQL), or None."""
    if (shape, SH.sparql, None) in g:
        return "an sh:sparql constraint (SHACL-SPARQL §5)"
    for c in components:
        if c.applies(g, shape):
            return f"the constraint component {g.qname(c.node) if isinstance(c.node, URIRef) else c.node} " \
                   "declared in the shapes graph (SHACL-SPARQL §6)"
    return None


# -- §5.3.1 pre-binding -------------------------------------------------------------------------

def check_queries(g: Graph, components: list[CustomComponent]) -> None:
    """Every sh:select / sh:ask of the shapes graph obeys §5.3.1, or ShapeError names its shape."""
    params = {c.node: {_local(p) for p in c.mandatory | c.optional} for c in components}
    for owner, query, prebound in _queries(g, params):
        _check(owner, str(query), prebound)


def _queries(g: Graph, params: dict[Node, set[str]]) -> Iterator[tuple[Node, Literal, frozenset[str]]]:
    for shape, constraint in g.subject_objects(SH.sparql):
        for p in (SH.select, SH.ask):
            for q in g.objects(constraint, p):
                yield shape, q, _ALWAYS
    for component, names in params.items():
        for v in VALIDATORS:
            for validator in g.objects(component, v):
                for p in (SH.select, SH.ask):
                    for q in g.objects(validator, p):
                        yield component, q, _ALWAYS | {"value"} | names


def _local(p: URIRef) -> str:
    text = str(p)
    return text[max(text.rfind("#"), text.rfind("/")) + 1:]


def _check(owner: Node, text: str, prebound: frozenset[str]) -> None:
    from rdflib.plugins.sparql.parser import parseQuery  # only for shapes graphs that hold SPARQL

    try:
        parsed = parseQuery(text.replace("$PATH", "<urn:shacl:path>"))
    except Exception as exc:  # noqa: BLE001 - a syntax error of any kind is the finding
        raise ShapeError(owner, f"a SPARQL query that does not parse: {exc}") from None
    used = {str(v) for v in _walk(parsed) if isinstance(v, Variable)}
    for name in sorted(used & _UNBOUND):
        raise ShapeError(owner, f"a SPARQL query uses ${name}, which the pySHACL back end cannot pre-bind")
    for node in _walk(parsed):
        kind = getattr(node, "name", None)
        if kind == "MinusGraphPattern":
            _refuse(owner, "MINUS")
        elif kind == "ServiceGraphPattern":
            _refuse(owner, "SERVICE (a federated query; the reasoner uses no network at run time)")
        elif kind in ("InlineData", "ValuesClause"):
            _refuse(owner, "VALUES")
        elif kind == "Bind" and str(_field(node, "var")) in prebound:
            _refuse(owner, f"BIND (... AS ?{_field(node, 'var')}) of a pre-bound variable")
        elif kind == "vars" and _field(node, "evar") is not None and str(_field(node, "evar")) in prebound:
            _refuse(owner, f"(... AS ?{_field(node, 'evar')}) of a pre-bound variable")
        elif kind == "SubSelect":
            returned = _projected(node)
            missing = sorted((prebound - _OPTIONAL) - returned)
            if missing:
                _refuse(owner, "a subquery that does not return the pre-bound "
                               + ", ".join(f"${m}" for m in missing))


def _field(node, key: str):
    """A field of a parse-tree node, or None (CompValue.get answers a missing key with the key)."""
    return dict.get(node, key) if isinstance(node, dict) else None


def _refuse(owner: Node, what: str) -> None:
    raise ShapeError(owner, f"a SPARQL query with {what}: SHACL 1.0 §5.3.1 forbids it")


def _projected(select) -> set[str]:
    """The variables a subquery returns; for SELECT *, those in scope of its WHERE (not FILTER's)."""
    projection = _field(select, "projection")
    if projection:
        return {str(_field(v, "evar") or _field(v, "var")) for v in projection}
    return {str(v) for v in _walk(_field(select, "where"), skip=("Filter",)) if isinstance(v, Variable)}


def _walk(node, skip: tuple[str, ...] = ()) -> Iterator:
    """Every node of a parse tree (rdflib's CompValue / ParseResults), depth first."""
    todo = [node]
    while todo:
        n = todo.pop()
        yield n
        if getattr(n, "name", None) in skip:
            continue
        if isinstance(n, dict):
            todo.extend(n.values())
        elif isinstance(n, (list, tuple)) or type(n).__name__ == "ParseResults":
            todo.extend(list(n))
