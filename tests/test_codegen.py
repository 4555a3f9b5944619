"""The generated shapes (reasoner/shacl/codegen.py) against the closures they are written from.

`CompiledShapes.run` runs the shapes as generated Python source; `run(interpreted=True)` walks the
compiled closures. Both must give the very same results, tuple for tuple (the same focus, value,
source shape, component, message maker and details; shape by shape in the same order, the value
nodes of one path in the order of the data graph's index rather than of a set's hash, which was
never an order), on every case of tests/cases,
on generated requests, and on every test of the W3C SHACL suite that compiles (data graphs with
rdfs:subClassOf, several focus nodes, every target and path kind). tests/test_fastpath_differential.py
holds the generated run to pySHACL besides.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from requestgen import requests
from w3c_shacl import cases as w3c_cases
from w3c_shacl import parse

HERE = Path(__file__).parent
CASES = sorted((HERE / "cases").glob("*.json"))
W3C = [c for c in w3c_cases() if not c.expects_failure]


def _same(compiled, graph) -> None:
    generated = compiled.run(graph)
    interpreted = compiled.run(graph, interpreted=True)
    assert _counted(generated.parts.results) == _counted(interpreted.parts.results)
    assert generated.conforms == interpreted.conforms
    assert generated.by_shape == interpreted.by_shape


def _counted(results) -> Counter:
    """Results as a multiset (a result's details too: lists are not hashable)."""
    return Counter(tuple(frozenset(_counted(x).items()) if isinstance(x, list) else x for x in r)
                   for r in results)


def _request_graph(r, request):
    return r.evaluate_full(request).request_graph


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_cases_same_results(reasoner_for, path):
    case = json.loads(path.read_text())
    r = reasoner_for(tuple(case.get("kb", ())))
    _same(r.kb.compiled, _request_graph(r, case["request"]))


def test_generated_requests_same_results(reasoner_for):
    r = reasoner_for()
    for request in requests(600, seed=16):
        _same(r.kb.compiled, _request_graph(r, request))


@pytest.mark.parametrize("case", W3C, ids=lambda c: c.name)
def test_w3c_suite_same_results(case):
    from reasoner.shacl.compiler import ShapeError, compile_shapes

    try:
        compiled = compile_shapes(parse(case.shapes), {})
    except ShapeError:
        pytest.skip("refused at load: nothing runs")
    _same(compiled, parse(case.data))


def test_source_and_constants_rebuild_the_run(reasoner_for):
    """The generated module is text plus the objects it names: compiled again, it runs the same."""
    from reasoner.shacl.codegen import Generated

    r = reasoner_for()
    generated = r.kb.compiled.generated
    assert isinstance(generated.source, str) and "def run(" in generated.source
    again = Generated(generated.source, dict(generated.constants))
    for request in requests(50, seed=3):
        graph = _request_graph(r, request)
        from reasoner.shacl.index import Index

        a, b = [], []
        idx = Index(graph)
        generated.run(idx, idx.out, idx.typed, a)
        idx = Index(graph)
        again.run(idx, idx.out, idx.typed, b)
        assert _counted(a) == _counted(b)


_COUNT_GENERATED_COMPILES = """
import builtins, json, sys
compiled = []
real = builtins.compile
def counting(source, filename, *args, **kwargs):
    if filename in ("<generated shapes>", "<request gate>"):
        compiled.append(filename)
    return real(source, filename, *args, **kwargs)
builtins.compile = counting
import fastjsonschema
for name in ("compile", "compile_to_code"):  # the request gate written by fastjsonschema again
    def writing(*args, _real=getattr(fastjsonschema, name), _name=name, **kwargs):
        compiled.append("fastjsonschema." + _name)
        return _real(*args, **kwargs)
    setattr(fastjsonschema, name, writing)
import reasoner
engine = reasoner.default_reasoner()
det = engine.evaluate(json.load(open(sys.argv[1])))
print(json.dumps({"compiled": sorted(compiled), "decision": det["decision"], "cached": engine.kb.cache_key is not None}))
"""


def test_a_cached_knowledge_base_runs_its_generated_shapes_without_compiling_them(tmp_path):
    """The KB cache keeps the generated module as its code, and the request gate's (flow/check.py):
    the process that writes an entry compiles it once, every later one runs it as read (and decides
    the same). The run's own cache: the first process finds the entries written already, or writes them."""
    import os
    import subprocess
    import sys

    root = HERE.parent
    example = root / "examples" / "approve-initial-ph-negative-consolidation-commercial.json"
    env = {**os.environ, "PYTHONPATH": str(root)}
    env.pop("BLINCYTO_CACHE", None)
    runs = [json.loads(subprocess.run([sys.executable, "-c", _COUNT_GENERATED_COMPILES, str(example)], env=env,
                                      cwd=tmp_path, capture_output=True, text=True, check=True).stdout)
            for _ in range(2)]
    assert set(runs[0]["compiled"]) <= {"<generated shapes>", "<request gate>", "fastjsonschema.compile_to_code"}
    assert runs[0]["decision"] == "approve" and runs[0]["cached"]
    assert runs[1] == {"compiled": [], "decision": "approve", "cached": True}
