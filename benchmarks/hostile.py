"""The probes of issue 13, as figures: fuzzed requests, inputs that cost more than their size, and a batch
killed, run twice at once and run out of disk. Not a test; it reports (the tests assert the same
properties without timing them).

    python benchmarks/hostile.py                       # 20,000 fuzzed requests, 4 kills over 4,000 records
    python benchmarks/hostile.py --fuzz 40000 --kill-records 20000 --kills 10   # the issue's sizes
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))
CLI = [sys.executable, "-m", "reasoner.cli"]


def fuzz(n: int) -> dict:
    from fuzzgen import hostile
    from reasoner.flow.check import WHOLE_REQUEST, InvalidRequest, parse_request_text
    from reasoner.flow.engine import default_reasoner

    engine = default_reasoner()
    counts: Counter = Counter()
    started = time.perf_counter()
    for req, text, _note in hostile(n, seed=4242):
        try:
            ev = engine.evaluate_full(parse_request_text(text), checked=True) if text else engine.evaluate_full(req)
            json.dumps(ev.determination, allow_nan=False)
            counts["decided"] += 1
        except InvalidRequest as exc:
            counts["rejected"] += 1
            counts["named a field"] += exc.field != WHOLE_REQUEST
        except Exception:  # noqa: BLE001 - what the probe counts
            counts["crashed"] += 1
    counts["seconds"] = round(time.perf_counter() - started, 1)
    return dict(counts)


def costs() -> list[tuple[str, int, float, str]]:
    """(probe, bytes, seconds, outcome) for the inputs the issue found too costly."""
    from reasoner.flow.check import InvalidRequest, parse_request_text

    base = json.loads((ROOT / "examples" / "approve-initial-mrd-positive-pediatric-medicaid.json").read_text())
    probes = {
        "200,000 list items (600 KB)": {**base, "regimen": {"with": [1] * 200_000}},
        "100,000 unknown agents": {**base, "regimen": {"with": ["a"] * 100_000}},
        "1 MB id": {**base, "id": "x" * 1_000_000},
        "5,000 unknown keys": {**base, **{f"k{i}": i for i in range(5_000)}},
        "nested 200,000 deep": None,
    }
    out = []
    parse_request_text(json.dumps(base))  # warm
    for name, req in probes.items():
        text = (b'{"id": ' + b"[" * 200_000 + b"]" * 200_000 + b"}") if req is None else json.dumps(req).encode()
        started = time.perf_counter()
        try:
            parse_request_text(text)
            outcome = "accepted"
        except InvalidRequest as exc:
            outcome = f"{exc.field}: {exc.reason} ({len(exc.errors)} errors)"
        out.append((name, len(text), time.perf_counter() - started, outcome))
    return out


def _write(path: Path, reqs: list) -> None:
    with path.open("w") as f:
        for r in reqs:
            f.write(json.dumps(r) + "\n")


def _rows(path: Path) -> list[int]:
    return [json.loads(line)["line"] for line in path.read_text().splitlines()]


def kill_and_resume(n: int, kills: int, workdir: Path) -> dict:
    """`kills` kill -9 of a batch of `n` requests (a quarter under a reused id), each followed by --resume."""
    from requestgen import requests

    reqs = list(requests(n, seed=77))
    for i in range(3, n, 4):
        reqs[i]["id"] = reqs[i - 3]["id"]
    src, out = workdir / "kill-in.jsonl", workdir / "kill-out.jsonl"
    _write(src, reqs)
    cmd = [*CLI, "batch", str(src), "-o", str(out), "--workers", "2"]
    done_kills = 0
    for k in range(kills):
        proc = subprocess.Popen(cmd + (["--resume"] if k else []), cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        target = (k + 1) * n // (kills + 1)
        while proc.poll() is None and not (out.exists() and out.read_bytes().count(b"\n") >= target):
            time.sleep(0.05)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            done_kills += 1
    final = subprocess.run(cmd + ["--resume"], cwd=ROOT, capture_output=True, text=True)
    lines = _rows(out)
    return {"records": n, "reused ids": n // 4, "kills": done_kills, "rows": len(lines),
            "lost": len(set(range(1, n + 1)) - set(lines)), "duplicated": len(lines) - len(set(lines)),
            "exit": final.returncode}


def concurrent(n: int, workdir: Path) -> dict:
    from requestgen import requests

    src, out = workdir / "conc-in.jsonl", workdir / "conc-out.jsonl"
    _write(src, list(requests(n, seed=78)))
    cmd = [*CLI, "batch", str(src), "-o", str(out), "--workers", "1"]
    first = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not (out.exists() and out.stat().st_size):
        time.sleep(0.05)
    others = [subprocess.run(cmd + extra, cwd=ROOT, capture_output=True, text=True)
              for extra in (["--resume"], ["--resume"], ["--resume"], [])]
    first.wait()
    lines = _rows(out)
    return {"requests": n, "second runs refused (exit 3)": sum(r.returncode == 3 for r in others),
            "of": len(others), "rows": len(lines), "duplicated": len(lines) - len(set(lines))}


PEAK = """
import sys
from reasoner.pipelines.batch import run_batch
run_batch(sys.argv[1], sys.argv[2], workers=1)
# VmHWM, not ru_maxrss: the latter keeps the parent's peak across fork/vfork and exec
print(next(line for line in open("/proc/self/status") if line.startswith("VmHWM")).split()[1])
"""


def memory(workdir: Path, line_mb: int = 300, zero_s: int = 5) -> dict:
    """Peak RSS of a batch reading a `line_mb` MB line (then one request), and of one reading /dev/zero for
    `zero_s` seconds."""
    from requestgen import requests

    line = workdir / "huge.jsonl"
    with line.open("wb") as f:
        for _ in range(line_mb):
            f.write(b"x" * (1 << 20))
        f.write(b"\n" + json.dumps(next(iter(requests(1, seed=1)))).encode() + b"\n")
    peak = subprocess.run([sys.executable, "-c", PEAK, str(line), str(workdir / "huge-out.jsonl")], cwd=ROOT,
                          capture_output=True, text=True).stdout.split()
    small = workdir / "small.jsonl"
    small.write_text(json.dumps(next(iter(requests(1, seed=1)))) + "\n")
    baseline = subprocess.run([sys.executable, "-c", PEAK, str(small), str(workdir / "small-out.jsonl")], cwd=ROOT,
                              capture_output=True, text=True).stdout.split()
    line.unlink()
    proc = subprocess.Popen([*CLI, "batch", "/dev/zero", "-o", str(workdir / "zero-out.jsonl"), "--workers", "1"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rss = []
    for _ in range(max(5, zero_s * 5)):
        time.sleep(0.2)
        status = Path(f"/proc/{proc.pid}/status").read_text()
        rss.append(int(next(x for x in status.splitlines() if x.startswith("VmRSS")).split()[1]))
    proc.kill()
    proc.wait()
    return {f"{line_mb} MB line then a request: peak RSS MB": int(peak[-1]) // 1024,
            "one request alone: peak RSS MB": int(baseline[-1]) // 1024,
            f"/dev/zero for {len(rss) // 5} s: RSS MB at 1 s / max / at {len(rss) // 5} s":
                f"{rss[4] // 1024} / {max(rss) // 1024} / {rss[-1] // 1024}"}


def full_disk(workdir: Path) -> dict:
    """A 4 MB tmpfs filled but for 200 KB (needs user namespaces): exit status, then resume."""
    from requestgen import requests

    if not shutil.which("unshare"):
        return {"skipped": "no unshare"}
    mnt = workdir / "mnt"
    mnt.mkdir()
    src = workdir / "disk-in.jsonl"
    _write(src, list(requests(600, seed=79)))
    batch = " ".join([*CLI, "batch", str(src), "-o", str(mnt / "out.jsonl"), "--workers", "1"])
    script = (f"mount -t tmpfs -o size=4m tmpfs {mnt} || exit 99; head -c 3800000 /dev/zero > {mnt}/filler; "
              f"{batch} 2> {workdir}/e1; echo $? > {workdir}/rc1; rm {mnt}/filler; "
              f"{batch} --resume 2>/dev/null; echo $? > {workdir}/rc2; cp {mnt}/out.jsonl {workdir}/disk-out.jsonl")
    done = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script], cwd=ROOT,
                          capture_output=True, text=True)
    if done.returncode:
        return {"skipped": "cannot mount a tmpfs"}
    lines = _rows(workdir / "disk-out.jsonl")
    return {"first run exit": (workdir / "rc1").read_text().strip(), "message": (workdir / "e1").read_text().strip(),
            "resume exit": (workdir / "rc2").read_text().strip(), "rows": len(lines),
            "lost": len(set(range(1, 601)) - set(lines)), "duplicated": len(lines) - len(set(lines))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--fuzz", type=int, default=20_000, help="fuzzed requests")
    p.add_argument("--kill-records", type=int, default=4_000)
    p.add_argument("--kills", type=int, default=4)
    p.add_argument("--concurrent", type=int, default=2_000, help="requests of the run the others collide with")
    p.add_argument("--line-mb", type=int, default=300, help="the one long line's size (MB)")
    p.add_argument("--zero-seconds", type=int, default=5, help="how long a batch reads /dev/zero")
    args = p.parse_args()
    print(f"fuzz: {fuzz(args.fuzz)}")
    print("\n| input | bytes | seconds | outcome |\n|---|---:|---:|---|")
    for name, size, seconds, outcome in costs():
        print(f"| {name} | {size:,} | {seconds:.3f} | {outcome} |")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print(f"\nkill -9 and resume: {kill_and_resume(args.kill_records, args.kills, work)}")
        print(f"concurrent runs: {concurrent(args.concurrent, work)}")
        print(f"memory: {memory(work, args.line_mb, args.zero_seconds)}")
        print(f"full disk: {full_disk(work)}")


if __name__ == "__main__":
    main()
