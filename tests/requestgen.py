"""Seeded generator of contract-v1 requests, independent of the engine.

`requests(n, seed)` yields `n` valid requests: each starts from a template that meets one pathway
(every pathway of I.A.4 and II.A) and then, with some probability, has facts dropped (missing) or
changed to other valid values (not met), so every decision and every kind of failure appears.
The same seed gives the same requests. Used by the differential test and by benchmarks/bench.py.
"""

from __future__ import annotations

import copy
import random
from datetime import date, timedelta
from typing import Any, Iterator

QUALIFYING = ["hematology", "oncology", "hematology-oncology", "pediatric hematology-oncology"]
NON_QUALIFYING = ["internal medicine", "cardiology", "family medicine"]
AGENTS = ["imatinib", "dasatinib", "Sprycel", "Tasigna", "Bosulif", "Iclusig", "vincristine", "methotrexate",
          "mercaptopurine", "prednisone", "dexamethasone", "cytarabine", "daunorubicin", "pegaspargase",
          "POMP", "Interfant-21", "Xylotinib", "investigational agent QX-17"]
ENUMS = {
    ("line_of_business",): ["commercial", "HIM", "medicaid"],
    ("formulary_status",): ["formulary", "non-formulary"],
    ("diagnosis", "condition"): ["B-ALL", "B-ALL", "T-ALL", "AML"],
    ("diagnosis", "ph_status"): ["positive", "negative", "ph-like", "unknown"],
    ("diagnosis", "disease_status"): ["newly-diagnosed", "complete-remission", "relapsed", "refractory"],
    ("diagnosis", "mrd", "status"): ["positive", "negative", "unavailable"],
    ("regimen", "phase"): ["induction", "consolidation", "maintenance", "post-consolidation"],
    ("regimen", "mode"): ["single-agent", "combination", "alternating"],
    ("prescriber", "specialty"): QUALIFYING + NON_QUALIFYING,
    ("member", "hypersensitivity_to_blinatumomab"): [True, False],
    ("diagnosis", "cd19_positive"): [True, False],
    ("diagnosis", "kmt2a_rearranged"): [True, False],
    ("continuation", "receiving_via_benefit"): [True, False],
    ("continuation", "indication_covered"): [True, False],
    ("continuation", "responding"): [True, False],
    ("continuation", "days_on_therapy"): [5, 29, 30, 90],
}
CONTINUATION = [k for k in ENUMS if k[0] == "continuation"]
OPTIONAL = [("formulary_status",), ("member", "weight_kg"), ("member", "height_cm"),
            ("prescriber", "consulting_specialties"), ("diagnosis", "diagnosis_date"),
            ("diagnosis", "cd19_positive"), ("diagnosis", "ph_status"), ("diagnosis", "kmt2a_rearranged"),
            ("diagnosis", "disease_status"), ("diagnosis", "mrd"), ("regimen",), ("regimen", "phase"),
            ("regimen", "mode"), ("regimen", "with"), ("dose",), ("dose", "supporting_evidence"),
            ("continuation", "receiving_via_benefit"), ("continuation", "days_on_therapy"),
            ("continuation", "indication_covered"), ("continuation", "responding"),
            ("continuation", "previous_dose")]

ADULT = {"birth_date": -40 * 365, "weight_kg": 72, "height_cm": 175}
CHILD = {"birth_date": -9 * 365, "weight_kg": 30, "height_cm": 135}
INFANT = {"birth_date": -8 * 30, "weight_kg": 8, "height_cm": 68}


def _template(pathway: str) -> dict[str, Any]:
    """A request meeting `pathway` (ages as days before the request date, resolved later)."""
    dx = {"condition": "B-ALL", "cd19_positive": True, "ph_status": "negative"}
    member, regimen = dict(ADULT), {"mode": "single-agent", "with": []}
    if pathway == "I.A.4.a":
        dx |= {"disease_status": "complete-remission", "mrd": {"status": "positive", "level_percent": 0.5}}
        regimen |= {"phase": "consolidation"}
    elif pathway == "I.A.4.b.i":
        dx |= {"ph_status": "positive", "disease_status": "newly-diagnosed"}
        regimen = {"phase": "induction", "mode": "combination", "with": ["dasatinib", "prednisone"]}
    elif pathway == "I.A.4.b.ii":
        dx |= {"ph_status": "positive", "disease_status": "relapsed"}
    elif pathway == "I.A.4.c.i":
        dx |= {"disease_status": "complete-remission", "mrd": {"status": "negative"}}
        regimen |= {"phase": "consolidation"}
    elif pathway == "I.A.4.c.ii":
        dx |= {"disease_status": "refractory"}
    elif pathway == "I.A.4.c.iii":
        dx |= {"disease_status": "complete-remission", "mrd": {"status": "unavailable"}}
        regimen = {"phase": "maintenance", "mode": "alternating", "with": ["POMP"]}
    elif pathway == "I.A.4.c.iv":
        member = dict(CHILD)
        dx |= {"disease_status": "complete-remission"}
        regimen |= {"phase": "post-consolidation"}
    elif pathway == "I.A.4.d":
        member = dict(CHILD)
        dx |= {"ph_status": "ph-like", "disease_status": "complete-remission"}
        regimen |= {"phase": "post-consolidation"}
    elif pathway == "I.A.4.e":
        member = dict(INFANT)
        dx |= {"kmt2a_rearranged": True, "disease_status": "newly-diagnosed"}
        regimen = {"phase": "induction", "mode": "combination", "with": ["Interfant-21"]}
    request: dict[str, Any] = {
        "request_type": "continuation" if pathway == "II.A" else "initial",
        "line_of_business": "commercial", "formulary_status": "formulary", "member": member,
        "prescriber": {"specialty": "hematology"}, "diagnosis": dx, "regimen": regimen,
        "dose": {"value": 28, "unit": "mcg/day"} if member["weight_kg"] >= 45 else {"value": 15, "unit": "mcg/m2/day"},
    }
    if pathway == "II.A":
        dx["disease_status"] = "complete-remission"
        request["continuation"] = {"receiving_via_benefit": True, "days_on_therapy": 60, "indication_covered": True,
                                   "responding": True, "previous_dose": {"value": 28, "unit": "mcg/day"}}
    return request


PATHWAYS = ["I.A.4.a", "I.A.4.b.i", "I.A.4.b.ii", "I.A.4.c.i", "I.A.4.c.ii", "I.A.4.c.iii", "I.A.4.c.iv",
            "I.A.4.d", "I.A.4.e", "II.A", "II.A", "II.A"]


def _get_parent(obj: dict, path: tuple[str, ...], create: bool) -> dict | None:
    for part in path[:-1]:
        if not isinstance(obj.get(part), dict):
            if not create:
                return None
            obj[part] = {}
        obj = obj[part]
    return obj


def _mutate(rng: random.Random, req: dict[str, Any]) -> None:
    kind = rng.random()
    if kind < 0.35:  # drop an optional fact: missing
        path = rng.choice(OPTIONAL)
        parent = _get_parent(req, path, create=False)
        if parent is not None:
            parent.pop(path[-1], None)
    elif kind < 0.75:  # change an enumerated fact: not met (or another pathway)
        if req["request_type"] == "continuation" and rng.random() < 0.5:
            path = rng.choice(CONTINUATION)
        else:
            path = rng.choice(list(ENUMS))
        values = ENUMS[path]
        parent = _get_parent(req, path, create=True)
        parent[path[-1]] = rng.choice(values)
    elif kind < 0.85:  # the dose: above the maximum, with or without evidence
        dose = {"value": rng.choice([10, 28, 35, 60]), "unit": "mcg/day"}
        if rng.random() < 0.4:
            dose["supporting_evidence"] = "NCCN Guidelines, ALL, Version 1.2024"
        req["dose"] = dose
        if req["request_type"] == "continuation" and rng.random() < 0.5:
            req.setdefault("continuation", {})["previous_dose"] = {"value": rng.choice([9, 28]), "unit": "mcg/day"}
    elif kind < 0.93:  # the agents given with Blincyto
        req.setdefault("regimen", {})["with"] = rng.sample(AGENTS, rng.randint(0, 4))
    else:  # the prescriber consults
        req["prescriber"]["specialty"] = rng.choice(NON_QUALIFYING)
        if rng.random() < 0.7:
            req["prescriber"]["consulting_specialties"] = rng.sample(QUALIFYING + NON_QUALIFYING, rng.randint(0, 2))


def _dates(rng: random.Random, req: dict[str, Any]) -> None:
    request_date = date(2026, 1, 1) + timedelta(days=rng.randint(0, 700))
    req["request_date"] = request_date.isoformat()
    member = req["member"]
    offset = member["birth_date"] if isinstance(member["birth_date"], int) else -30 * 365
    if rng.random() < 0.05:
        offset = -rng.randint(0, 45)  # a newborn: under one month, I.A.3
    birth = request_date + timedelta(days=offset + rng.randint(-60, 60))
    birth = min(birth, request_date)
    member["birth_date"] = birth.isoformat()
    dx = req["diagnosis"]
    if dx.get("diagnosis_date") is not None or rng.random() < 0.5:
        days = (request_date - birth).days
        dx["diagnosis_date"] = (birth + timedelta(days=rng.randint(0, days))).isoformat()


def requests(n: int, seed: int = 0) -> Iterator[dict[str, Any]]:
    """`n` valid requests: templates of every pathway, some unchanged, most mutated 1-3 times."""
    rng = random.Random(seed)
    for i in range(n):
        pathway = PATHWAYS[i % len(PATHWAYS)]
        req = copy.deepcopy(_template(pathway))
        req["id"] = f"gen-{seed}-{i:07d}"
        req["line_of_business"] = rng.choice(["commercial", "HIM", "medicaid"])
        for _ in range(rng.choice([0, 1, 1, 2, 3])):
            _mutate(rng, req)
        _dates(rng, req)
        yield req
