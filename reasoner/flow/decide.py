"""Decide: contract v1's decision rules over the explained tree, first match wins.

approve   - some pathway of the root (I.A / II.A) holds;
deny      - a criterion flagged bx:denyWhenNotMet (not about the use) is not met;
needs-info- some pathway is only missing facts; `needs` then leads with what would decide it;
refer     - otherwise: the first applicable section of the root's bx:otherwise tree (I.B / II.B),
            with the referral policy for the line of business from the graph.

`clinician_review_required` is true for refer and deny: the reasoner recommends, a clinician makes
an adverse decision (42 CFR 422.566(d), 438.210(b)(3); docs/contract-extensions.md).
"""

from __future__ import annotations

from typing import Any

from rdflib import RDF, URIRef
from rdflib.collection import Collection
from rdflib.namespace import SH

from reasoner.flow.enrich import Derived
from reasoner.flow.explain import Explainer, Finding, Truth
from reasoner.policy.kb import KB, Criterion, KnowledgeBase, PolicyInfo
from reasoner.shacl.report import Report

# Decisions that are adverse to the member: never final without a clinician (docs/contract-extensions.md).
CLINICIAN_REVIEW = frozenset({"refer", "deny"})


def decide(request: dict[str, Any], request_types: set[URIRef], kb: KnowledgeBase, policy: PolicyInfo,
           report: Report, derived: Derived) -> dict[str, Any]:
    root = kb.root_for(request_types)
    ex = Explainer(kb, report, root)  # every truth of the tree at once (the tree written out as code)
    branches = ex.pathways(root)
    truths = ex.pathway_truths(root)
    met = [n for n, t in truths.items() if t is Truth.MET]

    failed = [] if met else _dedupe(ex.findings(root))
    closest = [] if met else _closest(ex, root, branches)
    warnings = _warnings(report, kb, derived)
    referral = None
    if met:
        decision = "approve"
    elif denied := [c for c in ex.leaves(root) if c.deny_when_not_met and ex.own(c) is Truth.NOT_MET]:
        decision = "deny"
        # The reason for a denial is always listed, even under a branch the tree would not descend.
        failed = _dedupe(failed + [Finding(c, Truth.NOT_MET) for c in denied])
    elif Truth.MISSING in truths.values():
        decision = "needs-info"
    else:
        decision, referral = _refer(request, root, ex, kb, report, closest, warnings)

    return {
        "id": request["id"],
        "policy": policy.identifier,
        "policy_version": policy.version_label,
        "request_type": request["request_type"],
        "decision": decision,
        "clinician_review_required": decision in CLINICIAN_REVIEW,
        "approval_months": root.approval_months if decision == "approve" else None,
        "pathways": met,
        "failed": [_failure(f, kb, report, request) for f in failed],
        "closest": closest,
        "needs": _open_pathways(ex, root, branches, truths, kb, report, request) if decision == "needs-info" else [],
        "referral": referral,
        "warnings": warnings,
        "derived": derived.as_dict(),
    }


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[URIRef] = set()
    out = []
    for f in findings:
        if f.criterion.iri not in seen:
            seen.add(f.criterion.iri)
            out.append(f)
    return out


def _failure(f: Finding, kb: KnowledgeBase, report: Report, request: dict[str, Any]) -> dict[str, Any]:
    c = f.criterion
    shape = kb.shape_info[c.shape]
    if f.truth is Truth.NOT_MET and c.open_shape is not None and report.violated(c.open_shape):
        message = kb.shape_info[c.open_shape].message
    else:
        message = shape.message
    item: dict[str, Any] = {
        "criterion": c.number,
        "kind": f.truth.value,
        "message": message,
        "shape": str(c.shape),
        "policy_text": shape.sentence or c.sentence,
    }
    if f.truth is Truth.MISSING:
        item["needs"] = _to_send(c, kb, report, request)
    return item


def _to_send(c: Criterion, kb: KnowledgeBase, report: Report, request: dict[str, Any]) -> list[str]:
    """The fields that would settle a missing criterion: those not sent; if every one was sent
    (e.g. a value that means "unknown"), the fields themselves."""
    needs = _needs(c, kb, report)
    return [n for n in needs if not _sent(request, n)] or needs


def _needs(c: Criterion, kb: KnowledgeBase, report: Report) -> list[str]:
    """The contract fields to ask for: from the paths the shape reported, else the criterion's list."""
    results = report.by_shape.get(c.shape)
    fields: set[str] = set()
    for path in results.paths if results else ():
        if path in kb.field_of_path:
            fields.add(kb.field_of_path[path])
        else:
            fields.update(kb.derived_fields.get(path[-1], ()))
    if not fields or (results and results.pathless):
        fields.update(c.asks_for)
        fields.update(kb.shape_info[c.shape].asks_for)
    if not fields:  # a result of a whole sh:or (no path): every field the shape reads
        fields.update(_fields_read(kb, c.shape))
    return sorted(fields)


def _fields_read(kb: KnowledgeBase, shape: URIRef) -> tuple[str, ...]:
    """The contract fields a shape's paths read (kept on the knowledge base: it never changes)."""
    cache = kb.__dict__.setdefault("_fields_read", {})
    found = cache.get(shape)
    if found is None:
        g, fields, todo, seen = kb.shapes, set(), [shape], set()
        while todo:
            node = todo.pop()
            if node in seen:
                continue
            seen.add(node)
            path = g.value(node, SH.path)
            steps = tuple(Collection(g, path)) if path is not None and (path, RDF.first, None) in g else (path,)
            if path is not None and all(isinstance(p, URIRef) for p in steps):
                fields.update([kb.field_of_path[steps]] if steps in kb.field_of_path
                              else kb.derived_fields.get(steps[-1], ()))
            for p in (SH.property, SH.node, SH.qualifiedValueShape):
                todo.extend(g.objects(node, p))
            for p in (SH["or"], SH["and"]):
                for head in g.objects(node, p):
                    todo.extend(Collection(g, head))
        found = cache[shape] = tuple(sorted(fields))
    return found


def _sent(request: dict[str, Any], dotted: str) -> bool:
    value: Any = request
    for part in dotted.split("."):
        if not isinstance(value, dict) or value.get(part) is None:
            return False
        value = value[part]
    return True


def _closest(ex: Explainer, root: Criterion, branches) -> list[dict[str, Any]]:
    scored = []
    for pathway, only in branches:
        findings = _dedupe(ex.findings(root, only))
        not_met = [f.criterion.number for f in findings if f.truth is Truth.NOT_MET]
        missing = [f.criterion.number for f in findings if f.truth is Truth.MISSING]
        scored.append(((len(not_met), len(missing)), pathway.number, not_met, missing))
    if not scored:
        return []
    best = min(s[0] for s in scored)
    return [{"pathway": n, "not_met": nm, "missing": mi} for score, n, nm, mi in scored if score == best]


def _open_pathways(ex: Explainer, root: Criterion, branches, truths: dict[str, Truth], kb: KnowledgeBase,
                   report: Report, request: dict[str, Any]) -> list[dict[str, Any]]:
    """What would decide a request that lacks facts: every pathway nothing sent rules out, closest
    first (fewest missing criteria, then fewest fields to send, then the policy's order), with its
    missing criteria and exactly the fields to send. Pathways a sent fact contradicts are left out:
    asking for their facts could not change the decision."""
    scored = []
    for order, (pathway, only) in enumerate(branches):
        if truths.get(pathway.number) is not Truth.MISSING:
            continue
        missing = [f.criterion for f in _dedupe(ex.findings(root, only)) if f.truth is Truth.MISSING]
        send = sorted({field for c in missing for field in _to_send(c, kb, report, request)})
        scored.append(((len(missing), len(send), order),
                       {"pathway": pathway.number, "missing": [c.number for c in missing], "send": send}))
    return [item for _score, item in sorted(scored, key=lambda s: s[0])]


def _refer(request: dict[str, Any], root: Criterion, ex: Explainer, kb: KnowledgeBase, report: Report,
           closest: list[dict[str, Any]], warnings: list[dict[str, Any]]) -> tuple[str, dict[str, Any] | None]:
    section = kb.criteria.get(root.otherwise) if root.otherwise is not None else None
    leaf = ex.first_met_leaf(section) if section is not None else None
    lob = KB["LOB-" + request["line_of_business"]]
    if leaf is None or lob not in leaf.referrals:
        return "deny", None  # a use listed under Section III: nowhere to refer
    policy_iri = leaf.referrals[lob]
    if leaf.note_shape is not None and report.violated(leaf.note_shape):
        note = kb.shape_info[leaf.note_shape]
        warnings.append({"code": note.warning_code, "message": note.message, "section": note.number,
                         "shape": str(note.iri)})
    not_met = sorted({n for c in closest for n in c["not_met"]})
    reason = kb.shape_info[leaf.shape].message
    if not_met:
        reason += f" Not covered under {root.number}: {', '.join(not_met)} not met."
    return "refer", {
        "policy": kb.identifiers.get(policy_iri, str(policy_iri)),
        "section": leaf.number,
        "reason": reason,
        "policy_name": kb.titles.get(policy_iri, ""),
    }


def _warning_shapes(kb: KnowledgeBase) -> list:
    """The shapes that report warnings, in a stable order: worked out once per knowledge base.

    Info shapes report too (reminders), except a referral's note shapes: _refer adds those.
    """
    cached = kb.__dict__.get("_warning_shapes")
    if cached is None:
        notes = {c.note_shape for c in kb.criteria.values() if c.note_shape is not None}
        cached = kb.__dict__["_warning_shapes"] = [
            (shape, info) for shape, info in sorted(kb.shape_info.items())
            if info.severity == SH.Warning or (info.severity == SH.Info and shape not in notes)]
    return cached


def _warnings(report: Report, kb: KnowledgeBase, derived: Derived) -> list[dict[str, Any]]:
    out = []
    for shape, info in _warning_shapes(kb):
        if report.violated(shape):
            out.append({"code": info.warning_code, "message": info.message, "section": info.number,
                        "shape": str(shape)})
    for name in derived.unknown_agents:
        out.append({"code": "unknown-agent",
                    "message": f"regimen.with names an agent the knowledge base does not know: {name!r}. "
                               "It counts as one agent and belongs to no drug class.",
                    "section": "regimen.with", "shape": None})
    # The diagnosis label (or code) as sent, and nothing else of the request.
    for field_name, value in derived.unknown_conditions:
        out.append({"code": "unknown-condition",
                    "message": f"{field_name} is not a diagnosis the knowledge base knows: {value!r}. It names no "
                               "diagnosis: the criteria that need the diagnosis are missing (unknown, not unmet) "
                               "until diagnosis.condition names one the knowledge base knows, with its lineage.",
                    "section": field_name, "shape": None})
    if derived.conflicting_conditions:
        named = " and ".join(f"{f} {v!r}" for f, v in derived.conflicting_conditions)
        out.append({"code": "conditions-disagree",
                    "message": f"{named} name different diagnoses; the criteria read diagnosis.condition, the "
                               "field the contract requires. A reviewer should confirm the diagnosis.",
                    "section": "diagnosis", "shape": None})
    return out
