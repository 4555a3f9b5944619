"""The floor: a hand-written evaluator of four criteria (I.A.1 diagnosis, I.A.2 prescriber, I.A.3 age,
I.A.4.a remission + MRD) on the checked request dict, against the engine's compiled shapes for the
same four criteria and the whole `evaluate`, on the same generated requests, in one run.

BENCHMARK-ONLY BASELINE. Nothing in `reasoner/` imports this file, and it must stay so: the policy
lives in ontology/ and shapes/, and this function is what the project exists not to write. It reads
what it can from the knowledge base at start (labels, classes, I.A.3's threshold from its shape), so
it holds no thresholds of its own; it does not read ICD-10-CM codes (the engine does), so it may
disagree on a request that names only a code: the agreement is printed beside the times.

    python benchmarks/floor.py               # 1,500 generated requests, best of 5 rounds
    python benchmarks/floor.py --n 300 --rounds 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

CRITERIA = ("I.A.1", "I.A.2", "I.A.3", "I.A.4.a")


def hand_written(kb):  # noqa: ANN001, ANN201 - a baseline, not the engine
    """The four criteria as a programmer would write them for this policy: True when the strict
    shape would hold (missing data is not "met")."""
    from rdflib.namespace import SH

    from reasoner.policy.terms import BX, KB, SHP

    conditions, specialties, types = kb.labels["condition"], kb.labels["specialty"], kb.types
    b_all, remission, mrd_positive = BX.BCellPrecursorALL, BX.RemissionStatus, BX.MRDPositiveStatus
    onc_or_hem = (BX.OncologySpecialty, BX.HematologySpecialty)
    prop = next(kb.shapes.objects(SHP["I.A.3"], SH.property))
    min_months = int(kb.shapes.value(prop, SH.minInclusive))
    empty: frozenset = frozenset()

    def specialist(name: object) -> bool:
        found = specialties.get(str(name).strip().casefold())
        return found is not None and any(c in types.get(found, empty) for c in onc_or_hem)

    def months(born: str, on: str) -> int:
        b, o = date.fromisoformat(born), date.fromisoformat(on)
        return (o.year - b.year) * 12 + o.month - b.month - (o.day < b.day)

    def evaluate(req: dict) -> tuple[bool, bool, bool, bool]:
        dx = req.get("diagnosis") or {}
        condition = conditions.get(str(dx.get("condition", "")).strip().casefold())
        a1 = condition is not None and b_all in types.get(condition, empty)
        rx = req.get("prescriber") or {}
        a2 = specialist(rx.get("specialty", "")) or any(specialist(s) for s in rx.get("consulting_specialties", ()))
        born = (req.get("member") or {}).get("birth_date")
        a3 = born is not None and months(born, req["request_date"]) >= min_months
        status, mrd = dx.get("disease_status"), (dx.get("mrd") or {}).get("status")
        a4 = (status is not None and remission in types.get(KB[f"DiseaseStatus-{status}"], empty)
              and mrd is not None and mrd_positive in types.get(KB[f"MRD-{mrd}"], empty))
        return a1, a2, a3, a4
    return evaluate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    import reasoner
    from reasoner.flow.check import check_request
    from reasoner.flow.enrich import enrich
    from reasoner.flow.lift import lift
    from reasoner.policy.terms import SHP
    from reasoner.shacl.codegen import generate
    from reasoner.shacl.index import Index
    from requestgen import requests

    engine = reasoner.default_reasoner()
    kb = engine.kb
    checked = []
    for raw in requests(args.n, seed=16):
        try:
            req = check_request(raw)
        except reasoner.InvalidRequest:
            continue
        if req["request_type"] == "initial":
            checked.append(req)
    shape_iris = [SHP[c] for c in CRITERIA]
    four = [s for s in kb.compiled.top if s.node in shape_iris]
    assert len(four) == len(CRITERIA), [s.node for s in four]
    graphs = []
    for req in checked:
        graph, node = lift(req)
        enrich(graph, node, req, kb, kb.policies[req["policy"]])
        graphs.append((graph, node))

    def by_shapes(graph, node) -> tuple[bool, ...]:  # noqa: ANN001
        """The four shapes' closures (the interpreter: CompiledShapes.run(interpreted=True))."""
        idx = Index(graph)
        verdicts = []
        for shape in four:
            out: list = []
            for focus in shape.targets(idx):
                shape.report(idx, focus, out)
            verdicts.append(not out)
        return tuple(verdicts)

    generated = [generate([shape], kb.compiled._path_numbers).run for shape in four]

    def by_generated(graph, node) -> tuple[bool, ...]:  # noqa: ANN001
        """The four shapes as the generated source runs them (what `evaluate` runs)."""
        idx = Index(graph)
        verdicts = []
        for run in generated:
            out: list = []
            run(idx, idx.out, idx.typed, out)
            verdicts.append(not out)
        return tuple(verdicts)

    floor = hand_written(kb)
    agree = sum(floor(req) == by_shapes(g, n) == by_generated(g, n) for req, (g, n) in zip(checked, graphs))

    clock = time.process_time
    rows: dict[str, list[float]] = {"hand-written, 4 criteria (request dict)": [],
                                    "generated shapes, same 4 criteria (graph already built)": [],
                                    "compiled closures, same 4 criteria (graph already built)": [],
                                    "whole evaluate (check, lift, enrich, every shape, decide)": []}
    for _ in range(args.rounds):
        t = clock()
        for req in checked:
            floor(req)
        rows["hand-written, 4 criteria (request dict)"].append(clock() - t)
        t = clock()
        for graph, node in graphs:
            by_generated(graph, node)
        rows["generated shapes, same 4 criteria (graph already built)"].append(clock() - t)
        t = clock()
        for graph, node in graphs:
            by_shapes(graph, node)
        rows["compiled closures, same 4 criteria (graph already built)"].append(clock() - t)
        t = clock()
        for req in checked:
            engine.evaluate(req)
        rows["whole evaluate (check, lift, enrich, every shape, decide)"].append(clock() - t)
    n = len(checked)
    print(f"{n} initial requests (generated, seed 16), best of {args.rounds} rounds, CPU µs a request\n")
    print(f"hand-written agrees with the shapes (generated and closures) on {agree} of {n} requests "
          f"({100 * agree / n:.1f}%)\n")
    print("| what | µs a request (best) | median of rounds | vs hand-written |")
    print("|---|---:|---:|---:|")
    best_floor = min(rows["hand-written, 4 criteria (request dict)"]) / n * 1e6
    for name, times in rows.items():
        best, med = min(times) / n * 1e6, statistics.median(times) / n * 1e6
        print(f"| {name} | {best:.1f} | {med:.1f} | {best / best_floor:.0f}× |")


if __name__ == "__main__":
    main()
