"""Benchmark: a year of history in the embedded store, then every saved query at that size (issue 16).

    python benchmarks/store_history.py                         # 1,000,000 determinations (7–9 hours, ~126 GB)
    python benchmarks/store_history.py --sizes 10000 30000     # the scaling, in minutes

Determinations are made fast: `--distinct` generated requests (tests/requestgen.py) are evaluated once
and written as the store's N-Quads (`store.determination_nquads`); each stored determination is one
of them with a new UUID (activity, graphs, blank-node labels), a request id of its own and its
PROV-O times moved to a day of the year, so `decisions-by-month` and `history` see a year of
distinct requests. They go in through Oxigraph's bulk loader, `--chunk` determinations a call.
Each size is loaded on top of the previous one (one store); after each, every saved query
(queries/*.rq, `blincyto query --list`) runs on the union default graph, as `blincyto query
--store` runs it, its results read to the end; the time of each is reported (target ≤ 2 s).

Not a test: it reports. Disk: about 300 bytes a quad in RocksDB here, ~415 quads a determination
(the report's shape copies held once: docs/sparql.md; 1,000,000 determinations: ~126 GB).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000], help="cumulative store sizes")
    ap.add_argument("--distinct", type=int, default=2000, help="requests actually evaluated")
    ap.add_argument("--chunk", type=int, default=2000, help="determinations a bulk load")
    ap.add_argument("--store", help="store directory (default: a temporary one, removed at the end)")
    ap.add_argument("--query-timeout", type=float, default=120, help="seconds before a query is stopped")
    ap.add_argument("--json", help="write the figures here too")
    args = ap.parse_args()

    import pyoxigraph as ox
    from requestgen import requests

    from reasoner.flow.engine import default_reasoner
    from reasoner.sparql import store as st

    engine = default_reasoner()
    t0 = time.perf_counter()
    templates = []
    written: set[str] = set()  # the reports' shape copies: each written once, then once a chunk (as add_all does)
    copies: list[str] = []
    copy_end = f"<{st.SHAPE_COPIES_GRAPH}> .\n"
    for r in requests(args.distinct, seed=2026):
        ev = engine.evaluate_full(r)
        iri, text = st.determination_nquads(ev, written)
        lines = text.splitlines(keepends=True)
        copies.extend(line for line in lines if line.endswith(copy_end))
        text = "".join(line for line in lines if not line.endswith(copy_end))
        templates.append((iri.rsplit(":", 1)[1], r["id"], ev.started_at.isoformat()[:10], text))
    copies_text = "".join(copies)
    made = time.perf_counter() - t0
    quads_each = sum(t[3].count("\n") for t in templates) / len(templates)
    print(f"{args.distinct} requests evaluated and written as N-Quads in {made:.1f} s; "
          f"{quads_each:.0f} quads a determination, and {len(copies)} quads of shape copies once a chunk",
          flush=True)

    target = Path(args.store or tempfile.mkdtemp(prefix="history-")) / "store"
    year = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def determination(i: int) -> str:
        old_uuid, old_id, old_day, text = templates[i % len(templates)]
        new = uuid.uuid4()
        day = (year + timedelta(days=i * 365 // max(args.sizes))).date().isoformat()
        return (text.replace(old_uuid, str(new)).replace(old_uuid.replace("-", ""), new.hex)
                .replace(old_id, f"{old_id}-{i}").replace(f'"{old_day}T', f'"{day}T'))

    figures = []
    with st.open_store(target) as s:
        s.store
        done = 0
        for size in args.sizes:
            start, cpu = time.perf_counter(), time.process_time()
            while done < size:
                n = min(args.chunk, size - done)
                data = (copies_text + "".join(determination(done + k) for k in range(n))).encode("utf-8")
                s.store.bulk_load(data, format=ox.RdfFormat.N_QUADS)
                done += n
            s.store.flush()
            wall = time.perf_counter() - start
            loaded = size - (figures[-1]["size"] if figures else 0)
            row = {"size": size, "load_s": wall, "load_cpu_s": time.process_time() - cpu,
                   "determinations_per_s": loaded / wall, "quads_per_s": loaded * quads_each / wall,
                   "disk_gb": sum(p.stat().st_size for p in target.rglob("*") if p.is_file()) / 1e9,
                   "queries": {}}
            print(f"\n{size:,} determinations: +{loaded:,} loaded in {wall:.1f} s "
                  f"({row['determinations_per_s']:.0f} determinations/s, {row['quads_per_s']:,.0f} quads/s), "
                  f"store {row['disk_gb']:.2f} GB", flush=True)
            for name, path in st.saved_queries().items():
                seconds, count = _timed_query(target, path, args.query_timeout)
                row["queries"][name] = {"s": seconds, "rows": count}
                shown = f"{seconds:8.2f} s  {count:6} rows" if count is not None else f"> {args.query_timeout:.0f} s (stopped)"
                print(f"  {name:28} {shown}{'' if seconds <= 2 else '  > 2 s'}", flush=True)
            figures.append(row)
    if not args.store:
        shutil.rmtree(target.parent, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"quads_each": quads_each, "figures": figures}, indent=2))


_QUERY = """
import sys, time
sys.path.insert(0, sys.argv[3])
from reasoner.sparql.store import query_local, with_prefixes
text = with_prefixes(open(sys.argv[2], encoding="utf-8").read())
start = time.perf_counter()
result = query_local(sys.argv[1], text)
count = 1 if isinstance(result, bool) else sum(1 for _ in result)
print(time.perf_counter() - start, count)
"""


def _timed_query(target: Path, path: Path, timeout: float) -> tuple[float, int | None]:
    """One saved query on the store (opened read-only, as `blincyto query --store` opens it), in a
    child process so a query that runs away can be stopped: (seconds, rows), rows None if stopped."""
    import subprocess

    try:
        done = subprocess.run([sys.executable, "-c", _QUERY, str(target), str(path), str(ROOT)],
                              capture_output=True, text=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return timeout, None
    seconds, count = done.stdout.split()
    return float(seconds), int(count)


if __name__ == "__main__":
    main()
