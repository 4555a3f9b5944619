"""The adaptive form against the full questionnaire, in process, over tests/cases and generated requests.

For each request (the complete one: what the provider knows):

1. the order's FHIR data is its PAS Bundle (tests/fhirgen.py) without the QuestionnaireResponse,
   i.e. what FHIR carries; it pre-fills the form (read_bundle, partial);
2. the adaptive form asks (reasoner.services.adaptive.next_question); each question is answered
   from the complete request, or declined when the request does not have that fact either; until it
   says no unanswered question can change the decision;
3. the decision reached must equal the decision on the complete request (decision, and the referral
   policy and section);
4. the full questionnaire's count: its questions enabled once every answer is given (enableWhen read
   by services_util.enabled), less those pre-filled: what a provider fills in without the adaptive form.

Used by tests/test_services.py (a sample) and benchmarks/adaptive.py (all cases and 500 generated).
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path
from typing import Any

CASES_DIR = Path(__file__).parent / "cases"


def _engine(kb_files: tuple[str, ...], cache: dict) -> Any:
    from reasoner.flow.engine import Reasoner, default_reasoner

    if kb_files not in cache:
        cache[kb_files] = default_reasoner() if not kb_files else Reasoner(extra_kb=[CASES_DIR.parent / k for k in kb_files])
    return cache[kb_files]


def requests(generated: int, seed: int = 15) -> list[tuple[str, dict[str, Any], tuple[str, ...]]]:
    import requestgen

    out = []
    for path in sorted(CASES_DIR.glob("*.json")):
        case = json.loads(path.read_text())
        out.append((path.stem, case["request"], tuple(case.get("kb", ()))))
    for i, request in enumerate(requestgen.requests(generated, seed=seed)):
        out.append((f"generated-{i}", request, ()))
    return out


def run_one(engine: Any, request: dict[str, Any], count_full: bool = True) -> dict[str, Any]:
    from fhirgen import BundleWriter
    from services_util import enabled

    from reasoner.fhir.request import read_bundle
    from reasoner.flow.check import check_request
    from reasoner.services.adaptive import next_question
    from reasoner.flow.dotted import get_value, put_value
    from reasoner.services.probe import outcome, probe
    from reasoner.services.questionnaire import answers_of, build_questionnaire, response_items

    full = check_request(request)
    bundle = BundleWriter(engine.kb).bundle(full)
    order = dict(bundle, entry=[e for e in bundle["entry"] if e["resource"]["resourceType"] != "QuestionnaireResponse"])
    known = read_bundle(order, engine.kb, partial=True).request
    current = copy.deepcopy(known)
    declined: set[str] = set()
    asked: list[str] = []
    step = None
    for _ in range(60):
        step = next_question(engine, current, set(asked))
        if step.question is None:
            break
        assert step.question not in asked, f"{step.question} asked twice"
        asked.append(step.question)
        value = get_value(full, step.question)
        if value is None:
            declined.add(step.question)
        else:
            put_value(current, step.question, copy.deepcopy(value))
    else:
        raise AssertionError("the adaptive form did not finish")
    reached = step.probe.outcome if step.probe is not None else outcome(probe(engine, check_request(current)).determination)
    wanted = outcome(engine.evaluate(full))
    if not count_full:
        return {"reached": reached, "wanted": wanted, "asked": asked, "full": None, "declined": sorted(declined)}
    form = build_questionnaire(engine, known)
    complete = {"item": response_items(form.questionnaire["item"], answers_of(engine, full), None)}
    prefilled = set(answers_of(engine, known))
    blank = enabled(form.questionnaire, complete) - prefilled
    return {"reached": reached, "wanted": wanted, "asked": asked, "full": sorted(blank),
            "declined": sorted(declined)}


def run_all(generated: int = 500, seed: int = 15, full_every: int = 1) -> dict[str, Any]:
    """`full_every`: count the full questionnaire for every n-th request only (it costs a form each)."""
    from reasoner.flow.check import InvalidRequest

    cache: dict = {}
    mismatches, per_decision = [], Counter()
    asked = full = count = 0
    asked_by: dict[str, list[int]] = {}
    full_by: dict[str, list[int]] = {}
    counted = 0
    for i, (name, request, kb) in enumerate(requests(generated, seed)):
        engine = _engine(kb, cache)
        try:
            result = run_one(engine, request, count_full=i % full_every == 0)
        except InvalidRequest:
            continue  # a generated request the contract refuses is nobody's form
        count += 1
        decision = result["wanted"][0]
        per_decision[decision] += 1
        if result["full"] is not None:
            counted += 1
            asked += len(result["asked"])
            full += len(result["full"])
            asked_by.setdefault(decision, []).append(len(result["asked"]))
            full_by.setdefault(decision, []).append(len(result["full"]))
        if result["reached"] != result["wanted"]:
            mismatches.append((name, result))
    return {"requests": count, "counted": counted, "mismatches": mismatches, "asked": asked, "full": full,
            "per_decision": dict(per_decision),
            "asked_mean_by_decision": {k: sum(v) / len(v) for k, v in asked_by.items()},
            "full_mean_by_decision": {k: sum(v) / len(v) for k, v in full_by.items()}}
