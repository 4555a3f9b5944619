"""`blincyto serve-fhir` under load: latency and throughput of PAS `$submit` and CRD `order-sign`.

The real service is started (on-disk store, bearer token, loopback) and driven over HTTP by 1, 10
and 50 concurrent clients (asyncio + httpx, one connection each), every request a different
generated one (tests/requestgen.py written as a PAS Bundle by tests/fhirgen.py; each $submit a new
Claim, so each is decided and written to the store). Reports p50 / p90 / p99 latency, requests per
second, and the ratio of p90 to the Da Vinci budgets (CRD: 5 s for 90 % of calls; PAS: 15 s).

    python benchmarks/services.py                   # 300 requests per operation and level, --workers 0 and 2
    python benchmarks/services.py --n 100 --levels 1,10,50 --workers 0,2,4 --json services.json

Not a test. The client shares the machine with the service: on the 2-core development machine both
compete for the same CPU, which is part of what the figures say.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import httpx  # noqa: E402
from fhirgen import BundleWriter  # noqa: E402
from requestgen import requests  # noqa: E402
from services_util import fhir_server, hook_request  # noqa: E402

from reasoner.flow.engine import default_reasoner  # noqa: E402

BUDGET_S = {"submit": 15.0, "order-sign": 5.0}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


async def drive(url: str, token: str, path: str, bodies: list[bytes], clients: int, media: str) -> dict:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    latencies: list[float] = []
    failures = 0

    async def worker() -> None:
        nonlocal failures
        headers = {"Authorization": f"Bearer {token}", "Content-Type": media}
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120, limits=limits) as client:
            while True:
                try:
                    body = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                t = time.perf_counter()
                r = await client.post(path, content=body)
                latencies.append(time.perf_counter() - t)
                failures += r.status_code != 200

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    wall = time.perf_counter() - started
    return {"clients": clients, "n": len(latencies), "failures": failures, "wall_s": wall,
            "throughput": len(latencies) / wall, "p50_ms": percentile(latencies, 0.5) * 1000,
            "p90_ms": percentile(latencies, 0.9) * 1000, "p99_ms": percentile(latencies, 0.99) * 1000,
            "mean_ms": statistics.mean(latencies) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="requests per operation and concurrency level")
    parser.add_argument("--levels", default="1,10,50")
    parser.add_argument("--workers", default="0,2", help="serve-fhir --workers settings to compare, side by side")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    writer = BundleWriter(default_reasoner().kb)
    base = list(requests(args.n, seed=21))

    def submit_bodies() -> list[bytes]:
        out = []
        for r in base:
            r = dict(r, id=f"{r['id']}-{uuid.uuid4().hex[:8]}")
            out.append(json.dumps(writer.bundle(r)).encode())
        return out

    def sign_bodies() -> list[bytes]:
        out = []
        for r in base:
            r = dict(r, id=f"{r['id']}-{uuid.uuid4().hex[:8]}")
            out.append(json.dumps(hook_request(writer, r)).encode())
        return out

    rows = []
    for workers in [int(w) for w in args.workers.split(",")]:
        with tempfile.TemporaryDirectory() as tmp, fhir_server(Path(tmp), args=("--workers", str(workers))) as server:
            warm = submit_bodies()[:10] + sign_bodies()[:10]
            asyncio.run(drive(server.url, server.client_token, "/Claim/$submit", warm[:10], 2, "application/fhir+json"))
            asyncio.run(drive(server.url, server.client_token, "/cds-services/blincyto-crd-order-sign", warm[10:], 2,
                              "application/json"))
            for level in levels:
                for op, path, bodies, media in (("submit", "/Claim/$submit", submit_bodies(), "application/fhir+json"),
                                                ("order-sign", "/cds-services/blincyto-crd-order-sign", sign_bodies(),
                                                 "application/json")):
                    row = asyncio.run(drive(server.url, server.client_token, path, bodies, level, media))
                    row.update(operation=op, workers=workers, budget_ratio_p90=BUDGET_S[op] / (row["p90_ms"] / 1000))
                    rows.append(row)
                    print(f"workers {workers}  {op:<10} clients {level:>3}: p50 {row['p50_ms']:7.1f} ms  "
                          f"p90 {row['p90_ms']:7.1f} ms  p99 {row['p99_ms']:7.1f} ms  {row['throughput']:6.1f} req/s  "
                          f"failures {row['failures']}  p90 inside the {BUDGET_S[op]:g} s budget "
                          f"x{row['budget_ratio_p90']:.1f}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
