"""A request's cost against its size: one naming 50 agents (the contract's maximum for `regimen.with`),
51, 1,000 and 10,000 (refused by the contract, and worded by jsonschema), as a Python dict and as
JSON text, each timed warm in one process, interleaved. Not a test; it reports medians (issue 16,
item 3: a request with 1,000 agents <= 3 ms).

    python benchmarks/long_lists.py               # 200 rounds
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BASE = ROOT / "examples" / "approve-initial-ph-positive-tki-induction-him.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    from reasoner.flow.check import InvalidRequest, parse_request_text
    from reasoner.flow.engine import default_reasoner

    engine = default_reasoner()
    base = json.loads(BASE.read_text())
    cases = {}
    for n in (50, 51, 1_000, 10_000):
        request = {**base, "regimen": {**base.get("regimen", {}), "with": ["dasatinib"] * n}}
        text = json.dumps(request).encode()
        cases[f"{n:,} agents, dict (evaluate)"] = lambda r=request: engine.evaluate(r)
        cases[f"{n:,} agents, JSON text (check)"] = lambda t=text: parse_request_text(t)
    times: dict[str, list[float]] = {name: [] for name in cases}
    outcome: dict[str, str] = {}
    for _ in range(args.rounds):
        for name, run in cases.items():
            start = time.perf_counter()
            try:
                run()
                outcome[name] = "decided" if "dict" in name else "accepted"
            except InvalidRequest as exc:
                outcome[name] = f"refused: {exc.field}: {exc.reason}"
            times[name].append(time.perf_counter() - start)
    print(f"{args.rounds} rounds, interleaved\n")
    print("| request | median (ms) | min (ms) | outcome |")
    print("|---|---:|---:|---|")
    for name, t in times.items():
        print(f"| {name} | {statistics.median(t) * 1000:.3f} | {min(t) * 1000:.3f} | {outcome[name]} |")


if __name__ == "__main__":
    main()
