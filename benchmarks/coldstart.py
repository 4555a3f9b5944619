"""Cold start of the command line: `blincyto version`, `blincyto check` on one example, and the other
commands the documentation and the tests start most (`schedule`, `units`, `query`, `batch`, `store`),
each a fresh process, with the knowledge-base cache (reasoner/policy/cache.py) and without it
(BLINCYTO_CACHE=0), side by side: the runs are interleaved round by round, so the machine's load falls
on all alike. Not a test; it reports medians and minimums of wall and CPU time (the child's user +
system), and with `--against` the ratio of this tree's medians to the other's.

    python benchmarks/coldstart.py                         # 9 rounds
    python benchmarks/coldstart.py --rounds 3 --json cold.json
    python benchmarks/coldstart.py --against /work/main    # the same commands on another checkout, interleaved
    python benchmarks/coldstart.py --only version --only check   # only the rows of these commands

`check (through typer)` is the same check started by the Typer application itself (what `--help`, and
any arguments the fast start leaves to typer, go through): the difference is the fast start's
(reasoner/cli/table.py).
The caches live in a temporary directory (BLINCYTO_CACHE_DIR), filled by one run before the rounds.
Bytecode is written and read as an installed package's is (PYTHONDONTWRITEBYTECODE is dropped for
the children, and the warm-up run writes `__pycache__`): otherwise every start compiles the package.
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
THROUGH_TYPER = "import sys; from reasoner.cli.commands import app; sys.argv[0] = 'blincyto'; sys.exit(app())"


def runs(cache_dir: str, tree: Path, work: Path) -> dict[str, tuple[list[str], dict[str, str]]]:
    """Each command with its environment; run in `tree`, its PYTHONPATH (with `python -c`, the working directory
    comes first on sys.path)."""
    base = {**os.environ, "PYTHONPATH": str(tree), "BLINCYTO_CACHE_DIR": cache_dir}
    for name in ("BLINCYTO_CACHE", "PYTHONDONTWRITEBYTECODE"):
        base.pop(name, None)
    off = {**base, "BLINCYTO_CACHE": "0"}
    py = [sys.executable]
    check = ["check", str(EXAMPLE)]
    one = work / "one.jsonl"  # written by main
    store = work / f"store-{abs(hash(str(tree)))}"
    cli = py + ["-c", ENTRY]
    return {
        "python -c pass (the interpreter alone)": (py + ["-c", "pass"], base),
        "blincyto version": (py + ["-c", ENTRY, "version"], base),
        "blincyto check (cache)": (py + ["-c", ENTRY, *check], base),
        "blincyto check --format json (cache)": (py + ["-c", ENTRY, *check, "--format", "json"], base),
        "blincyto check (cache), through typer": (py + ["-c", THROUGH_TYPER, *check], base),
        "blincyto check (BLINCYTO_CACHE=0)": (py + ["-c", ENTRY, *check], off),
        "blincyto schedule": (cli + ["schedule", str(EXAMPLE)], base),
        "blincyto schedule --format json": (cli + ["schedule", str(EXAMPLE), "--format", "json"], base),
        "blincyto units --units-billed 10 --cycle 1": (cli + ["units", str(EXAMPLE), "--units-billed", "10", "--cycle", "1"],
                                                       base),
        "blincyto query --list": (cli + ["query", "--list"], base),
        "blincyto query tkis --format csv": (cli + ["query", "tkis", "--format", "csv"], base),
        "blincyto batch (1 request, 1 worker)": (cli + ["batch", str(one), "-o", str(work / f"{store.name}.jsonl"),
                                                        "--workers", "1"], base),
        "blincyto store info": (cli + ["store", "info", str(store)], base),
        "blincyto diff (an unknown version: the start and one error line)": (cli + ["diff", "nope", "2024-08"], base),
        "blincyto schedule --help (typer)": (cli + ["schedule", "--help"], base),
    }


EXPECTED = {"blincyto diff (an unknown version: the start and one error line)": 2}


def once(command: list[str], env: dict[str, str], name: str = "") -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=env["PYTHONPATH"], capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != EXPECTED.get(name, 0):
        raise SystemExit(f"{command[3:]} exited {done.returncode}: {done.stderr.decode()[-400:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--against", type=Path, help="another checkout, run interleaved with this one")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--only", action="append", metavar="COMMAND",
                        help="only the rows of this command (repeatable), e.g. check, schedule, query")
    args = parser.parse_args()
    trees = {"": ROOT} if args.against is None else {"this tree": ROOT, str(args.against): args.against.resolve()}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "one.jsonl").write_text(json.dumps(json.loads(EXAMPLE.read_text())) + "\n")
        table: dict[tuple[str, str], tuple[list[str], dict[str, str]]] = {}
        for n, (label, tree) in enumerate(trees.items()):
            cache_dir = str(Path(tmp) / f"cache-{n}")
            for name, run in runs(cache_dir, tree, Path(tmp)).items():
                if args.only and not name.startswith("python") and name.split()[1] not in args.only:
                    continue
                if label and name.startswith("python -c pass") and table:
                    continue  # the interpreter once
                table[(name, label)] = run
        for n, (label, tree) in enumerate(trees.items()):  # fills each tree's cache and bytecode; the store `store info` reads
            base = runs(str(Path(tmp) / f"cache-{n}"), tree, Path(tmp))
            once(*base["blincyto check (cache)"])
            once(*base["blincyto check (cache), through typer"])
            if ("blincyto store info", label) in table:
                once(base["blincyto check (cache)"][0] + ["--store", base["blincyto store info"][0][-1]],
                     base["blincyto check (cache)"][1])
        figures: dict[tuple[str, str], dict[str, list[float]]] = {key: {"wall": [], "cpu": []} for key in table}
        load_before = os.getloadavg()[0]
        for _ in range(args.rounds):
            for key, (command, env) in table.items():
                wall, cpu = once(command, env, key[0])
                figures[key]["wall"].append(wall)
                figures[key]["cpu"].append(cpu)
        load_after = os.getloadavg()[0]
    print(f"{args.rounds} rounds, interleaved; load average {load_before:.2f} before / {load_after:.2f} after"
          f" ({os.cpu_count()} CPUs)\n")
    tree_column = " tree |" if args.against else ""
    ratio_column = " wall / other's | CPU / other's |" if args.against else ""
    print(f"| command |{tree_column} wall median (s) | wall min (s) | CPU median (s) | CPU min (s) |{ratio_column}")
    print("|---|" + ("---|" if args.against else "") + "---:|---:|---:|---:|" + ("---:|---:|" if args.against else ""))
    summary = {}
    order = list(runs("", ROOT, Path(tempfile.gettempdir())))
    for (name, label), f in sorted(figures.items(), key=lambda kv: list(table).index(kv[0]) if not args.against
                                   else (order.index(kv[0][0]), kv[0][1] != "this tree")):
        s = {"wall_median": statistics.median(f["wall"]), "wall_min": min(f["wall"]),
             "cpu_median": statistics.median(f["cpu"]), "cpu_min": min(f["cpu"])}
        summary[f"{name} [{label}]" if label else name] = s
        tree_cell = f" {label or '-'} |" if args.against else ""
        ratios = ""
        if args.against:
            other = figures.get((name, str(args.against))) if label == "this tree" else None
            ratios = (f" {s['wall_median'] / statistics.median(other['wall']):.2f} | "
                      f"{s['cpu_median'] / statistics.median(other['cpu']):.2f} |") if other else " | |"
        print(f"| {name} |{tree_cell} {s['wall_median']:.3f} | {s['wall_min']:.3f} | {s['cpu_median']:.3f} "
              f"| {s['cpu_min']:.3f} |{ratios}")
    if args.json:
        args.json.write_text(json.dumps({"rounds": args.rounds, "load": [load_before, load_after],
                                         "figures": summary}, indent=2) + "\n")


if __name__ == "__main__":
    main()
