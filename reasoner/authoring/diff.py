"""What a new policy version changes: criteria added, removed and changed, and the requests that move.

Criteria are compared by number; a criterion's shapes by their constraints (shapetext.flatten), so a
lowered threshold shows as `maxInclusive: <old> -> <new>`, not as blank-node noise. Shapes that no
criterion owns (warnings, building blocks) are compared by name. Impact evaluates each request under
both versions and names the criteria whose status moved.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from rdflib import URIRef
from rdflib.namespace import SH

from reasoner.flow.engine import Reasoner
from reasoner.flow.check import WHOLE_REQUEST, InvalidRequest
from reasoner.authoring.coverage import read_case
from reasoner.policy.kb import Criterion, KnowledgeBase
from reasoner.authoring.outcomes import outcome
from reasoner.authoring.outline import number_key
from reasoner.authoring.shapetext import flatten, qname


@dataclass
class Change:
    """One criterion (by number) or one shape (by name) that differs between two versions."""

    key: str
    kind: str  # "added" | "removed" | "changed"
    details: list[str] = field(default_factory=list)


def _shape_facts(kb: KnowledgeBase, shape: URIRef | None) -> dict[str, str]:
    if shape is None:
        return {}
    info = kb.shape_info.get(shape)
    facts = {f"constraint {k}": v for k, v in flatten(kb.shapes, shape)}
    facts["message"] = info.message if info else str(kb.shapes.value(shape, SH.message) or "")
    if info is not None:
        facts["quotes"] = info.sentence
        facts["number"] = info.number
    return facts


def _criterion_facts(kb: KnowledgeBase, c: Criterion) -> dict[str, str]:
    numbers = lambda iris: " ".join(kb.criteria[i].number if i in kb.criteria else qname(i) for i in iris)  # noqa: E731
    facts = {
        "sentence": c.sentence,
        "combination": {"all": "must meet all", "any": "one of"}.get(c.combination or "", "leaf"),
        "parts": numbers(c.children),
        "pathway": "yes" if c.is_pathway else "no",
        "deny when not met": "yes" if c.deny_when_not_met else "no",
        "asks for": ", ".join(c.asks_for),
        "approval months": "" if c.approval_months is None else str(c.approval_months),
        "otherwise": numbers([c.otherwise]) if c.otherwise is not None else "",
        "referrals": ", ".join(sorted(f"{kb.name_of(lob)} -> {kb.identifiers.get(p, qname(p))}"
                                      for lob, p in c.referrals.items())),
    }
    for role, shape in (("shape", c.shape), ("open shape", c.open_shape), ("note shape", c.note_shape)):
        facts.update({f"{role} {k}": v for k, v in _shape_facts(kb, shape).items()})
        facts[f"{role}"] = "" if shape is None else qname(shape)
    return {k: v for k, v in facts.items() if v != ""}


def _compare(old: dict[str, str], new: dict[str, str]) -> list[str]:
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if a is None:
            out.append(f"+ {key}: {b}")
        elif b is None:
            out.append(f"- {key}: {a}")
        else:
            out.append(f"{key}: {a} -> {b}")
    return out


def _owned_shapes(kb: KnowledgeBase) -> set[URIRef]:
    return {s for c in kb.criteria.values() for s in (c.shape, c.open_shape, c.note_shape) if s is not None}


def _other_shapes(kb: KnowledgeBase) -> dict[str, URIRef]:
    """Named shapes no criterion points to (warnings, building blocks), by name."""
    owned = _owned_shapes(kb)
    named = {s for s in kb.shapes.subjects() if isinstance(s, URIRef)
             and ((s, SH.targetClass, None) in kb.shapes or (s, None, SH.NodeShape) in kb.shapes)}
    return {qname(s): s for s in named - owned}


def diff(old: KnowledgeBase, new: KnowledgeBase) -> list[Change]:
    """Criteria by number, then other shapes by name; policy version label first."""
    changes: list[Change] = []
    old_versions = {p.identifier: p.version_label for p in old.policies.values()}
    new_versions = {p.identifier: p.version_label for p in new.policies.values()}
    if old_versions != new_versions:
        changes.append(Change("policy version", "changed",
                              [f"{k}: {old_versions.get(k)} -> {new_versions.get(k)}"
                               for k in sorted(set(old_versions) | set(new_versions))]))
    a = {c.number: c for c in old.criteria.values()}
    b = {c.number: c for c in new.criteria.values()}
    for number in sorted(set(a) | set(b), key=number_key):
        if number not in b:
            changes.append(Change(number, "removed", [a[number].sentence]))
        elif number not in a:
            changes.append(Change(number, "added", [b[number].sentence]))
        elif details := _compare(_criterion_facts(old, a[number]), _criterion_facts(new, b[number])):
            changes.append(Change(number, "changed", details))
    sa, sb = _other_shapes(old), _other_shapes(new)
    for name in sorted(set(sa) | set(sb)):
        if name not in sb:
            changes.append(Change(name, "removed", []))
        elif name not in sa:
            changes.append(Change(name, "added", []))
        elif details := _compare(_shape_facts(old, sa[name]), _shape_facts(new, sb[name])):
            changes.append(Change(name, "changed", details))
    return changes


# ---------------------------------------------------------------------------------------------
# Impact
# ---------------------------------------------------------------------------------------------

@dataclass
class Impact:
    """A request whose determination differs between two versions, and the criteria that moved."""

    source: str
    request_id: str
    old_decision: str
    new_decision: str
    old_pathways: list[str]
    new_pathways: list[str]
    responsible: list[str]  # "<criterion number>: met -> not-met"

    @property
    def decision_changed(self) -> bool:
        return self.old_decision != self.new_decision


Requests = list[tuple[str, "dict[str, Any] | InvalidRequest", tuple[Path, ...]]]


def load_requests(path: Path) -> Requests:
    """Requests from a JSON file (object, list, or a test case), a JSON-lines file, a folder of them,
    or a SPARQL store folder (each request once: its latest determination's request graph).

    Text that is not JSON does not stop the run: it comes back as an InvalidRequest naming its line
    (or file), which `impact` reports and skips, as `blincyto batch` does."""
    from reasoner.sparql.stored_requests import is_store, requests_from_store

    path = Path(path)
    if is_store(path):
        return list(requests_from_store(path))
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix in (".json", ".jsonl", ".ndjson"))
        return [r for f in files for r in load_requests(f)]
    if path.suffix in (".jsonl", ".ndjson"):
        out: Requests = []
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                out.append((f"{path.name}:{i}", _parsed(line, f"line {i}"), ()))
        return out
    data = _parsed(path.read_text(encoding="utf-8"), "the file")
    if isinstance(data, list):
        return [(f"{path.name}[{i}]", item, ()) for i, item in enumerate(data)]
    if isinstance(data, dict) and isinstance(data.get("request"), dict):
        request, extra, _ = read_case(path)
        return [(path.name, request, tuple(extra))]
    return [(path.name, data, ())]


def _parsed(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:  # the reason without the text (requests hold PHI)
        return InvalidRequest(WHOLE_REQUEST, f"{where} is not JSON ({getattr(exc, 'msg', 'unreadable')})")


def impact(requests: Iterable[tuple[str, dict[str, Any], tuple[Path, ...]]],
           old: Callable[[tuple[Path, ...]], Reasoner], new: Callable[[tuple[Path, ...]], Reasoner],
           ) -> tuple[list[Impact], dict[str, str], int]:
    """Requests whose decision or pathways differ; errors by source; how many were evaluated."""
    moved: list[Impact] = []
    errors: dict[str, str] = {}
    count = 0
    for source, request, extra in requests:
        if isinstance(request, InvalidRequest):
            errors[source] = str(request)
            continue
        try:
            a, b = outcome(old(extra), request), outcome(new(extra), request)
        except (InvalidRequest, LookupError) as exc:
            errors[source] = str(exc)
            continue
        count += 1
        pa, pb = list(a.determination["pathways"]), list(b.determination["pathways"])
        if a.decision == b.decision and pa == pb:
            continue
        moved_numbers = [n for n in a.status if n in b.status and a.status[n] is not b.status[n]]
        # The criteria whose own condition moved; the parts they make up move with them.
        shaped = [n for n in moved_numbers if b.explainer.kb.by_number(n).shape is not None]
        responsible = [f"{n}: {a.status[n].value} -> {b.status[n].value}" for n in shaped or moved_numbers]
        responsible += [f"{n}: only in the old version" for n in a.status if n not in b.status]
        responsible += [f"{n}: only in the new version" for n in b.status if n not in a.status]
        moved.append(Impact(source, str(request.get("id", "")), a.decision, b.decision, pa, pb, responsible))
    return moved, errors, count
