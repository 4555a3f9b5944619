"""FHIR input against contract input, side by side in one run: the same generated requests, once as
contract v1 JSON and once as PAS request Bundles (tests/fhirgen.py), both as raw bytes through
`evaluate_text` (what check, batch and Spark call). Not a test; it reports the ratio.

    python benchmarks/fhir.py            # 200 requests
    python benchmarks/fhir.py --n 1000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fhirgen import BundleWriter  # noqa: E402
from requestgen import requests  # noqa: E402

from reasoner.fhir.evaluate import evaluate_text  # noqa: E402
from reasoner.flow.engine import default_reasoner  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    n = parser.parse_args().n
    engine = default_reasoner()
    writer = BundleWriter(engine.kb)
    reqs = list(requests(n, seed=3))
    contract = [json.dumps(r).encode() for r in reqs]
    bundles = [json.dumps(writer.bundle(r)).encode() for r in reqs]
    for a, b in zip(contract[:5], bundles[:5]):  # warm: compiled shapes and FHIRPath expressions
        evaluate_text(engine, a)
        evaluate_text(engine, b)
    t0 = time.process_time()
    for data in contract:
        evaluate_text(engine, data)
    t1 = time.process_time()
    for data in bundles:
        evaluate_text(engine, data)
    t2 = time.process_time()
    print(f"contract v1: {1000 * (t1 - t0) / n:.2f} ms CPU a request; FHIR Bundle: {1000 * (t2 - t1) / n:.2f} ms "
          f"a Bundle; ratio {(t2 - t1) / (t1 - t0):.1f} ({n} requests)")


if __name__ == "__main__":
    main()
