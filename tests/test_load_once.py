"""Load once, evaluate many: per request no Turtle is parsed and no shape is harvested again."""

from __future__ import annotations

import json
from pathlib import Path

import rdflib

import reasoner

EXAMPLE = Path(__file__).parents[1] / "examples" / "approve-initial-ph-negative-consolidation-commercial.json"


def test_evaluate_parses_no_turtle_after_the_first_load(monkeypatch):
    request = json.loads(EXAMPLE.read_text())
    engine = reasoner.default_reasoner()
    engine.evaluate(request)  # warm

    formats: list[str] = []
    real_parse = rdflib.Graph.parse

    def counting_parse(self, *args, **kwargs):
        formats.append(str(kwargs.get("format")))
        return real_parse(self, *args, **kwargs)

    monkeypatch.setattr(rdflib.Graph, "parse", counting_parse)
    for _ in range(3):
        assert reasoner.evaluate(request)["decision"] == "approve"
    assert reasoner.default_reasoner() is engine
    assert "turtle" not in formats, formats
