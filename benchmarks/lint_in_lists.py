"""Lint's SHACL-SHACL step against the length of an `sh:in` list (issue 13, item 18; issue 11): linear.

    python benchmarks/lint_in_lists.py [--sizes 250 2000 5000] [--pyshacl 250]

Adds one property shape with an `sh:in` list of N values to the shipped shapes and times, in the
same run, the SHACL-SHACL step as lint runs it (`_Linter.shacl_shacl`: the engine, the list whole)
and, for the `--pyshacl` sizes, pySHACL's meta-validation of that graph, whole (what lint ran before
issue 13 cut its lists, and quadratic in a list: slow past 250). CPU seconds (time.process_time).
"""

from __future__ import annotations

import argparse
import time

from rdflib import BNode, Literal, URIRef
from rdflib.collection import Collection
from rdflib.namespace import SH

from reasoner.authoring.lint import _Linter, meta_shapes
from reasoner.policy.versions import VersionGraphs, shipped_graphs


def with_list(shipped: VersionGraphs, n: int) -> VersionGraphs:
    """The shipped graphs (parsed once, copied here: parsing is not what is timed) with the list added."""
    shapes = type(shipped.shapes)()
    for prefix, namespace in shipped.shapes.namespaces():
        shapes.bind(prefix, namespace, override=True)
    shapes += shipped.shapes
    vg = VersionGraphs(shipped.ontology, shapes, shipped.origin)
    if n:
        shape, prop, head = URIRef("urn:bench:InShape"), BNode(), BNode()
        vg.shapes.add((shape, SH.property, prop))
        vg.shapes.add((prop, SH.path, URIRef("urn:bench:p")))
        Collection(vg.shapes, head, [Literal(f"v{i}") for i in range(n)])
        vg.shapes.add((prop, SH["in"], head))
    return vg


def cpu(fn) -> float:
    started = time.process_time()
    fn()
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="*", default=[250, 2000, 5000])
    parser.add_argument("--pyshacl", type=int, nargs="*", default=[250])
    args = parser.parse_args()
    from pyshacl.entrypoints import meta_validate

    compiled = cpu(meta_shapes)
    print(f"SHACL-SHACL compiled once a process  {compiled:7.2f} s")
    parsed = shipped_graphs()
    shipped = with_list(parsed, 0)
    first = cpu(lambda: _Linter(shipped).shacl_shacl())
    print(f"no list, first run      lint's step {first:7.2f} s  (writes the generated code)")
    for n in [0, *args.sizes]:
        vg = with_list(parsed, n)
        times = []
        for _ in range(3):  # the least of three: the machine is shared
            linter = _Linter(vg)
            times.append(cpu(linter.shacl_shacl))
        what = f"sh:in of {n:6} values" if n else "no list               "
        print(f"{what}  lint's step {min(times):7.2f} s  ({len(linter.found)} findings)")
    for n in args.pyshacl:
        vg = with_list(parsed, n)
        t = cpu(lambda: meta_validate(vg.shapes, inference="none"))
        print(f"sh:in of {n:6} values  pySHACL's meta-validation {t:7.2f} s")


if __name__ == "__main__":
    main()
