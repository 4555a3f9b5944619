"""The compiled shapes written out as Python source: straight-line code instead of nested closures.

`compile_shapes` turns every shape into closures (`CompiledShape`: its value nodes, its constraints
as (holds, report) pairs); a run through them costs several Python calls per constraint and per
value node. `generate` writes the same checks as one Python module: per shape a conforms function
`c<n>(idx, out, focus)` and a report function `r<n>(idx, out, focus, res)`, whose paths, counts,
`sh:hasValue`, `sh:in`, `sh:class` and logical members are inlined, and a `run` that visits the
top-level shapes' targets in the order the interpreter does. The results are the interpreter's,
tuple for tuple (the same shapes, components, message makers, values, in the same order), so the
report graph, its N-Quads and the decision cannot tell the two apart; tests/test_codegen.py holds
them to one another and tests/test_fastpath_differential.py holds both to pySHACL.

What the shapes say stays in the shapes: the source is generated from the compiled shapes (which
the shapes graph alone determines) each time the knowledge base is loaded. `Generated.source` is
plain text and `Generated.constants` names every object the text refers to (RDF terms, the compiled
shapes whose results it reports, their message makers, and the closures of the few constraints it
does not write out, such as sh:qualifiedValueShape or a range comparison), so a cache of the source
needs only a way to name those objects again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rdflib import Literal, URIRef
from rdflib.term import Node

from reasoner.shacl.datagraph import TYPE
from reasoner.shacl.shape import CompiledShape

__all__ = ["Generated", "generate", "sequence"]

_EMPTY: dict = {}  # never written to: the value nodes of a focus that has none


def sequence(out: dict, focus: Node, steps: tuple[Node, ...]) -> set[Node]:
    """The value nodes of a sequence of predicates (SHACL 1.0 §2.3.1.1), as `paths.compile_path` gives them."""
    nodes: Any = (focus,)
    for p in steps:
        nxt: set[Node] = set()
        for n in nodes:
            by_p = out.get(n)
            if by_p:
                found = by_p.get(p)
                if found:
                    nxt.update(found)
        if not nxt:
            return nxt
        nodes = nxt
    return nodes


RUNTIME = {"E": _EMPTY, "TYPE_": TYPE, "Literal": Literal, "SEQ": sequence}


class Generated:
    """The generated module: its source, the objects it names, and its `run(idx, out, typed, res)`."""

    __slots__ = ("source", "constants", "run")

    def __init__(self, source: str, constants: dict[str, Any]) -> None:
        self.source = source
        self.constants = constants
        namespace = {**RUNTIME, **constants}
        exec(compile(source, "<generated shapes>", "exec"), namespace)  # noqa: S102 - our own source
        self.run: Callable[..., None] = namespace["run"]


def generate(top: list[CompiledShape], path_numbers: dict[tuple, int]) -> Generated:
    """The source of `top`'s run (the active top-level shapes, in the interpreter's order)."""
    w = _Writer(path_numbers)
    run = ["def run(idx, out, typed, res):", "    sub = idx.subclassing"]
    for shape in top:
        k = w.function(shape)
        cls = getattr(shape.targets, "target_class", None)
        targets = w.const(shape.targets, "T")
        if cls is not None:
            run.append(f"    for focus in (typed.get({w.const(cls)}, E) if not sub else {targets}(idx)):")
        else:
            run.append(f"    for focus in {targets}(idx):")
        run.append(f"        r{k}(idx, out, focus, res)")
    while w.pending:
        w.emit(w.pending.pop(0))
    return Generated("\n".join(w.lines + run) + "\n", w.consts)


class _Writer:
    def __init__(self, path_numbers: dict[tuple, int]) -> None:
        self.path_numbers = path_numbers
        self.consts: dict[str, Any] = {}
        self._names: dict[int, str] = {}
        self._functions: dict[int, int] = {}
        self.pending: list[CompiledShape] = []
        self.lines: list[str] = []

    def const(self, obj: Any, prefix: str = "K") -> str:
        name = self._names.get(id(obj))
        if name is None:
            name = self._names[id(obj)] = f"{prefix}{len(self.consts)}"
            self.consts[name] = obj  # kept: the id stays this object's
        return name

    def function(self, shape: CompiledShape) -> int:
        """The number of `shape`'s c/r functions (written once, when the queue reaches it)."""
        k = self._functions.get(id(shape))
        if k is None:
            k = self._functions[id(shape)] = len(self._functions)
            self.pending.append(shape)
        return k

    # -- one shape ----------------------------------------------------------------------------

    def emit(self, shape: CompiledShape) -> None:
        k = self._functions[id(shape)]
        if shape.deactivated:
            self.lines += [f"def c{k}(idx, out, focus):", "    return True",
                           f"def r{k}(idx, out, focus, res):", "    return None"]
            return
        for mode in ("c", "r"):
            body: list[str] = []
            for holds, report in shape.constraints:
                body += self._constraint(mode, shape, holds, report)
            head = [f"def c{k}(idx, out, focus):" if mode == "c" else f"def r{k}(idx, out, focus, res):"]
            uses_vals = any("vals" in line for line in body)
            values = self._values(shape) if uses_vals else []
            tail = ["return True"] if mode == "c" else ([] if body else ["return None"])
            self.lines += head + ["    " + line for line in values + body + tail]

    def _values(self, shape: CompiledShape) -> list[str]:
        """Lines that set `vals`, the value nodes of `focus` (a set or a read-only dict of them)."""
        path = shape.path
        if path is None:
            return ["vals = {focus}"]
        if isinstance(path, URIRef):
            return ["b = out.get(focus)", f"vals = b.get({self.const(path)}, E) if b else E"]
        number = self.path_numbers.get(shape.path_key) if shape.path_key is not None else None
        if number is not None and shape.values.__name__ == "remembered_values":
            steps = self.const(shape.path_key)
            return ["pc = idx.paths", f"key = ({number}, focus)", "vals = pc.get(key)",
                    "if vals is None:", f"    vals = pc[key] = SEQ(out, focus, {steps})"]
        return [f"vals = {self.const(shape.values, 'V')}(idx, focus)"]

    def _loop(self, shape: CompiledShape, body: list[str]) -> list[str]:
        """`body` for each value node `v` (the focus itself when the shape has no path)."""
        if shape.path is None:
            return ["v = focus", *body]
        return ["for v in vals:", *("    " + line for line in body)]

    def _constraint(self, mode: str, shape: CompiledShape, holds: Callable, report: Callable) -> list[str]:
        spec = getattr(holds, "spec", None)
        kind = spec[0] if spec else None
        s = self.const(shape, "S")
        fail = "return False"
        if kind == "count":
            _, op, n, component, message = spec
            test = f"len(vals) < {n}" if op == ">=" else f"len(vals) > {n}"
            act = fail if mode == "c" else f"res.append((focus, None, {s}, {self.const(component)}, {self.const(message, 'M')}))"
            return [f"if {test}:", f"    {act}"]
        if kind == "has_value":
            _, wanted, component, message = spec
            out = []
            for hv in wanted:
                act = fail if mode == "c" else f"res.append((focus, None, {s}, {self.const(component)}, {self.const(message, 'M')}))"
                out += [f"if {self.const(hv)} not in vals:", f"    {act}"]
            return out
        if kind == "per_value":
            _, component, rules, ok, message, inline, param = spec
            out = []
            for rule in rules:
                test = self._ok(inline, ok, rule, param)
                act = fail if mode == "c" else f"res.append((focus, v, {s}, {self.const(component)}, {self.const(message, 'M')}))"
                out += self._loop(shape, [f"if not ({test}):", f"    {act}"])
            return out
        if kind == "node":
            _, targets, component, message = spec
            out = []
            for t in targets:
                f = self.function(t)
                if mode == "c":
                    out += self._loop(shape, [f"if not c{f}(idx, out, v):", f"    {fail}"])
                else:
                    out += self._loop(shape, ["d = []", f"r{f}(idx, out, v, d)", "if d:",
                                              f"    res.append((focus, v, {s}, {self.const(component)}, "
                                              f"{self.const(message, 'M')}, d))"])
            return out
        if kind == "property":
            out = []
            for child in spec[1]:
                f = self.function(child)
                if mode == "c":
                    out += self._loop(shape, [f"if not c{f}(idx, out, v):", f"    {fail}"])
                else:
                    out += self._loop(shape, [f"r{f}(idx, out, v, res)"])
            return out
        # not written out: the compiled closures themselves
        if mode == "c":
            return [f"if not {self.const(holds, 'H')}(idx, focus, vals):", f"    {fail}"]
        return [f"{self.const(report, 'R')}(idx, focus, vals, res)"]

    def _ok(self, inline: str | None, ok: Callable, rule: Any, param: Any) -> str:
        """An expression true when value node `v` passes `rule`."""
        if inline == "in":
            return f"v in {self.const(param)}"
        if inline == "class":
            c = self.const(rule)
            return (f"({c} in out.get(v, E).get(TYPE_, E) and not isinstance(v, Literal)) "
                    f"or (idx.subclassing and idx.has_class(v, {c}))")
        if inline in ("or", "and", "xone"):
            calls = [f"c{self.function(m)}(idx, out, v)" for m in rule]
            if inline == "xone":
                return f"({' + '.join(calls)}) == 1"
            return f" {inline} ".join(calls)
        if inline == "not":
            return f"not c{self.function(rule)}(idx, out, v)"
        return f"{self.const(ok, 'OK')}(idx, v, {self.const(rule)})"
