"""Benchmark: the naive pySHACL loop, warm `evaluate`, `blincyto batch` and the cold `blincyto check`,
measured in one run, each in its own process (so peak memory is its own), with ratios to the naive loop.

    python benchmarks/bench.py                       # N = 1,000, 10,000, 100,000; naive sample 300
    python benchmarks/bench.py --sizes 1000 --naive 100 --cold 3      # a quick look

Requests come from the seeded generator of the tests (tests/requestgen.py: every pathway, every
decision, missing and not-met failures). Not a test: nothing here fails on a slow machine; it reports.
Writes a Markdown table to standard output and, with --json, the raw figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "approve-initial-ph-negative-consolidation-commercial.json"
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))


# ---------------------------------------------------------------------------------------------
# Measuring a child process: wall time, CPU time, peak RSS (largest process, and the whole tree)
# ---------------------------------------------------------------------------------------------

def _tree_rss_kb(pid: int) -> tuple[int, int]:
    """Resident memory of a process and its descendants (sum, largest), from /proc (Linux); 0s elsewhere."""
    try:
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                    children.setdefault(ppid, []).append(int(entry))
                except (OSError, IndexError, ValueError):
                    pass
        total, largest, todo = 0, 0, [pid]
        while todo:
            p = todo.pop()
            todo.extend(children.get(p, []))
            try:
                with open(f"/proc/{p}/status") as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            rss = int(line.split()[1])
                            total += rss
                            largest = max(largest, rss)
            except OSError:
                pass
        return total, largest
    except OSError:
        return 0, 0


def measure(cmd: list[str], stdin: bytes | None = None) -> dict:
    """Run `cmd`; its wall time, CPU time, peak RSS of its largest process and of its process tree."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = [0, 0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            total, largest = _tree_rss_kb(proc.pid)
            peak[0], peak[1] = max(peak[0], total), max(peak[1], largest)
            stop.wait(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate(stdin)
    wall = time.perf_counter() - start
    stop.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # CPU only: ru_maxrss is the max over all children ever
    return {"cmd": cmd, "rc": proc.returncode, "wall_s": wall,
            "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "max_rss_mb": peak[1] / 1024, "tree_rss_mb": peak[0] / 1024,
            "stdout": out.decode(errors="replace"), "stderr": err.decode(errors="replace")}


# ---------------------------------------------------------------------------------------------
# In-process measurements (run as `bench.py _naive FILE N` / `bench.py _warm FILE N` children)
# ---------------------------------------------------------------------------------------------

def _load(path: str, n: int) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for _, line in zip(range(n), f)]


def child_naive(path: str, n: int, plain: bool) -> dict:
    """The naive loop: pySHACL once per request (cached shapes; `plain`: pyshacl.validate each time)."""
    import reasoner
    from reasoner.flow.check import check_request
    from reasoner.flow.decide import decide
    from reasoner.flow.enrich import enrich
    from reasoner.flow.lift import lift
    from reasoner.shacl.pyshacl_engine import reference_validate
    from reasoner.shacl.report import Report
    from rdflib import RDF

    r = reasoner.Reasoner(engine="pyshacl")
    requests = _load(path, n)
    start, cpu = time.perf_counter(), time.process_time()
    decisions = []
    for q in requests:
        if plain:  # pyshacl.validate() per request, its report read back as the explainer needs it
            req = check_request(q)
            policy = r.kb.policies[req["policy"]]
            g, node = lift(req)
            derived = enrich(g, node, req, r.kb, policy)
            conforms, report = reference_validate(g, r.kb.shapes)
            collected: dict = r._runner._collect(report)
            det = decide(req, set(g.objects(node, RDF.type)), r.kb, policy, Report(report, conforms, collected),
                         derived)
        else:
            det = r.evaluate(q)
        decisions.append(det["decision"])
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"n": n, "wall_s": wall, "cpu_s": cpu, "rate": n / wall, "decisions": _count(decisions),
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def child_warm(path: str, n: int) -> dict:
    """`evaluate` warm: the reasoner loaded, 50 requests to warm up, then each call timed."""
    import reasoner

    r = reasoner.default_reasoner()
    requests = _load(path, n + 50)
    for q in requests[:50]:
        r.evaluate(q)
    wall, cpu = [], []
    for q in requests[50:]:
        w, c = time.perf_counter(), time.process_time()
        r.evaluate(q)
        wall.append((time.perf_counter() - w) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    wall.sort()
    cpu.sort()
    return {"n": len(wall), "median_ms": statistics.median(wall), "p95_ms": wall[int(len(wall) * 0.95)],
            "cpu_median_ms": statistics.median(cpu), "cpu_p95_ms": cpu[int(len(cpu) * 0.95)],
            "rate": len(wall) / (sum(wall) / 1000),
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _count(items: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for i in items:
        out[i] = out.get(i, 0) + 1
    return dict(sorted(out.items()))


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------

def generate(path: Path, n: int, seed: int = 2024) -> None:
    from requestgen import requests

    with path.open("w") as f:
        for r in requests(n, seed=seed):
            f.write(json.dumps(r) + "\n")


def _child(args: list[str]) -> dict:
    result = measure([sys.executable, str(Path(__file__).resolve()), *args])
    if result["rc"] != 0:
        raise RuntimeError(result["stderr"])
    return json.loads(result["stdout"]) | {"tree_rss_mb": result["tree_rss_mb"]}


def _summary_rate(stderr: str) -> float | None:
    for line in stderr.splitlines():
        if "requests/s" in line:
            return float(line.rsplit("(", 1)[1].split()[0])
    return None


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="1000,10000,100000", help="batch sizes N (comma-separated)")
    p.add_argument("--workers", default="1,2", help="worker counts for batch")
    p.add_argument("--naive", type=int, default=300, help="requests in the naive pySHACL loop's sample")
    p.add_argument("--plain-naive", type=int, default=300, help="sample of plain pyshacl.validate() per request (0: skip)")
    p.add_argument("--warm", type=int, default=2000, help="warm evaluate calls timed")
    p.add_argument("--cold", type=int, default=7, help="cold `blincyto check` runs")
    p.add_argument("--json", type=Path, help="write the raw figures here")
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    workers = [int(w) for w in args.workers.split(",")]
    blincyto = [sys.executable, "-m", "reasoner.cli"]
    figures: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                 "load_before": os.getloadavg()}, "batch": []}

    with tempfile.TemporaryDirectory(prefix="blincyto-bench-") as tmp:
        inputs = {}
        for n in sorted(set(sizes) | {max(args.naive, args.warm + 50, args.plain_naive)}):
            inputs[n] = Path(tmp) / f"requests-{n}.jsonl"
            generate(inputs[n], n)
        sample = inputs[max(args.naive, args.warm + 50, args.plain_naive)]

        print(f"naive loop (pySHACL per request, {args.naive} requests) ...", file=sys.stderr)
        figures["naive"] = _child(["_naive", str(sample), str(args.naive)])
        if args.plain_naive:
            figures["naive_plain"] = _child(["_plain", str(sample), str(args.plain_naive)])
        print("warm evaluate ...", file=sys.stderr)
        figures["warm"] = _child(["_warm", str(sample), str(args.warm)])
        for n in sizes:
            for w in workers:
                print(f"batch N={n} workers={w} ...", file=sys.stderr)
                out = Path(tmp) / "out.jsonl"
                m = measure([*blincyto, "batch", str(inputs[n]), "-o", str(out), "--workers", str(w)])
                rows = sum(1 for _ in out.open())
                figures["batch"].append({"n": n, "workers": w, "rc": m["rc"], "rows": rows, "wall_s": m["wall_s"],
                                         "cpu_s": m["cpu_s"], "rate": n / m["wall_s"],
                                         "rate_after_start": _summary_rate(m["stderr"]),
                                         "max_rss_mb": m["max_rss_mb"], "tree_rss_mb": m["tree_rss_mb"],
                                         "summary": m["stderr"].strip().splitlines()})
                out.unlink()
        # The machine may be shared: the naive loops again at the end, and the ratios use the mean.
        print("naive loops again ...", file=sys.stderr)
        again = _child(["_naive", str(sample), str(args.naive)])
        figures["naive"]["rates"] = [figures["naive"]["rate"], again["rate"]]
        figures["naive"]["rate"] = statistics.mean(figures["naive"]["rates"])
        if args.plain_naive:
            again = _child(["_plain", str(sample), str(args.plain_naive)])
            figures["naive_plain"]["rates"] = [figures["naive_plain"]["rate"], again["rate"]]
            figures["naive_plain"]["rate"] = statistics.mean(figures["naive_plain"]["rates"])
        print("cold check ...", file=sys.stderr)
        cold = [measure([*blincyto, "check", str(EXAMPLE)]) for _ in range(args.cold)]
        figures["cold"] = {"runs": [c["wall_s"] for c in cold], "median_s": statistics.median(c["wall_s"] for c in cold),
                           "cpu_median_s": statistics.median(c["cpu_s"] for c in cold),
                           "max_rss_mb": max(c["max_rss_mb"] for c in cold)}
    figures["machine"]["load_after"] = os.getloadavg()
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    print(table(figures, args))
    return 0


def table(f: dict, args: argparse.Namespace) -> str:
    """The Markdown table: rates, ratios to both naive loops, peak memory."""
    naive = f["naive"]["rate"]
    plain = f["naive_plain"]["rate"] if "naive_plain" in f else None

    def ratios(rate: float) -> str:
        return f"{rate / naive:.0f}× | " + (f"{rate / plain:.0f}×" if plain else "")

    lines = [
        f"Machine: {f['machine']['cpus']} cores, Python {f['machine']['python']}, load average "
        f"{f['machine']['load_before'][0]:.1f} before / {f['machine']['load_after'][0]:.1f} after.",
        "",
        "| what | requests | requests/s | vs (a) | vs (a') | peak RSS (largest process / all) | notes |",
        "|---|---:|---:|---:|---:|---:|---|",
        f"| (a) naive loop, cached shapes: `Reasoner(engine=\"pyshacl\")` per request | {f['naive']['n']:,} | "
        f"{naive:.1f} | 1× | {naive / plain:.2f}× | {f['naive']['max_rss_mb']:.0f} MB | "
        f"{f['naive']['cpu_s'] / f['naive']['n'] * 1000:.0f} ms CPU a request; rate at start / end "
        f"{f['naive']['rates'][0]:.1f} / {f['naive']['rates'][1]:.1f} |" if plain else None,
    ]
    if plain:
        pl = f["naive_plain"]
        lines.append(f"| (a') naive loop: `pyshacl.validate()` + explain/decide per request | {pl['n']:,} | {plain:.1f} | "
                     f"{plain / naive:.2f}× | 1× | {pl['max_rss_mb']:.0f} MB | "
                     f"{pl['cpu_s'] / pl['n'] * 1000:.0f} ms CPU a request; rate at start / end "
                     f"{pl['rates'][0]:.1f} / {pl['rates'][1]:.1f} |")
    w = f["warm"]
    lines.append(f"| (b) `evaluate` warm (fast path) | {w['n']:,} | {w['rate']:.0f} | {ratios(w['rate'])} | "
                 f"{w['max_rss_mb']:.0f} MB | median {w['median_ms']:.2f} ms, p95 {w['p95_ms']:.2f} ms wall; "
                 f"CPU median {w['cpu_median_ms']:.2f} ms, p95 {w['cpu_p95_ms']:.2f} ms |")
    for b in f["batch"]:
        lines.append(f"| (c) `blincyto batch --workers {b['workers']}` | {b['n']:,} | {b['rate']:.0f} | {ratios(b['rate'])} | "
                     f"{b['max_rss_mb']:.0f} / {b['tree_rss_mb']:.0f} MB | wall {b['wall_s']:.1f} s incl. start-up, "
                     f"CPU {b['cpu_s']:.1f} s; {b['rows']:,} rows, exit {b['rc']} |")
    c = f["cold"]
    lines.append(f"| (d) cold `blincyto check` (median of {len(c['runs'])} runs) | 1 | | | | {c['max_rss_mb']:.0f} MB | "
                 f"{c['median_s']:.2f} s wall, {c['cpu_median_s']:.2f} s CPU |")
    return "\n".join(line for line in lines if line is not None)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ("_naive", "_plain", "_warm"):
        kind, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
        result = child_warm(path, n) if kind == "_warm" else child_naive(path, n, plain=kind == "_plain")
        print(json.dumps(result))
        sys.exit(0)
    sys.exit(main(sys.argv[1:]))
