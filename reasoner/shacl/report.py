"""One validation run's outcome, the same whichever engine made it: conformance, results grouped by
top-level shape, and the sh:ValidationReport graph (possibly built lazily: the decision needs only
`by_shape`, RDF output needs the graph)."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

from rdflib import Graph, URIRef

__all__ = ["Report", "RunParts", "ShapeResults"]


class RunParts(NamedTuple):
    """What a compiled run's report is made of: `report_graph` builds it in rdflib, `report_quads`
    writes it as N-Quads text (the same graph) without building it."""

    shapes: Graph
    data: Graph
    conforms: bool
    results: list
    foreign: list
    reference: Any  # reasoner.shacl.fallback.ReferenceShapes, or None
    clones: Any  # reasoner.shacl.report_quads.Clones of the shapes graph


class ShapeResults:
    """Results of one top-level shape: the paths named (for what to ask) and whether any had none.

    A plain class with slots (made for every failing shape of every request: a dataclass's
    default_factory costs more than the grouping)."""

    __slots__ = ("paths", "pathless")

    def __init__(self, paths: set[tuple[URIRef, ...]] | None = None, pathless: bool = False) -> None:
        self.paths: set[tuple[URIRef, ...]] = set() if paths is None else paths
        self.pathless = pathless

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ShapeResults):
            return NotImplemented
        return self.paths == other.paths and self.pathless == other.pathless

    __hash__ = None  # type: ignore[assignment] - mutable, as the dataclass was

    def __repr__(self) -> str:
        return f"ShapeResults(paths={self.paths!r}, pathless={self.pathless!r})"


class Report:
    """One validation run: conformance, results grouped by top-level shape, the report graph.

    `graph` accepts a Graph or a zero-argument function that builds it on first access; `parts`
    (compiled runs only) is what it is built from, for writing it as N-Quads directly.
    """

    __slots__ = ("_graph", "conforms", "by_shape", "parts")

    def __init__(self, graph: Graph | Callable[[], Graph], conforms: bool,
                 by_shape: dict[URIRef, ShapeResults], parts: RunParts | None = None) -> None:
        self._graph = graph
        self.conforms = conforms
        self.by_shape = by_shape
        self.parts = parts

    @property
    def graph(self) -> Graph:
        if not isinstance(self._graph, Graph):
            self._graph = self._graph()
        return self._graph

    def violated(self, shape: URIRef | None) -> bool:
        return shape is not None and shape in self.by_shape
