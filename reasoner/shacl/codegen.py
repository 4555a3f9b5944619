"""The compiled shapes written out as Python source: straight-line code instead of nested closures.

`compile_shapes` turns every shape into closures (`CompiledShape`: its value nodes, its constraints
as (holds, report) pairs); a run through them costs several Python calls per constraint and per
value node. `generate` writes the same checks as one Python module: per shape a conforms function
`c<n>(idx, out, focus)` and a report function `r<n>(idx, out, focus, res)`, whose paths, counts,
`sh:hasValue`, `sh:in`, `sh:class`, `sh:closed`, qualified counts and logical members are written out (a node
shape's property shapes in place), and a `run` that visits the top-level shapes' targets in the
interpreter's order. The results are the interpreter's, tuple for tuple (the same shapes, components,
message makers, values, details; a path's value nodes in the order of the data graph's index rather
than of a set's hash), so the report graph, its N-Quads and the decision cannot tell the two apart;
tests/test_codegen.py holds them to one another and tests/test_fastpath_differential.py holds the
generated run to pySHACL.

What the shapes say stays in the shapes: the source is generated from the compiled shapes (which
the shapes graph alone determines) each time the knowledge base is loaded. `Generated.source` is
plain text and `Generated.constants` names every object the text refers to (RDF terms, the compiled
shapes whose results it reports, their message makers, and the closures of the few constraints it
does not write out, such as a range or datatype comparison), so a cache of the source needs only a
way to name those objects again (by shape node and constraint) to skip generating it.
"""

from __future__ import annotations

from collections.abc import Callable
from types import CodeType
from typing import Any

from rdflib import RDFS, Literal, URIRef
from rdflib.term import Node

from reasoner.shacl.datagraph import TYPE, follow_index
from reasoner.shacl.shape import CompiledShape

__all__ = ["Generated", "generate", "sequence"]

_EMPTY: dict = {}  # never written to: the value nodes of a focus that has none


# The value nodes of a sequence of predicates, as `paths.compile_path` gives them: one reading of a
# path for the generated code and the graph's own `follow`.
sequence = follow_index


RUNTIME = {"E": _EMPTY, "TYPE_": TYPE, "Literal": Literal, "SEQ": sequence, "RESOURCE": RDFS.Resource}


class Generated:
    """The generated module: its source, the objects it names, its code and its `run(idx, out, typed, res)`.

    Pickled as its code, not its source (the KB cache marshals code objects, policy/cache.py), so a
    process that reads the cached knowledge base runs the shapes without compiling 4,000 lines again
    (about 0.07 s of a cold start)."""

    __slots__ = ("source", "constants", "code", "run")

    def __init__(self, source: str, constants: dict[str, Any], code: CodeType | None = None) -> None:
        self.source = source
        self.constants = constants
        self.code = compile(source, "<generated shapes>", "exec") if code is None else code
        namespace = {**RUNTIME, **constants}
        exec(self.code, namespace)  # noqa: S102 - our own source
        self.run: Callable[..., None] = namespace["run"]

    def __reduce__(self) -> tuple:
        return Generated, (self.source, self.constants, self.code)


def generate(top: list[CompiledShape], path_numbers: dict[tuple, int]) -> Generated:
    """The source of `top`'s run (the active top-level shapes, in the interpreter's order)."""
    w = _Writer(path_numbers)
    # each shape's report written into the loop over its targets, in the interpreter's order
    general = ["def run_general(idx, out, typed, res):", "    pc = idx.paths"]
    for shape in top:
        general.append(f"    for focus in {w.const(shape.targets, 'T')}(idx):")
        general += ["        " + line for line in w.body(shape, "r", "focus", 0) or ["pass"]]
    # the common case: no rdfs:subClassOf in the data, and shapes that target one class, one after
    # another; when that class has one instance (a request), their reports run one after another
    run = ["def run(idx, out, typed, res):", "    if idx.subclassing:",
           "        return run_general(idx, out, typed, res)", "    pc = idx.paths"]
    groups: list[tuple[Any, list[CompiledShape]]] = []
    for shape in top:
        cls = getattr(shape.targets, "target_class", None)
        if cls is not None and groups and groups[-1][0] is cls:
            groups[-1][1].append(shape)
        else:
            groups.append((cls, [shape]))
    for cls, shapes in groups:
        if cls is None:
            for shape in shapes:
                run.append(f"    for focus in {w.const(shape.targets, 'T')}(idx):")
                run += ["        " + line for line in w.body(shape, "r", "focus", 0) or ["pass"]]
            continue
        run += [f"    foci = typed.get({w.const(cls)})", "    if foci:", "        if len(foci) == 1:",
                "            for focus in foci:"]
        w.block = set()  # one focus: each of its paths followed once, into a local, for the group
        block = [line for shape in shapes for line in w.body(shape, "r", "focus", 0)]
        first = [" = ".join(f"P{k}" for k in sorted(w.block)) + " = None"] if w.block else []
        w.block = None
        run += ["                " + line for line in ["BF = out.get(focus)", *first, *block]]
        run += ["        else:"]
        for shape in shapes:
            run.append("            for focus in foci:")
            run += ["                " + line for line in w.body(shape, "r", "focus", 0) or ["pass"]]
    while w.pending:
        w.emit(w.pending.pop(0))
    return Generated("\n".join(w.lines + general + run) + "\n", w.consts)


class _Writer:
    def __init__(self, path_numbers: dict[tuple, int]) -> None:
        self.path_numbers = path_numbers
        self.consts: dict[str, Any] = {}
        self._names: dict[int, str] = {}
        self._functions: dict[int, int] = {}
        self.pending: list[CompiledShape] = []
        self.lines: list[str] = []
        self.block: set[int] | None = None  # writing a one-focus group: the paths it follows

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
        for mode in ("c", "r"):
            head = f"def c{k}(idx, out, focus):" if mode == "c" else f"def r{k}(idx, out, focus, res):"
            tail = ["return True"] if mode == "c" else ["return None"]
            body = self.body(shape, mode, "focus", 0)
            if any("pc" in line for line in body):
                body = ["pc = idx.paths", *body]
            self.lines += [head] + ["    " + line for line in body + tail]

    def body(self, shape: CompiledShape, mode: str, focus: str, depth: int) -> list[str]:
        """`shape` on the focus node named `focus`: in mode "c", lines that `return False` when it does
        not conform; in mode "r", lines that append its results to `res`. Names end in `depth`, so a
        shape written inside another (a property of a node shape) keeps the outer shape's names."""
        if shape.deactivated:
            return []
        n = _Names(focus, depth)
        out: list[str] = []
        for holds, report in shape.constraints:
            out += self._constraint(mode, shape, holds, report, n)
        if any(n.vals in line for line in out):
            out = self._values(shape, n) + out
        return out

    def _values(self, shape: CompiledShape, n: "_Names") -> list[str]:
        """Lines that set `vals`, the value nodes of the focus (a set or a read-only dict of them)."""
        path, focus, vals = shape.path, n.focus, n.vals
        if path is None:
            return [f"{vals} = {{{focus}}}"]
        in_block = self.block is not None and focus == "focus"
        if isinstance(path, URIRef):
            if in_block:
                return [f"{vals} = BF.get({self.const(path)}, E) if BF else E"]
            return [f"{n.b} = out.get({focus})", f"{vals} = {n.b}.get({self.const(path)}, E) if {n.b} else E"]
        number = self.path_numbers.get(shape.path_key) if shape.path_key is not None else None
        if number is not None and shape.values.__name__ == "remembered_values":
            steps = self.const(shape.path_key)
            lines = [f"{n.b} = ({number}, {focus})", f"{vals} = pc.get({n.b})",
                     f"if {vals} is None:", f"    {vals} = pc[{n.b}] = SEQ(out, {focus}, {steps})"]
            if in_block:  # the group's local, set on first use
                self.block.add(number)
                return [f"{vals} = P{number}", f"if {vals} is None:", *("    " + line for line in lines),
                        f"    P{number} = {vals}"]
            return lines
        return [f"{vals} = {self.const(shape.values, 'V')}(idx, {focus})"]

    def _loop(self, shape: CompiledShape, n: "_Names", body: list[str]) -> list[str]:
        """`body` for each value node `v` (the focus itself when the shape has no path)."""
        if shape.path is None:
            return [f"{n.v} = {n.focus}", *body]
        return [f"for {n.v} in {n.vals}:", *("    " + line for line in body)]

    def _constraint(self, mode: str, shape: CompiledShape, holds: Callable, report: Callable,
                    n: "_Names") -> list[str]:
        spec = getattr(holds, "spec", None)
        kind = spec[0] if spec else None
        s, focus, vals, v = self.const(shape, "S"), n.focus, n.vals, n.v
        fail = "return False"

        def result(component: Any, message: Any, value: str = "None", details: str = "") -> str:
            if mode == "c":
                return fail
            return (f"res.append(({focus}, {value}, {s}, {self.const(component)}, {self.const(message, 'M')}"
                    f"{', ' + details if details else ''}))")

        if kind == "count":
            _, op, count, component, message = spec
            test = f"len({vals}) < {count}" if op == ">=" else f"len({vals}) > {count}"
            return [f"if {test}:", f"    {result(component, message)}"]
        if kind == "has_value":
            _, wanted, component, message = spec
            out = []
            for hv in wanted:
                out += [f"if {self.const(hv)} not in {vals}:", f"    {result(component, message)}"]
            return out
        if kind == "closed":  # each triple of a value node whose predicate is not allowed: one result
            _, allowed, component, message, at = spec
            ok, comp, msg = self.const(allowed), self.const(component), self.const(message, "M")
            found = fail if mode == "c" else f"res.append(({focus}, {n.o}, {self.const(at, 'AT')}({n.p}), {comp}, {msg}))"
            return self._loop(shape, n, [
                f"{n.b}c = out.get({v})", f"if {n.b}c:", f"    for {n.p}, {n.os} in {n.b}c.items():",
                f"        if {n.p} not in {ok}:", f"            for {n.o} in {n.os}:",
                f"                if {n.p} != TYPE_ or {n.o} != RESOURCE:", f"                    {found}"])
        if kind == "per_value":
            _, component, rules, ok, message, inline, param = spec
            out = []
            for rule in rules:
                test = self._ok(inline, ok, rule, param, v)
                out += self._loop(shape, n, [f"if not ({test}):", f"    {result(component, message, v)}"])
            return out
        if kind == "node":
            _, targets, component, message = spec
            out = []
            for t in targets:
                f = self.function(t)
                if mode == "c":
                    out += self._loop(shape, n, [f"if not c{f}(idx, out, {v}):", f"    {fail}"])
                else:
                    out += self._loop(shape, n, [f"{n.d} = []", f"r{f}(idx, out, {v}, {n.d})", f"if {n.d}:",
                                                 f"    {result(component, message, v, n.d)}"])
            return out
        if kind == "property":
            out = []
            for child in spec[1]:
                if shape.path is None:  # the child's checks on this very focus: written in place
                    out += self.body(child, mode, focus, n.depth + 1)
                    continue
                f = self.function(child)
                if mode == "c":
                    out += self._loop(shape, n, [f"if not c{f}(idx, out, {v}):", f"    {fail}"])
                else:
                    out += self._loop(shape, n, [f"r{f}(idx, out, {v}, res)"])
            return out
        if kind == "qualified":
            _, value_shapes, low, high, min_component, max_component, message = spec
            out = [] if low is not None and low >= 1 else [f"if {vals}:"]
            inner = []
            for vs in value_shapes:
                inner += [f"{n.d} = 0", f"for {v} in {vals}:", f"    if c{self.function(vs)}(idx, out, {v}):",
                          f"        {n.d} += 1"]
                if high is not None:
                    inner += [f"if {n.d} > {high}:", f"    {result(max_component, message)}"]
                if low is not None:
                    inner += [f"if {n.d} < {low}:", f"    {result(min_component, message)}"]
            return out + (["    " + line for line in inner] if out else inner)
        # not written out: the compiled closures themselves
        if mode == "c":
            return [f"if not {self.const(holds, 'H')}(idx, {focus}, {vals}):", f"    {fail}"]
        return [f"{self.const(report, 'R')}(idx, {focus}, {vals}, res)"]

    def _ok(self, inline: str | None, ok: Callable, rule: Any, param: Any, v: str) -> str:
        """An expression true when the value node named `v` passes `rule`."""
        if inline == "in":
            return f"{v} in {self.const(param)}"
        if inline == "class":
            c = self.const(rule)
            return (f"({c} in out.get({v}, E).get(TYPE_, E) and not isinstance({v}, Literal)) "
                    f"or (idx.subclassing and idx.has_class({v}, {c}))")
        if inline in ("or", "and"):
            return f" {inline} ".join(f"({self.conforms(m, v)})" for m in rule)
        if inline == "xone":
            return f"({' + '.join(f'c{self.function(m)}(idx, out, {v})' for m in rule)}) == 1"
        if inline == "not":
            return f"not ({self.conforms(rule, v)})"
        return f"{self.const(ok, 'OK')}(idx, {v}, {self.const(rule)})"

    def conforms(self, shape: CompiledShape, v: str) -> str:
        """An expression true when the node named `v` conforms to `shape`: written out when the shape
        has no path and only value-by-value checks (`[ sh:class X ]` in an sh:or), else its c function."""
        if shape.deactivated:
            return "True"
        parts = []
        for holds, _report in shape.constraints if shape.path is None else ():
            spec = getattr(holds, "spec", None)
            if not spec or spec[0] != "per_value":
                break
            _, _component, rules, ok, _message, inline, param = spec
            parts += [f"({self._ok(inline, ok, rule, param, v)})" for rule in rules]
        else:
            if shape.path is None:
                return " and ".join(parts) or "True"
        return f"c{self.function(shape)}(idx, out, {v})"


class _Names:
    """The local names of one shape's code: suffixed by its depth of writing-in-place."""

    __slots__ = ("focus", "depth", "vals", "v", "d", "b", "p", "o", "os")

    def __init__(self, focus: str, depth: int) -> None:
        self.focus, self.depth = focus, depth
        self.vals, self.v, self.d, self.b = f"vals{depth}", f"v{depth}", f"d{depth}", f"b{depth}"
        self.p, self.o, self.os = f"p{depth}", f"o{depth}", f"os{depth}"  # a triple of a value node (sh:closed)
