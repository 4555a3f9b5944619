"""Where a request's time goes: CPU per stage of the fast path (check, lift, enrich, validate, decide,
JSON out), warm, on generated requests. Not a test; it reports.

    python benchmarks/stages.py                 # 1,500 requests, best of 4 rounds per stage
    python benchmarks/stages.py --n 3000 --rounds 6

It also prints the steps of a cold start (this process is a fresh one) and what the JSON Schema gate
saves on a valid request. Each stage is timed with `time.process_time` around the same calls `Reasoner.evaluate_full` makes;
the best round per stage is kept, as the machine is shared. The shares are what to work on next.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

STAGES = ("check", "lift", "enrich", "validate", "decide", "json")


def measure(lines: list[bytes]) -> dict[str, float]:
    """Seconds of CPU per stage over `lines` (JSON request texts)."""
    import reasoner
    from reasoner.flow.check import parse_request_text
    from reasoner.flow.decide import decide
    from reasoner.flow.enrich import enrich
    from reasoner.policy.kb import TYPE
    from reasoner.flow.lift import lift

    r = reasoner.default_reasoner()
    spent = dict.fromkeys(STAGES, 0.0)
    clock = time.process_time
    for line in lines:
        t0 = clock()
        request = parse_request_text(line)
        t1 = clock()
        graph, node = lift(request)
        t2 = clock()
        policy = r.kb.policies[request["policy"]]
        derived = enrich(graph, node, request, r.kb, policy)
        t3 = clock()
        report = r.shape_report(graph)
        t4 = clock()
        determination = decide(request, set(graph.objects(node, TYPE)), r.kb, policy, report, derived)
        t5 = clock()
        json.dumps(determination, ensure_ascii=False)
        t6 = clock()
        for stage, a, b in zip(STAGES, (t0, t1, t2, t3, t4, t5), (t1, t2, t3, t4, t5, t6)):
            spent[stage] += b - a
    return spent


def start_up() -> dict[str, float]:
    """Wall seconds of each step of a cold start, in this (fresh) process."""
    clock = time.perf_counter
    t0 = clock()
    import reasoner
    from reasoner.policy.kb import load

    from reasoner.policy import integrity
    from reasoner.shacl.compiler import compile_shapes

    t1 = clock()
    kb = load()  # parse, check (reasoner.policy.integrity), index, compile the shapes
    t2 = clock()
    r = reasoner.Reasoner(kb=kb)
    example = json.loads((ROOT / "examples" / "approve-initial-ph-negative-consolidation-commercial.json").read_text())
    t3 = clock()
    r.evaluate(example)  # the first request also reads Section V's tables and compiles the schema gate
    t4 = clock()
    r.evaluate(example)
    t5 = clock()
    integrity.findings(kb.graph, kb.shapes, kb.types)  # the load's parts, again, on their own
    t6 = clock()
    compile_shapes(kb.shapes, kb.shape_owner, kb.graph)
    t7 = clock()
    return {"import reasoner": t1 - t0, "load the knowledge base (all of it)": t2 - t1,
            "  of which: check it (the load-time policy checks)": t6 - t5,
            "  of which: compile the shapes": t7 - t6,
            "first request (Section V tables, schema gate)": t4 - t3, "second request": t5 - t4}


def schema_check(requests: list[dict]) -> tuple[float, float]:
    """CPU ms a valid request: the compiled gate alone, and jsonschema alone."""
    from reasoner.flow.check import _validator, schema_accepts

    validator = _validator()
    t = time.process_time()
    for q in requests:
        schema_accepts(q)
    gate = (time.process_time() - t) / len(requests) * 1000
    t = time.process_time()
    for q in requests:
        any(True for _ in validator.iter_errors(q))
    return gate, (time.process_time() - t) / len(requests) * 1000


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=1500, help="requests per round")
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args(argv)
    startup = start_up()  # first, while nothing of the reasoner is imported yet
    from requestgen import requests

    lines = [json.dumps(q).encode() for q in requests(args.n + 300, seed=args.seed)]
    measure(lines[:300])  # warm: the knowledge base, the compiled shapes, Section V tables
    best = dict.fromkeys(STAGES, float("inf"))
    for _ in range(args.rounds):
        for stage, seconds in measure(lines[300:]).items():
            best[stage] = min(best[stage], seconds / args.n * 1000)
    total = sum(best.values())
    print("| stage | CPU ms a request (best of rounds) | share |")
    print("|---|---:|---:|")
    for stage in STAGES:
        print(f"| {stage} | {best[stage]:.3f} | {100 * best[stage] / total:.0f}% |")
    print(f"| all | {total:.3f} | 100% |")
    print("\n| start-up step | seconds (this process) |\n|---|---:|")
    for step, seconds in startup.items():
        print(f"| {step} | {seconds:.3f} |")
    gate, full = schema_check([json.loads(line) for line in lines[300:800]])
    print(f"\nJSON Schema on a valid request: fast gate {gate:.3f} ms, jsonschema {full:.3f} ms "
          f"({full / gate:.0f} times)")
    from reasoner.shacl.datagraph import _literal

    info = _literal.cache_info()
    print(f"\nliteral cache: {info.hits / max(1, info.hits + info.misses):.0%} hits "
          f"({info.currsize} of {info.maxsize} entries)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
