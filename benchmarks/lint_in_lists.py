"""Lint's SHACL-SHACL step against the length of an `sh:in` list (issue 13, item 18): linear now.

    python benchmarks/lint_in_lists.py [--sizes 250 1000 2000] [--old 125 250]

Adds one property shape with an `sh:in` list of N values to the shipped shapes and times, in the
same run, the SHACL-SHACL step as lint runs it (`_Linter.shacl_shacl`) and, for the `--old` sizes,
pySHACL's meta-validation of the whole graph as lint ran it before (quadratic: slow past 250).
CPU seconds (time.process_time).
"""

from __future__ import annotations

import argparse
import time

from rdflib import BNode, Literal, URIRef
from rdflib.collection import Collection
from rdflib.namespace import SH

from reasoner.authoring.lint import _Linter
from reasoner.policy.versions import shipped_graphs


def with_list(n: int):
    vg = shipped_graphs()
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
    parser.add_argument("--sizes", type=int, nargs="*", default=[250, 1000, 2000])
    parser.add_argument("--old", type=int, nargs="*", default=[125, 250])
    args = parser.parse_args()
    from pyshacl.entrypoints import meta_validate

    base = cpu(lambda: _Linter(with_list(0)).shacl_shacl())
    print(f"no list             lint's step {base:7.2f} s")
    for n in args.sizes:
        linter = _Linter(with_list(n))
        t = cpu(linter.shacl_shacl)
        print(f"sh:in of {n:6} values  lint's step {t:7.2f} s  ({len(linter.found)} findings)")
    for n in args.old:
        vg = with_list(n)
        t = cpu(lambda: meta_validate(vg.shapes, inference="none"))
        print(f"sh:in of {n:6} values  before (whole-graph meta-validation) {t:7.2f} s")


if __name__ == "__main__":
    main()
