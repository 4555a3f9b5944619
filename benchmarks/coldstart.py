"""Cold start of the command line: `blincyto version` and `blincyto check` on one example, each a fresh
process, with the knowledge-base cache (reasoner/policy/cache.py) and without it (BLINCYTO_CACHE=0),
side by side: the runs are interleaved round by round, so the machine's load falls on all alike.
Not a test; it reports medians of wall and CPU time (the child's user + system).

    python benchmarks/coldstart.py               # 9 rounds
    python benchmarks/coldstart.py --rounds 3 --json cold.json

The cache lives in a temporary directory (BLINCYTO_CACHE_DIR), filled by one run before the rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "approve-continuation-medicaid.json"
# what the console script runs (`blincyto = reasoner.cli:app`)
ENTRY = "import sys; from reasoner.cli import app; sys.argv[0] = 'blincyto'; sys.exit(app())"


def runs(cache_dir: str) -> dict[str, tuple[list[str], dict[str, str]]]:
    base = {**os.environ, "PYTHONPATH": str(ROOT), "BLINCYTO_CACHE_DIR": cache_dir}
    base.pop("BLINCYTO_CACHE", None)
    off = {**base, "BLINCYTO_CACHE": "0"}
    py = [sys.executable]
    return {
        "python -c pass (the interpreter alone)": (py + ["-c", "pass"], base),
        "blincyto version": (py + ["-c", ENTRY, "version"], base),
        "blincyto check (cache)": (py + ["-c", ENTRY, "check", str(EXAMPLE)], base),
        "blincyto check (BLINCYTO_CACHE=0)": (py + ["-c", ENTRY, "check", str(EXAMPLE)], off),
        "blincyto check --format json (cache)": (py + ["-c", ENTRY, "check", str(EXAMPLE), "--format", "json"], base),
    }


def once(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{command[3:]} exited {done.returncode}: {done.stderr.decode()[-400:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cache_dir = str(Path(tmp) / "cache")
        table = runs(cache_dir)
        once(*table["blincyto check (cache)"])  # fills the cache
        figures: dict[str, dict[str, list[float]]] = {name: {"wall": [], "cpu": []} for name in table}
        load_before = os.getloadavg()[0]
        for _ in range(args.rounds):
            for name, (command, env) in table.items():
                wall, cpu = once(command, env)
                figures[name]["wall"].append(wall)
                figures[name]["cpu"].append(cpu)
        load_after = os.getloadavg()[0]
    print(f"{args.rounds} rounds, interleaved; load average {load_before:.2f} before / {load_after:.2f} after\n")
    print("| command | wall median (s) | wall min (s) | CPU median (s) |")
    print("|---|---:|---:|---:|")
    summary = {}
    for name, f in figures.items():
        summary[name] = {"wall_median": statistics.median(f["wall"]), "wall_min": min(f["wall"]),
                         "cpu_median": statistics.median(f["cpu"])}
        s = summary[name]
        print(f"| {name} | {s['wall_median']:.3f} | {s['wall_min']:.3f} | {s['cpu_median']:.3f} |")
    if args.json:
        args.json.write_text(json.dumps({"rounds": args.rounds, "load": [load_before, load_after],
                                         "figures": summary}, indent=2) + "\n")


if __name__ == "__main__":
    main()
