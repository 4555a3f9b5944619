"""Validate: every shape over the enriched request graph, in one run, into one `Report`.

Two engines give the same `Report`: the compiled shapes (`reasoner.shacl.compiler`, the default)
and pySHACL (`reasoner.shacl.pyshacl_engine`, the reference). Which one a `Reasoner` runs is chosen
here, once, when it is built.
"""

from __future__ import annotations

from typing import Literal, Protocol

from rdflib import Graph

from reasoner.policy.kb import KnowledgeBase
from reasoner.shacl.report import Report

__all__ = ["ENGINES", "Engine", "Runner", "shapes_runner"]

Engine = Literal["fast", "pyshacl"]
ENGINES: tuple[str, ...] = ("fast", "pyshacl")


class Runner(Protocol):
    def run(self, data: Graph) -> Report: ...


def shapes_runner(kb: KnowledgeBase, engine: Engine = "fast") -> Runner:
    """The knowledge base's shapes, ready to validate request graphs with `engine`."""
    if engine == "fast":
        return kb.compiled  # compiled once, when the knowledge base was loaded (and checked)
    from reasoner.shacl.pyshacl_engine import ShapesRunner

    return ShapesRunner(kb.shapes, kb.shape_owner)
