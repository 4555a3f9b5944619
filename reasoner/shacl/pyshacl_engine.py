"""pySHACL as the engine's reference: the same shapes, the same `Report`, pySHACL alone.

pySHACL is imported only when it is used, so a process that never asks for it does not pay for its
import. tests/test_fastpath_differential.py holds the compiled engine to this one. Conformance is the
specification's (no `allow_warnings` / `allow_infos`: a Warning is a result); decisions read the
results by shape, which those options never changed.
"""

from __future__ import annotations

import logging

from rdflib import RDF, Graph, URIRef
from rdflib.collection import Collection
from rdflib.namespace import SH

from reasoner.shacl.fallback import context_aware
from reasoner.shacl.report import Report, ShapeResults

__all__ = ["ShapesRunner", "reference_validate"]

_LOG = logging.getLogger("reasoner.shacl")
_OPTIONS = {"inference": "none", "advanced": False, "inplace": True, "logger": _LOG}


class ShapesRunner:
    """pySHACL with the harvested shapes; `run` validates one data graph against all of them.

    `owner` maps every shape node id to the top-level shape it belongs to (results are grouped by it).
    """

    def __init__(self, shapes: Graph, owner: dict[str, URIRef]) -> None:
        from pyshacl.shapes_graph import ShapesGraph

        self.owner = owner
        self._shapes = ShapesGraph(shapes, False, _LOG)
        _ = self._shapes.shapes  # harvest now, once
        self._empty = Graph()

    def run(self, data: Graph) -> Report:
        from pyshacl import Validator
        from pyshacl.graph_abstraction import DataGraph

        validator = Validator(DataGraph.from_rdflib(context_aware(data)), shacl_graph=self._empty,
                              options=dict(_OPTIONS))
        validator.shacl_graph = self._shapes
        conforms, report, _text = validator.run()
        return Report(report, conforms, self._collect(report))

    def _collect(self, report: Graph) -> dict[URIRef, ShapeResults]:
        out: dict[URIRef, ShapeResults] = {}
        for result in report.objects(None, SH.result):
            source = report.value(result, SH.sourceShape)
            top = self.owner.get(str(source))
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


def reference_validate(data: Graph, shapes: Graph) -> tuple[bool, Graph]:
    """Plain `pyshacl.validate` over the same graphs: the reference the cached runner must match."""
    from pyshacl import validate

    conforms, report, _ = validate(context_aware(data), shacl_graph=shapes, inference="none")
    return conforms, report
