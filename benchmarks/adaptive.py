"""The adaptive DTR form against the full questionnaire: questions asked, and the decision reached.

Every case of tests/cases (with its extra knowledge base where it has one) and N generated requests
(tests/requestgen.py): the order's FHIR data pre-fills the form, the adaptive form asks until no
unanswered question can change the decision, each answer taken from the complete request (or
declined when it lacks the fact). Reports the questions asked against the full questionnaire's
(enabled and not pre-filled), per decision, and every request whose decision differs from the
complete request's (there should be none). Not a test; tests/test_services.py runs a sample.

    python benchmarks/adaptive.py              # all cases and 500 generated requests
    python benchmarks/adaptive.py --generated 100 --json adaptive.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from adaptive_run import run_all  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generated", type=int, default=500)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    started = time.perf_counter()
    report = run_all(args.generated, args.seed)
    seconds = time.perf_counter() - started
    n = report["requests"]
    print(f"{n} requests ({args.generated} generated), {seconds:.0f} s")
    c = report["counted"]
    print(f"questions: adaptive {report['asked']} ({report['asked'] / c:.2f} a request), "
          f"full questionnaire {report['full']} ({report['full'] / c:.2f} a request): "
          f"{report['asked'] / max(report['full'], 1):.0%} of the full form")
    print(f"{'decision':<12} {'requests':>8} {'adaptive':>9} {'full':>6}")
    for decision, count in sorted(report["per_decision"].items()):  # every request counted (full_every 1)
        print(f"{decision:<12} {count:>8} {report['asked_mean_by_decision'][decision]:>9.2f} "
              f"{report['full_mean_by_decision'][decision]:>6.2f}")
    print(f"decision reached = decision on the complete request: {n - len(report['mismatches'])} of {n}")
    for name, result in report["mismatches"]:
        print(f"  MISMATCH {name}: reached {result['reached']}, complete {result['wanted']}, asked {result['asked']}")
    if args.json:
        args.json.write_text(json.dumps({k: v for k, v in report.items() if k != "mismatches"} |
                                        {"mismatches": [m[0] for m in report["mismatches"]], "seconds": seconds},
                                        indent=2))


if __name__ == "__main__":
    main()
