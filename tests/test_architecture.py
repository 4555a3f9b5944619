"""The package tree is the architecture (docs/architecture.md), and this test keeps it so.

The import graph of `reasoner` is read with `ast` (nothing is imported; imports under
`if TYPE_CHECKING:` and inside functions count too):

- every module lives in a subpackage (only the public API `reasoner/__init__.py` and the
  `reasoner/spark.py` alias of earlier releases stand at the top);
- a package imports only the packages below it (LAYERS);
- no two modules import each other, directly or around a longer cycle;
- nothing inside the package imports the public API `reasoner` itself (it is for callers).
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "reasoner"

# package -> the packages it may import (besides itself). The order, bottom up:
# shacl <- policy <- dosing <- flow <- planning, sparql, fhir <- pipelines, authoring, services <- cli
LAYERS: dict[str, set[str]] = {
    "web": set(),  # HTTP only: the layer the SPARQL endpoint and the FHIR service share
    "shacl": set(),
    "policy": {"shacl"},
    "dosing": {"policy", "shacl"},
    "flow": {"dosing", "policy", "shacl"},
    "planning": {"flow", "dosing", "policy", "shacl"},
    "sparql": {"web", "flow", "policy", "shacl"},
    "fhir": {"flow", "dosing", "policy", "shacl"},  # its HTTP service is the services package
    "pipelines": {"fhir", "sparql", "flow", "dosing", "policy", "shacl"},
    "authoring": {"sparql", "flow", "dosing", "policy", "shacl"},
    # the Da Vinci services (PAS, DTR, CRD): FHIR in and out, claims in the store, on the HTTP layer
    "services": {"fhir", "sparql", "web", "flow", "dosing", "policy", "shacl"},
    "cli": {"services", "authoring", "pipelines", "fhir", "sparql", "planning", "flow", "dosing", "policy", "shacl",
            "web"},
}
TOP_LEVEL = {"reasoner", "reasoner.spark"}
# The public API re-exports from these (lazily); the alias module re-exports the Spark pipeline.
FACADE = {"reasoner": {"flow", "planning", "fhir"}, "reasoner.spark": {"pipelines"}}
CORE = {"shacl", "policy", "dosing", "flow"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _targets(module: str, node: ast.AST) -> list[str]:
    """The reasoner modules an import statement names (the deepest existing module of each name)."""
    is_package = MODULES[module].name == "__init__.py"
    package = module if is_package else module.rsplit(".", 1)[0]
    names: list[str] = []
    if isinstance(node, ast.ImportFrom):
        if node.level:
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module or ""
        names = [f"{target}.{a.name}" for a in node.names] or [target]
        names = [n if n in MODULES else target for n in names]
    elif isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    out = []
    for name in names:
        while name and name not in MODULES:
            name = name.rsplit(".", 1)[0] if "." in name else ""
        if name:
            out.append(name)
    return out


def _imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, however deeply nested (in a function, an `if TYPE_CHECKING:`, a `try:`):
    an import is a statement, so only statement lists are walked, not every expression (ast.walk
    visited ten times the nodes: most of this module's cost, in every pytest-xdist worker)."""
    todo: list[ast.AST] = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
            continue
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            todo.extend(child for child in getattr(node, name, ()) if isinstance(child, ast.AST))


@functools.cache
def _edges() -> dict[str, set[str]]:
    """module -> the reasoner modules it imports; parsed when a test first asks (about 1 s: only the
    worker that runs this file's tests, conftest's SHARE_A_WORKER, pays for it)."""
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for module, path in MODULES.items():
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            for target in _targets(module, node):
                if target != module and not module.startswith(target + "."):
                    edges[module].add(target)
    return edges



def _package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and module not in TOP_LEVEL else None


def test_every_module_lives_in_a_subpackage():
    stray = sorted(m for m in MODULES if _package(m) is None and m not in TOP_LEVEL)
    assert not stray, f"modules outside the subpackages: {stray}"
    unknown = sorted({_package(m) for m in MODULES} - set(LAYERS) - {None})
    assert not unknown, f"subpackages the layering does not place: {unknown} (add them to LAYERS and docs/architecture.md)"


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_a_package_imports_only_packages_below_it(package):
    wrong = sorted((m, t) for m, targets in _edges().items() if _package(m) == package
                   for t in targets if _package(t) not in {package, *LAYERS[package]})
    assert not wrong, f"{package} imports above or beside itself: {wrong}"


def test_the_public_api_imports_only_what_it_re_exports():
    for module, allowed in FACADE.items():
        wrong = sorted(t for t in _edges()[module] if _package(t) not in allowed)
        assert not wrong, f"{module} imports {wrong}"


def test_nothing_inside_imports_the_public_api():
    wrong = sorted(m for m, targets in _edges().items() if "reasoner" in targets and m not in TOP_LEVEL)
    assert not wrong, f"modules importing the public API `reasoner` instead of the layer below: {wrong}"


def test_the_core_knows_nothing_of_its_audiences():
    audiences = set(LAYERS) - CORE
    wrong = sorted((m, t) for m, targets in _edges().items() if _package(m) in CORE
                   for t in targets if _package(t) in audiences)
    assert not wrong


def test_no_import_cycles():
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in _edges()[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(MODULES):
        if v not in index:
            visit(v)
    assert not cycles, f"modules that import each other: {cycles}"


def test_the_checker_sees_imports():
    """The graph is not empty by mistake: known edges are found."""
    assert "reasoner.policy.kb" in _edges()["reasoner.flow.enrich"]
    assert "reasoner.shacl.report" in _edges()["reasoner.shacl.compiler"]
    assert "reasoner.flow.engine" in _edges()["reasoner"]  # a TYPE_CHECKING import counts


def test_spark_users_keep_their_import():
    import reasoner.spark
    from reasoner.pipelines import spark

    assert reasoner.spark.determinations is spark.determinations
