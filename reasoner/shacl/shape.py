"""A compiled shape: its value nodes, its constraints as (holds, report) closures, its metadata.

What every constraint-component compiler (`reasoner.shacl.components`) produces and what the
compiler (`reasoner.shacl.compiler`) assembles. A result is a plain tuple, turned into an
sh:ValidationResult only when a report graph is asked for (`reasoner.shacl.report_graph`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from rdflib import Graph, Literal, URIRef
from rdflib.namespace import SH
from rdflib.term import Node

from reasoner.shacl.index import Index

__all__ = ["CompiledShape", "Compiler", "Result", "ShapeError", "UnsupportedShape", "Values", "itself",
           "remembered"]

Values = set  # value nodes of one focus node
# A validation result: (focus node, value node or None, source shape, constraint component, message maker
# [, details])
Result = tuple


class UnsupportedShape(ValueError):
    """A shape uses SHACL the compiler does not cover. Not an error of the shapes graph: the engine
    runs that top-level shape through pySHACL instead (`reasoner.shacl.fallback`)."""

    def __init__(self, shape: Node, feature: str) -> None:
        super().__init__(f"shape {shape}: {feature} is not compiled (runs through pySHACL)")
        self.shape = shape
        self.feature = feature


class ShapeError(ValueError):
    """A shape that no back end can run as the SHACL specification says: ill-formed (SHACL-SHACL), a
    SPARQL query the specification forbids, or a feature outside SHACL Core and SHACL-SPARQL that
    pySHACL would silently ignore. Raised at load time, naming the shape and the finding."""

    def __init__(self, shape: Node, finding: str) -> None:
        super().__init__(f"shape {shape}: {finding}")
        self.shape = shape
        self.finding = finding


class CompiledShape:
    """One shape: its value nodes, its constraints as (holds, report) closures, its metadata."""

    __slots__ = ("node", "path", "values", "severity", "messages", "deactivated", "constraints",
                 "owner", "path_key", "pathless", "targets", "_at")

    def __init__(self, node: Node) -> None:
        self.node = node
        self.path: Node | None = None
        self.values: Callable[[Index, Node], Values] = itself
        self.severity: Node = SH.Violation
        self.messages: list[Literal] = []
        self.deactivated = False
        self.constraints: list[tuple[Callable, Callable]] = []
        self.owner: URIRef | None = None
        self.path_key: tuple | None = None
        self.pathless = True
        self.targets: Callable[[Index], Iterable[Node]] | None = None
        self._at: dict[Node, CompiledShape] | None = None

    def at(self, predicate: Node) -> CompiledShape:
        """This shape as the source of a result whose sh:resultPath is `predicate`, not the shape's own
        path: sh:closed reports each offending triple with its predicate (SHACL 1.0 §4.8.1). The same
        node, severity, messages and owner; one object per predicate, so results stay comparable by
        identity and the reports cache what depends on (shape, component) once each."""
        views = self._at
        if views is None:
            views = self._at = {}
        view = views.get(predicate)
        if view is None:
            view = views[predicate] = CompiledShape(self.node)
            view.severity, view.messages, view.owner = self.severity, self.messages, self.owner
            view.deactivated = self.deactivated
            view.path, view.path_key, view.pathless = predicate, (predicate,), False
        return view

    def report(self, idx: Index, focus: Node, out: list[Result]) -> None:
        """pySHACL's `Shape.validate(focus=...)`: every result, appended to `out`."""
        if self.deactivated:
            return
        values = self.values(idx, focus)
        for _holds, report in self.constraints:
            report(idx, focus, values, out)

    def conforms(self, idx: Index, focus: Node) -> bool:
        """Conformance as a nested shape (sh:or, sh:node, ...): no validation result, whatever its
        severity (SHACL 1.0 §3.4 "conforms"); short-circuits, builds no results."""
        if self.deactivated:
            return True
        values = self.values(idx, focus)
        for holds, _report in self.constraints:
            if not holds(idx, focus, values):
                return False
        return True


class Compiler(Protocol):
    """What a constraint-component compiler may ask of the compiler: the shapes graph, nested shapes."""

    graph: Graph

    def shape(self, node: Node, stack: tuple[Node, ...]) -> CompiledShape: ...

    def children(self, shape: CompiledShape, predicate: URIRef,
                 stack: tuple[Node, ...]) -> list[CompiledShape]: ...

    def lists(self, shape: CompiledShape, predicate: URIRef,
              stack: tuple[Node, ...]) -> list[tuple[Node, list[CompiledShape]]]: ...


def remembered(number: int, values: Callable[[Index, Node], Values]) -> Callable[[Index, Node], Values]:
    """A sequence path whose value nodes are kept for the run: shapes and their open twins share
    paths, so most are asked for again (the sets are never changed by the constraints)."""
    def remembered_values(idx: Index, focus: Node) -> Values:
        key = (number, focus)
        found = idx.paths.get(key)
        if found is None:
            found = idx.paths[key] = values(idx, focus)
        return found
    return remembered_values


def itself(_idx: Index, focus: Node) -> Values:
    return {focus}
