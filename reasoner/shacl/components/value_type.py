"""Value type constraint components (SHACL 1.0 §4.1): sh:class, sh:datatype, sh:nodeKind."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

from rdflib import RDF, RDFS, XSD, BNode, Literal, URIRef
from rdflib.namespace import SH
from rdflib.term import Node

from reasoner.shacl.components.common import per_value
from reasoner.shacl.index import Index
from reasoner.shacl.messages import rules_message
from reasoner.shacl.shape import CompiledShape, Compiler, ShapeError

__all__ = ["COMPILERS", "PARAMETERS"]

PARAMETERS = frozenset({SH["class"], SH.datatype, SH.nodeKind})

_ClassConstraintComponent = SH.ClassConstraintComponent
_DatatypeConstraintComponent = SH.DatatypeConstraintComponent
_NodeKindConstraintComponent = SH.NodeKindConstraintComponent


def _class(cs: Compiler, shape: CompiledShape, params: set, stack):
    """§4.1.1 sh:class: each value node is a SHACL instance of the class."""
    if SH["class"] not in params:
        return None
    rules = list(cs.graph.objects(shape.node, SH["class"]))
    return per_value(shape, _ClassConstraintComponent, rules, lambda idx, v, c: idx.has_class(v, c),
                     rules_message(cs.graph, rules, "Value does not have class {}", "Value class is not in classes ({})"),
                     "class")


_DATATYPE_VALUE = {XSD.string: (str, bytes), RDF.langString: (str, bytes), XSD.integer: int, XSD.float: float,
                   XSD.decimal: Decimal, XSD.boolean: bool, XSD.date: date, XSD.time: time, XSD.dateTime: datetime}


def _datatype_ok(_idx: Index, v: Node, rule: Node) -> bool:
    if not isinstance(v, Literal):
        return False
    if v.datatype == rule:
        if getattr(v, "ill_typed", None) is True:
            return False
        return _actual(v, rule)
    if rule == RDFS.Literal:
        return True
    if rule == RDFS.Datatype and v.datatype:
        return True
    if v.datatype is None and v.language is None and rule == XSD.string:
        return _actual(v, rule)
    if rule == RDF.langString and v.language:
        return _actual(v, rule)
    return False


def _actual(v: Literal, rule: Node) -> bool:
    """pySHACL's _assert_actual_datatype: the parsed value has the Python type of the datatype."""
    expected = _DATATYPE_VALUE.get(rule)
    return True if expected is None else isinstance(v.value, expected)


def _datatype(cs: Compiler, shape: CompiledShape, params: set, stack):
    """§4.1.2 sh:datatype: each value node is a well-formed literal of the datatype."""
    if SH.datatype not in params:
        return None
    rules = list(cs.graph.objects(shape.node, SH.datatype))
    if len(rules) != 1:
        raise ShapeError(shape.node, "more than one sh:datatype")
    return per_value(shape, _DatatypeConstraintComponent, rules, _datatype_ok,
                     rules_message(cs.graph, rules, "Value is not Literal with datatype {}", ""))


_KINDS = {BNode: (SH.BlankNode, SH.BlankNodeOrLiteral, SH.BlankNodeOrIRI),
          Literal: (SH.Literal, SH.BlankNodeOrLiteral, SH.IRIOrLiteral),
          URIRef: (SH.IRI, SH.IRIOrLiteral, SH.BlankNodeOrIRI)}


def _node_kind(cs: Compiler, shape: CompiledShape, params: set, stack):
    """§4.1.3 sh:nodeKind: each value node is of the node kind."""
    if SH.nodeKind not in params:
        return None
    rules = list(cs.graph.objects(shape.node, SH.nodeKind))
    if len(rules) != 1:
        raise ShapeError(shape.node, "more than one sh:nodeKind")

    def ok(_idx, v, rule):
        for kind, allowed in _KINDS.items():
            if isinstance(v, kind):
                return rule in allowed
        return False
    return per_value(shape, _NodeKindConstraintComponent, rules, ok,
                     rules_message(cs.graph, rules, "Value is not of Node Kind {}", ""))


COMPILERS = (_class, _datatype, _node_kind)
