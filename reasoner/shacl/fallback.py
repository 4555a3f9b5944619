"""pySHACL for the top-level shapes the compiler does not cover: one engine, two back ends, one report.

`compile_shapes` compiles every top-level shape it can; a shape that uses SHACL the components do not
cover (SHACL-SPARQL, sh:pattern, sh:equals, ...; `UnsupportedShape`) is validated here by pySHACL,
over the same shapes graph (so nested references resolve) and the same data graph, for those shapes
only. Their results join the compiled ones in the same `Report`: grouped by criterion for the
decision, and written into the same sh:ValidationReport (`reasoner.shacl.report_graph`).

At load time pySHACL builds every constraint of these shapes once, so an ill-formed one fails at load
(`ShapeError`) instead of in a request: pySHACL itself would build them per validation, raising then,
or, for a constraint it cannot place, log a warning and ignore it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from rdflib import RDF, Graph, URIRef
from rdflib.collection import Collection
from rdflib.namespace import SH
from rdflib.term import Node

from reasoner.shacl.report import ShapeResults
from reasoner.shacl.shape import ShapeError

__all__ = ["ForeignResult", "ReferenceShapes", "context_aware"]

_LOG = logging.getLogger("reasoner.shacl")

# One pySHACL result: (text, result node, triples); an object (graph, node) is a node to copy from
# the shapes graph or the data graph into the report.
ForeignResult = tuple


class ReferenceShapes:
    """pySHACL, harvested once, validating only `nodes` (top-level shapes of `shapes`)."""

    def __init__(self, shapes: Graph, nodes: Iterable[Node]) -> None:
        from pyshacl.shapes_graph import ShapesGraph

        self.graph = Graph()  # pySHACL adds its system triples to the graph it is given: a copy
        self.graph.namespace_manager = shapes.namespace_manager
        for triple in shapes:
            self.graph.add(triple)
        self._sg = ShapesGraph(self.graph, False, _LOG)
        _ = self._sg.shapes  # harvest now, once
        self.nodes = tuple(nodes)
        self._shapes = [self._sg.lookup_shape_from_node(n) for n in self.nodes]
        self._check_constraints()

    def _check_constraints(self) -> None:
        """Build every constraint of every shape the way `Shape.validate` will (refusing at load)."""
        from pyshacl.constraints import ALL_CONSTRAINT_PARAMETERS, CONSTRAINT_PARAMETERS_MAP
        from pyshacl.errors import ConstraintLoadError, ConstraintLoadWarning

        for shape in self._sg.shapes:
            built = set()
            try:
                for p, _o in self._sg.predicate_objects(shape.node):
                    component = CONSTRAINT_PARAMETERS_MAP.get(p) if p in ALL_CONSTRAINT_PARAMETERS else None
                    if component is not None and component not in built:
                        built.add(component)
                        component(shape)
                for custom in shape.find_custom_constraints():
                    custom.make_validator_for_shape(shape)
            except ConstraintLoadWarning as exc:
                # pySHACL's one warning: sh:qualified* on a node shape. Without sh:qualifiedValueShape
                # the component does not apply (SHACL 1.0 §4.7.3; W3C core/node/qualified-001).
                if (shape.node, SH.qualifiedValueShape, None) in self.graph:
                    raise ShapeError(shape.node, f"pySHACL would ignore it: {_text(exc)}") from None
            except ConstraintLoadError as exc:
                raise ShapeError(shape.node, f"pySHACL cannot run it: {_text(exc)}") from None

    def run(self, data: Graph) -> list[ForeignResult]:
        """Every result of the shapes, on one data graph (pySHACL's raw results, in its order)."""
        from pyshacl.graph_abstraction import DataGraph
        from pyshacl.pytypes import SHACLExecutor

        target = DataGraph.from_rdflib(context_aware(data))
        executor = SHACLExecutor()  # no inference, no advanced features, spec conformance
        out: list[ForeignResult] = []
        for shape in self._shapes:
            _conforms, reports = shape.validate(executor, target)
            out.extend(reports)
        return out

    def is_shapes_graph(self, source: object) -> bool:
        return source is self.graph

    def group(self, results: list[ForeignResult], owner: dict[str, URIRef],
              by_shape: dict[URIRef, ShapeResults]) -> None:
        """Add the results to `by_shape` (top-level shape -> paths), as the compiled ones are."""
        for _text, node, triples in results:
            source = path = None
            for s, p, o in triples:
                if s is not node:
                    continue
                if p == SH.sourceShape:
                    source = o[1]
                elif p == SH.resultPath:
                    path = o[1]
            top = owner.get(str(source))
            if top is None:
                continue
            entry = by_shape.get(top)
            if entry is None:
                entry = by_shape[top] = ShapeResults()
            if isinstance(path, URIRef):
                entry.paths.add((path,))
            elif path is not None and (path, RDF.first, None) in self.graph:
                entry.paths.add(tuple(Collection(self.graph, path)))
            else:
                entry.pathless = True


def _text(exc: Exception) -> str:
    return str(exc.args[0]) if exc.args else repr(exc)


def context_aware(data: Graph) -> Graph:
    """pySHACL wraps the data graph in a Dataset, which needs a context-aware store: copy it if not
    (blank nodes keep their ids, so the report names the same nodes)."""
    if data.store.context_aware:
        return data
    copy = Graph()
    copy.namespace_manager = data.namespace_manager
    for triple in data:
        copy.add(triple)
    return copy
