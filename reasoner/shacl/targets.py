"""Targets (SHACL 1.0 §2.1.3, "Targets", and §2.1.3.1 implicit class targets): which shapes run on
their own, and the focus nodes each one selects in a data graph."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from rdflib import OWL, RDF, RDFS, Graph
from rdflib.namespace import SH
from rdflib.term import Node

from reasoner.shacl.index import Index

__all__ = ["TARGETS", "compile_targets", "targeted"]

TARGETS = (SH.targetClass, SH.targetNode, SH.targetSubjectsOf, SH.targetObjectsOf)


def _classes(g: Graph) -> set[Node]:
    """What a shape must be an instance of to be a class (§2.1.3.1): rdfs:Class and its subclasses
    in the shapes graph, and owl:Class, which pySHACL adds as one (its "system triples")."""
    return {RDFS.Class, OWL.Class, *g.subjects(RDFS.subClassOf, RDFS.Class)}


def targeted(g: Graph) -> list[Node]:
    """Shapes that pySHACL validates on their own: those with a target or that are classes."""
    nodes: dict[Node, None] = {}
    for p in TARGETS:
        for s in g.subjects(p, None):
            nodes[s] = None
    classes = _classes(g)
    for shape_type in (SH.NodeShape, SH.PropertyShape):
        for s in g.subjects(RDF.type, shape_type):
            if set(g.objects(s, RDF.type)) & classes:
                nodes[s] = None
    return sorted(nodes, key=str)


def compile_targets(g: Graph, node: Node) -> Callable[[Index], Iterable[Node]]:
    nodes = list(g.objects(node, SH.targetNode))
    classes = set(g.objects(node, SH.targetClass))
    if set(g.objects(node, RDF.type)) & _classes(g):
        classes.add(node)
    subjects_of = list(g.objects(node, SH.targetSubjectsOf))
    objects_of = list(g.objects(node, SH.targetObjectsOf))

    single = len(classes) == 1 and not (nodes or subjects_of or objects_of)
    if single:
        (only_class,) = classes

        def instances(idx: Index) -> Iterable[Node]:
            """The common case, sh:targetClass alone: its instances, unless the data states subclasses."""
            if idx.subclassing:
                return targets(idx)
            return idx.typed.get(only_class, ())
        instances.target_class = only_class  # read by the code generator (reasoner.shacl.codegen)

    def targets(idx: Index) -> Iterable[Node]:
        found: set[Node] = set(nodes)
        for tc in classes:
            found.update(idx.typed.get(tc, ()))
            if idx.subclassing:  # instances of tc's subclasses stated in the data graph
                todo, seen = [tc], {tc}
                while todo:
                    for sub in idx.subjects(RDFS.subClassOf, todo.pop()):
                        if sub not in seen:
                            seen.add(sub)
                            todo.append(sub)
                            found.update(idx.typed.get(sub, ()))
        for p in subjects_of:
            found.update(s for s, by_p in idx.out.items() if p in by_p)
        for p in objects_of:
            found.update(o for by_p in idx.out.values() for o in by_p.get(p, ()))
        return found
    return instances if single else targets
