"""String-based constraint components (SHACL 1.0 §4.4): sh:minLength, sh:maxLength.

sh:pattern, sh:languageIn and sh:uniqueLang are not compiled (a shape using them is refused at load)."""

from __future__ import annotations

from rdflib import RDF, XSD, BNode, Literal, URIRef
from rdflib.namespace import SH
from rdflib.term import Node

from reasoner.shacl.components.common import per_value
from reasoner.shacl.messages import stringify
from reasoner.shacl.shape import CompiledShape, Compiler, ShapeError

__all__ = ["COMPILERS", "PARAMETERS"]

PARAMETERS = frozenset({SH.minLength, SH.maxLength})


def _string(v: Node) -> str:
    if isinstance(v, Literal) and v.value is not None and v.datatype in (None, RDF.langString, XSD.string):
        return str(v.value)
    return str(v)


def _length(parameter: URIRef):
    """§4.4.1 sh:minLength / §4.4.2 sh:maxLength: the string length of each value node."""
    minimum = parameter == SH.minLength
    component = SH.MinLengthConstraintComponent if minimum else SH.MaxLengthConstraintComponent
    text = "String length not >= {}" if minimum else "String length not <= {}"

    def compile_(cs: Compiler, shape: CompiledShape, params: set, stack):
        if parameter not in params:
            return None
        rules = list(cs.graph.objects(shape.node, parameter))
        if not all(isinstance(r, Literal) and isinstance(r.value, int) and r.value >= 0 for r in rules):
            raise ShapeError(shape.node, f"{cs.graph.qname(parameter)} must be a non-negative integer")

        def ok(_idx, v, rule):
            n = rule.value
            if minimum and n == 0:
                return True
            if isinstance(v, BNode):
                return False
            return len(_string(v)) >= n if minimum else len(_string(v)) <= n

        def message(dg, focus, value, _rules=rules):
            return text.format(stringify(dg, _rules[0]))
        return per_value(shape, component, rules, ok, message)
    return compile_


COMPILERS = (_length(SH.minLength), _length(SH.maxLength))
