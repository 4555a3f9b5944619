"""Validate: every shape over the enriched request graph, in one run, into one `Report`.

Two engines give the same `Report`: the compiled fast path (`reasoner.fastpath`, the default) and
pySHACL (`ShapesRunner`, the reference). pySHACL is imported only when it is used, so a process that
never asks for it does not pay for its import. `Report.graph` (the sh:ValidationReport) may be built
lazily: the decision needs only `by_shape`, RDF output needs the graph.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

from rdflib import RDF, Graph, URIRef
from rdflib.collection import Collection
from rdflib.namespace import SH

from .kb import KnowledgeBase

_LOG = logging.getLogger("reasoner.validate")
_OPTIONS = {"inference": "none", "advanced": False, "allow_warnings": True, "allow_infos": True,
            "inplace": True, "logger": _LOG}


@dataclass
class ShapeResults:
    """Results of one top-level shape: the paths named (for what to ask) and whether any had none."""

    paths: set[tuple[URIRef, ...]] = field(default_factory=set)
    pathless: bool = False


class Report:
    """One validation run: conformance, results grouped by top-level shape, the report graph.

    `graph` accepts a Graph or a zero-argument function that builds it on first access.
    """

    __slots__ = ("_graph", "conforms", "by_shape")

    def __init__(self, graph: Graph | Callable[[], Graph], conforms: bool,
                 by_shape: dict[URIRef, ShapeResults]) -> None:
        self._graph = graph
        self.conforms = conforms
        self.by_shape = by_shape

    @property
    def graph(self) -> Graph:
        if not isinstance(self._graph, Graph):
            self._graph = self._graph()
        return self._graph

    def violated(self, shape: URIRef | None) -> bool:
        return shape is not None and shape in self.by_shape


class ShapesRunner:
    """pySHACL with the harvested shapes; `run` validates one request graph against all of them."""

    def __init__(self, kb: KnowledgeBase) -> None:
        from pyshacl.shapes_graph import ShapesGraph

        self.kb = kb
        self._shapes = ShapesGraph(kb.shapes, False, _LOG)
        _ = self._shapes.shapes  # harvest now, once
        self._empty = Graph()

    def run(self, data: Graph) -> Report:
        from pyshacl import Validator
        from pyshacl.graph_abstraction import DataGraph

        validator = Validator(DataGraph.from_rdflib(_context_aware(data)), shacl_graph=self._empty,
                              options=dict(_OPTIONS))
        validator.shacl_graph = self._shapes
        conforms, report, _text = validator.run()
        return Report(report, conforms, self._collect(report))

    def _collect(self, report: Graph) -> dict[URIRef, ShapeResults]:
        out: dict[URIRef, ShapeResults] = {}
        for result in report.objects(None, SH.result):
            source = report.value(result, SH.sourceShape)
            top = self.kb.shape_owner.get(str(source))
            if top is None:
                continue
            entry = out.setdefault(top, ShapeResults())
            path = report.value(result, SH.resultPath)
            if path is None:
                entry.pathless = True
            elif isinstance(path, URIRef):
                entry.paths.add((path,))
            elif (path, RDF.first, None) in report:
                entry.paths.add(tuple(Collection(report, path)))
            else:
                entry.pathless = True
        return out


def _context_aware(data: Graph) -> Graph:
    """pySHACL wraps the data graph in a Dataset, which needs a context-aware store: copy it if not."""
    if data.store.context_aware:
        return data
    copy = Graph()
    copy.namespace_manager = data.namespace_manager
    for triple in data:
        copy.add(triple)
    return copy


def reference_validate(data: Graph, kb: KnowledgeBase) -> tuple[bool, Graph]:
    """Plain `pyshacl.validate` over the same graphs: the reference the cached runner must match."""
    from pyshacl import validate

    conforms, report, _ = validate(_context_aware(data), shacl_graph=kb.shapes, inference="none",
                                   allow_warnings=True, allow_infos=True)
    return conforms, report
