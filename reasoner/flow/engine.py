"""The flow of one request: check -> lift -> enrich -> validate -> explain -> decide.

`Reasoner` holds the knowledge base and the compiled shapes (loaded once); `evaluate(request)` is the
one entry point the command line, batch mode, stores and services call. The knowledge base and shapes
are parsed once per process (`default_reasoner()`).
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from rdflib import Graph, URIRef

from reasoner.flow.check import InvalidRequest, check_request
from reasoner.flow.decide import decide
from reasoner.flow.enrich import enrich
from reasoner.flow.lift import lift
from reasoner.flow.validate import ENGINES, Engine, shapes_runner
from reasoner.policy.kb import TYPE, KnowledgeBase, load
from reasoner.shacl.report import Report

if TYPE_CHECKING:
    from reasoner.policy.versions import PolicyVersion

__all__ = ["ENGINES", "Evaluation", "InvalidRequest", "Reasoner", "default_reasoner", "evaluate"]


class Evaluation:
    """A determination with the graphs it was made from (for RDF output and stores).

    `report_graph` (the sh:ValidationReport) is built on first access when the engine made it lazy:
    most callers only need the determination, and building the report costs more than deciding.
    """

    __slots__ = ("determination", "request_iri", "request_graph", "_report_graph", "policy_version",
                 "started_at", "ended_at", "report")

    def __init__(self, determination: dict[str, Any], request_iri: URIRef, request_graph: Graph,
                 report_graph: Graph | Callable[[], Graph], policy_version: URIRef, started_at: datetime,
                 ended_at: datetime, report: Report | None = None) -> None:
        self.determination = determination
        self.request_iri = request_iri
        self.request_graph = request_graph
        self._report_graph = report_graph
        self.policy_version = policy_version
        self.started_at = started_at
        self.ended_at = ended_at
        self.report = report  # the run itself: RDF output writes its report without building the graph

    @property
    def report_graph(self) -> Graph:
        if not isinstance(self._report_graph, Graph):
            self._report_graph = self._report_graph()
        return self._report_graph

    @report_graph.setter
    def report_graph(self, graph: Graph) -> None:
        self._report_graph = graph
        self.report = None  # the graph given is the report now

    def __repr__(self) -> str:
        return f"Evaluation({self.request_iri}, decision={self.determination.get('decision')!r})"


class Reasoner:
    """The knowledge base and the compiled shapes, ready to evaluate any number of requests.

    `engine="fast"` (default) runs the shapes compiled by `reasoner.shacl.compiler`; `engine="pyshacl"`
    runs pySHACL itself, the reference the fast path is tested against.
    """

    def __init__(self, extra_kb: Iterable[Path | str] = (), engine: Engine = "fast",
                 version: str | Path | PolicyVersion | None = None, kb: KnowledgeBase | None = None) -> None:
        """`kb`: an already loaded knowledge base to share between engines (no extra_kb/version then)."""
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
        if kb is not None:
            if tuple(extra_kb) or version is not None:
                raise ValueError("give either a loaded kb or extra_kb/version, not both")
            self.kb = kb
        elif version is None:
            self.kb: KnowledgeBase = load([Path(p) for p in extra_kb])
        else:  # a policy version's graphs (versions/<id>/manifest.ttl), e.g. a draft under review
            from reasoner.policy.versions import load_kb

            self.kb = load_kb(version, [Path(p) for p in extra_kb])
        self.engine = engine
        self._runner = shapes_runner(self.kb, engine)

    def evaluate(self, request: Any) -> dict[str, Any]:
        return self.evaluate_full(request).determination

    def evaluate_full(self, request: Any, *, checked: bool = False) -> Evaluation:
        """`checked=True`: `request` is what `check_request` returned (batch parses and checks once)."""
        started = datetime.now(timezone.utc)
        if not checked:
            request = check_request(request)
        policy = self.kb.policies.get(request["policy"])
        if policy is None:
            raise InvalidRequest("policy", "not a policy this knowledge base encodes")
        graph, node = lift(request)
        derived = enrich(graph, node, request, self.kb, policy)
        report: Report = self._runner.run(graph)
        determination = decide(request, set(graph.objects(node, TYPE)), self.kb, policy, report, derived)
        return Evaluation(determination, node, graph, lambda: report.graph, policy.version, started,
                          datetime.now(timezone.utc), report)

    def shape_report(self, request_graph: Graph) -> Report:
        """Per-shape results for an enriched request graph: what the explainer reads (authoring review)."""
        return self._runner.run(request_graph)

    def criterion_info(self, number: str) -> dict[str, Any]:
        """A criterion as a reviewer reads it: number, message, the policy's words, shape."""
        c = self.kb.by_number(number)
        shape = self.kb.shape_info.get(c.shape) if c.shape is not None else None
        return {
            "criterion": c.number,
            "message": shape.message if shape else "",
            "policy_text": (shape.sentence if shape and shape.sentence else c.sentence),
            "shape": None if c.shape is None else str(c.shape),
            "combination": c.combination,
        }


_DEFAULT: Reasoner | None = None
_LOCK = threading.Lock()


def default_reasoner() -> Reasoner:
    """The process-wide reasoner over the shipped knowledge base, built on first use."""
    global _DEFAULT
    with _LOCK:
        if _DEFAULT is None:
            _DEFAULT = Reasoner()
        return _DEFAULT


def evaluate(request: dict[str, Any]) -> dict[str, Any]:
    """Contract v1: a request in, a determination out (raises InvalidRequest naming the field)."""
    return default_reasoner().evaluate(request)
