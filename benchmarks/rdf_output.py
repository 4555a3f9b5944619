"""Benchmark: RDF output against JSON Lines, side by side in one run (issue 16, item 1).

    python benchmarks/rdf_output.py                      # 2,000 generated requests, 2 rounds
    python benchmarks/rdf_output.py --n 500 --rounds 1   # a quick look

Rows, each the same requests (tests/requestgen.py), alternated round by round so that a change in the
machine's load touches them all alike; the figure is requests per second of CPU in this process
(one worker: `run_batch(..., workers=1)`), and the ratio to JSON Lines of the same round:

- `batch --format jsonl` (the baseline) and `batch --format nq` (N-Quads written directly);
- `batch --format nq`, rdflib (the reference: the dataset built and serialized by rdflib, as before);
- `batch --store DIR` (JSON Lines out, each chunk of 128 stored in one Oxigraph transaction first);
- the store: evaluate and `LocalStore.add_all` (one Oxigraph transaction a chunk of 128), and with
  the bulk loader, into an on-disk store (what `check --store` and a pipeline writing to the store do).

Not a test: nothing here fails on a slow machine; it reports.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))


def _cpu(fn) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="requests a row (default 2,000)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", help="write the figures here too")
    args = ap.parse_args()

    from requestgen import requests

    import reasoner.pipelines.rows as rows
    from reasoner.flow.engine import default_reasoner
    from reasoner.flow.provenance import determination_graph
    from reasoner.pipelines.batch import Format, run_batch
    from reasoner.sparql import store as st

    engine = default_reasoner()
    tmp = Path(tempfile.mkdtemp(prefix="rdf-output-"))
    src = tmp / "in.jsonl"
    reqs = list(requests(args.n, seed=16))
    src.write_text("".join(json.dumps(r) + "\n" for r in reqs))
    for r in reqs[:50]:  # warm: templates of the shapes graph, term caches, the store's KB parse
        st.determination_nquads(engine.evaluate_full(r))
    fast_nq = rows.format_nq

    def reference_nq(ev, record):
        rows._json(ev.determination)
        text = determination_graph(ev).serialize(format="nquads")
        mark = {"id": ev.determination["id"], "decision": ev.determination["decision"], **record.source}
        return text + rows.NQ_MARK + json.dumps(mark) + "\n"

    def batch(fmt: Format, formatter=fast_nq):
        def run():
            rows.format_nq = formatter
            try:
                run_batch(src, tmp / f"out.{fmt.value}", fmt, workers=1)
            finally:
                rows.format_nq = fast_nq
        return run

    def store(bulk: bool):
        opened = []

        def setup():  # a new store, created and its knowledge base loaded before the clock starts
            target = tmp / f"store-{bulk}-{time.monotonic_ns()}"
            s = st.open_store(target)
            s.store
            opened.append(s)

        def run():
            s = opened.pop()
            chunk = []
            for r in reqs:
                chunk.append(engine.evaluate_full(r))
                if len(chunk) == 128:
                    s.add_all(chunk, bulk=bulk)
                    chunk = []
            if chunk:
                s.add_all(chunk, bulk=bulk)
            s.close()
        run.setup = setup
        return run

    def batch_store():
        opened = []

        def setup():
            s = st.open_store(tmp / f"batch-store-{time.monotonic_ns()}")
            s.store
            opened.append(s)

        def run():
            s = opened.pop()
            run_batch(src, tmp / "stored.jsonl", Format.jsonl, workers=1, store=s)
            s.close()
        run.setup = setup
        return run

    sample = max(1, args.n // 10)
    rows_ = {
        "batch --format jsonl": (batch(Format.jsonl), args.n),
        "batch --format nq (N-Quads written directly)": (batch(Format.nq), args.n),
        "batch --store (one transaction a chunk)": (batch_store(), args.n),
        "store: add_all, one transaction a chunk": (store(False), args.n),
        "store: add_all, bulk loader": (store(True), args.n),
    }
    reference_src = tmp / "sample.jsonl"
    reference_src.write_text("".join(json.dumps(r) + "\n" for r in reqs[:sample]))

    def reference():
        rows.format_nq = reference_nq
        try:
            run_batch(reference_src, tmp / "ref.nq", Format.nq, workers=1)
        finally:
            rows.format_nq = fast_nq
    rows_[f"batch --format nq, rdflib reference (first {sample})"] = (reference, sample)

    rates: dict[str, list[float]] = {name: [] for name in rows_}
    ratios: dict[str, list[float]] = {name: [] for name in rows_}
    for _ in range(args.rounds):
        base = None
        for name, (fn, count) in rows_.items():
            if hasattr(fn, "setup"):
                fn.setup()
            rate = count / _cpu(fn)
            rates[name].append(rate)
            if base is None:
                base = rate
            ratios[name].append(rate / base)
    print(f"{args.n} generated requests, {args.rounds} rounds, one process; CPU of this process "
          f"(all its threads, RocksDB's included), {os.cpu_count()} cores, shared\n")
    print("| path | requests/s (CPU), mean of rounds | of JSON Lines, each round | mean |")
    print("| --- | --- | --- | --- |")
    for name in rows_:
        each = ", ".join(f"{x:.0%}" for x in ratios[name])
        print(f"| {name} | {statistics.mean(rates[name]):.0f} | {each} | {statistics.mean(ratios[name]):.0%} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"n": args.n, "rates": rates, "ratios": ratios}, indent=2))


if __name__ == "__main__":
    main()
