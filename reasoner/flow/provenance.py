"""The determination as RDF: a PROV-O record with the request graph and the validation report.

`determination_graph(ev)` builds an `rdflib.Dataset`:

- named graph `urn:blincyto:determination:<uuid>:request`: the request graph (lifted and derived
  facts) exactly as it was validated;
- named graph `urn:blincyto:determination:<uuid>:validation-report`: the `sh:ValidationReport`
  of the one pySHACL run (its report node gets an IRI so the default graph can point to it);
- default graph: the PROV-O description. A `prov:Activity` (`urn:blincyto:determination:<uuid>`)
  `prov:used` the request and the policy version, ran from `prov:startedAtTime` to
  `prov:endedAtTime`, `prov:wasAssociatedWith` the engine (a `prov:SoftwareAgent` with its version)
  and `prov:generated` a `bx:Determination` carrying the decision, approval months, satisfied
  pathways, failed criteria, referral, warnings and a `bx:validationReport` link.

A determination of a FHIR Bundle (reasoner.fhir) carries `sources`: each becomes a
`bx:FieldSource` (`bx:requestField`, `bx:fhirElement`) that `prov:wasDerivedFrom` the FHIR resource
(its fullUrl, or `urn:blincyto:fhir-resource:Type/id`), and the request `prov:wasDerivedFrom` it too.

`serialize(ds)` writes TriG when there are named graphs (Turtle cannot hold them) and Turtle
otherwise; the command line's `--format ttl` means that Turtle family.

`determination_nquads(ev)` writes the same dataset as N-Quads text directly (no rdflib graph is
built: ~1 ms instead of ~50 ms a determination): what `batch --format nq` and the store write.
`determination_graph` stays the reference it is tested against (tests/test_rdf_fast.py: isomorphic
graph by graph, blank nodes included).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from functools import lru_cache
from importlib import metadata
from typing import Any
from urllib.parse import quote

from rdflib import BNode, Dataset, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS, OWL, PROV, RDF, RDFS, SH, XSD

from reasoner.shacl.ntriples import Labels, graph_lines, iri, literal, term
from reasoner.shacl.report_quads import SharedCopies, report_lines

__all__ = ["BX", "SHAPE_COPIES_GRAPH", "SHAPE_COPY", "determination_graph", "determination_nquads", "serialize",
           "engine_version", "shared_copies"]

BX = Namespace("https://w3id.org/blincyto-pa/ontology#")
KB = Namespace("https://w3id.org/blincyto-pa/kb/")
DIST_NAME = "blincyto-reasoner"
# The store's layout (reasoner.sparql.store): the copies a report makes of shapes-graph nodes (a property
# shape, its sh:path list) are the same in every report, so the store holds each once, in this graph,
# named by a skolem IRI; a stored report names them (sh:sourceShape, sh:resultPath) by that IRI.
SHAPE_COPIES_GRAPH = "https://w3id.org/blincyto-pa/graph/shape-copies"
SHAPE_COPY = "urn:blincyto:shape-copy:"


@lru_cache(maxsize=1)
def engine_version() -> str:
    """The installed distribution's version (importlib.metadata, read once: ~5 ms a call), or 0+unknown
    from a bare checkout."""
    try:
        return metadata.version(DIST_NAME)
    except metadata.PackageNotFoundError:
        return "0+unknown"


def _datetime(value: Any) -> Literal:
    if not isinstance(value, datetime):
        value = datetime.now(timezone.utc)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return Literal(value.isoformat(), datatype=XSD.dateTime)


def _bind(g: Graph) -> None:
    g.bind("bx", BX)
    g.bind("kb", KB)
    g.bind("cp", Namespace("https://w3id.org/blincyto-pa/policy/CP.PHAR.312/"))
    g.bind("shp", Namespace("https://w3id.org/blincyto-pa/shapes/CP.PHAR.312/"))
    g.bind("prov", PROV)
    g.bind("sh", SH)
    g.bind("dcterms", DCTERMS)


def _copy_report(report: Graph, target: Graph, report_iri: URIRef) -> URIRef | None:
    """Copy the report graph, renaming its (blank) sh:ValidationReport node to `report_iri`."""
    old = next(iter(report.subjects(RDF.type, SH.ValidationReport)), None)

    def rename(node):
        return report_iri if old is not None and node == old else node

    for s, p, o in report:
        target.add((rename(s), p, rename(o)))
    return report_iri if old is not None else None


def determination_graph(ev: Any, base: str | None = None) -> Dataset:
    """PROV-O activity + request graph + validation report for one evaluation (see module doc).

    `base`: the activity's IRI (a fresh urn:blincyto:determination:UUID when None)."""
    det: dict = ev.determination
    base = base or new_base()
    activity = URIRef(base)
    result = URIRef(f"{base}:result")
    request_graph_iri = URIRef(f"{base}:request")
    report_graph_iri = URIRef(f"{base}:validation-report")

    ds = Dataset()
    _bind(ds)

    request_graph = ds.graph(request_graph_iri)
    for triple in ev.request_graph:
        request_graph.add(triple)

    report_graph = ds.graph(report_graph_iri)
    report_node = _copy_report(ev.report_graph, report_graph, URIRef(f"{base}:report"))

    version = engine_version()
    agent = URIRef(f"urn:blincyto:software:{DIST_NAME}:{version}")
    add = ds.add  # the default graph

    add((activity, RDF.type, PROV.Activity))
    add((activity, RDFS.label, Literal("prior-authorization determination")))
    add((activity, PROV.used, ev.request_iri))
    add((activity, PROV.used, ev.policy_version))
    add((activity, PROV.startedAtTime, _datetime(getattr(ev, "started_at", None))))
    add((activity, PROV.endedAtTime, _datetime(getattr(ev, "ended_at", None))))
    add((activity, PROV.wasAssociatedWith, agent))
    add((activity, PROV.generated, result))

    add((agent, RDF.type, PROV.SoftwareAgent))
    add((agent, RDFS.label, Literal(DIST_NAME)))
    add((agent, OWL.versionInfo, Literal(version)))

    add((ev.request_iri, RDF.type, PROV.Entity))
    add((ev.request_iri, BX.describedIn, request_graph_iri))
    add((ev.policy_version, RDF.type, PROV.Entity))

    add((result, RDF.type, BX.Determination))
    add((result, RDF.type, PROV.Entity))
    add((result, PROV.wasGeneratedBy, activity))
    add((result, PROV.wasDerivedFrom, ev.request_iri))
    add((result, BX.requestId, Literal(str(det.get("id", "")))))
    if det.get("policy"):
        add((result, BX.policyId, Literal(det["policy"])))
    if det.get("policy_version"):
        add((result, BX.policyVersionLabel, Literal(det["policy_version"])))
    add((result, BX.decision, Literal(det["decision"])))
    if det.get("approval_months") is not None:
        add((result, BX.approvalMonths, Literal(int(det["approval_months"]))))
    for pathway in det.get("pathways") or []:
        add((result, BX.satisfiedPathway, Literal(pathway)))
    if report_node is not None:
        add((result, BX.validationReport, report_node))
        add((report_node, RDF.type, PROV.Entity))
        add((report_node, PROV.wasGeneratedBy, activity))
        add((report_node, BX.describedIn, report_graph_iri))

    for item in det.get("failed") or []:
        node = BNode()
        add((result, BX.failedCriterion, node))
        add((node, RDF.type, BX.FailedCriterion))
        add((node, DCTERMS.identifier, Literal(item["criterion"])))
        add((node, BX.kind, Literal(item["kind"])))
        if item.get("message"):
            add((node, BX.message, Literal(item["message"])))
        if item.get("shape"):
            add((node, SH.sourceShape, URIRef(item["shape"])))
        for needed in item.get("needs") or []:
            add((node, BX.needs, Literal(needed)))

    for rank, item in enumerate(det.get("needs") or [], start=1):  # what would decide it, closest first
        node = BNode()
        add((result, BX.openPathway, node))
        add((node, RDF.type, BX.OpenPathway))
        add((node, BX.rank, Literal(rank)))
        add((node, BX.pathwayNumber, Literal(item["pathway"])))
        for number in item.get("missing") or []:
            add((node, BX.missingCriterion, Literal(number)))
        for needed in item.get("send") or []:
            add((node, BX.needs, Literal(needed)))

    referral = det.get("referral")
    if referral:
        node = BNode()
        add((result, BX.referral, node))
        add((node, RDF.type, BX.Referral))
        if referral.get("policy"):
            add((node, BX.referralPolicyId, Literal(referral["policy"])))
        if referral.get("section"):
            add((node, BX.referralSection, Literal(referral["section"])))
        if referral.get("reason"):
            add((node, BX.reason, Literal(referral["reason"])))

    for warning in det.get("warnings") or []:
        node = BNode()
        add((result, BX.warning, node))
        add((node, RDF.type, BX.Warning))
        if warning.get("code"):
            add((node, BX.code, Literal(warning["code"])))
        if warning.get("message"):
            add((node, BX.message, Literal(warning["message"])))
        if warning.get("shape"):
            add((node, SH.sourceShape, URIRef(warning["shape"])))

    for field_name, items in sorted((det.get("sources") or {}).items()):
        for item in items:
            node = BNode()
            resource = _resource_iri(item["resource"])
            add((result, BX.fieldSource, node))
            add((node, RDF.type, BX.FieldSource))
            add((node, RDF.type, PROV.Entity))
            add((node, BX.requestField, Literal(field_name)))
            add((node, BX.fhirElement, Literal(item.get("element", ""))))
            add((node, PROV.wasDerivedFrom, resource))
            add((resource, RDF.type, PROV.Entity))
            add((ev.request_iri, PROV.wasDerivedFrom, resource))
    return ds


def new_base() -> str:
    """A new determination's activity IRI: every determination gets its own UUID."""
    return f"urn:blincyto:determination:{uuid.uuid4()}"


def _resource_iri(ref: str) -> URIRef:
    """A FHIR resource as an IRI: its fullUrl when that is absolute, else urn:blincyto:fhir-resource:Type/id."""
    if ":" in ref.split("/", 1)[0]:
        return URIRef(ref)
    return URIRef("urn:blincyto:fhir-resource:" + quote(ref, safe="/"))


# ---------------------------------------------------------------------------------------------
# The same dataset as N-Quads text, written directly
# ---------------------------------------------------------------------------------------------

_T = {name: f"<{iri_}>" for name, iri_ in {
    "type": RDF.type, "label": RDFS.label, "Activity": PROV.Activity, "used": PROV.used,
    "startedAtTime": PROV.startedAtTime, "endedAtTime": PROV.endedAtTime,
    "wasAssociatedWith": PROV.wasAssociatedWith, "generated": PROV.generated,
    "SoftwareAgent": PROV.SoftwareAgent, "versionInfo": OWL.versionInfo, "Entity": PROV.Entity,
    "describedIn": BX.describedIn, "Determination": BX.Determination, "wasGeneratedBy": PROV.wasGeneratedBy,
    "wasDerivedFrom": PROV.wasDerivedFrom, "requestId": BX.requestId, "policyId": BX.policyId,
    "policyVersionLabel": BX.policyVersionLabel, "decision": BX.decision, "approvalMonths": BX.approvalMonths,
    "satisfiedPathway": BX.satisfiedPathway, "validationReport": BX.validationReport,
    "failedCriterion": BX.failedCriterion, "FailedCriterion": BX.FailedCriterion,
    "identifier": DCTERMS.identifier, "kind": BX.kind, "message": BX.message, "sourceShape": SH.sourceShape,
    "needs": BX.needs, "openPathway": BX.openPathway, "OpenPathway": BX.OpenPathway, "rank": BX.rank,
    "pathwayNumber": BX.pathwayNumber, "missingCriterion": BX.missingCriterion, "referral": BX.referral,
    "Referral": BX.Referral, "referralPolicyId": BX.referralPolicyId, "referralSection": BX.referralSection,
    "reason": BX.reason, "warning": BX.warning, "Warning": BX.Warning, "code": BX.code,
    "fieldSource": BX.fieldSource, "FieldSource": BX.FieldSource, "requestField": BX.requestField,
    "fhirElement": BX.fhirElement, "ValidationReport": SH.ValidationReport,
}.items()}
_ACTIVITY_LABEL = literal("prior-authorization determination")
_DATETIME = str(XSD.dateTime)


def _datetime_text(value: Any) -> str:
    return literal(str(_datetime(value)), _DATETIME)


@lru_cache(maxsize=4)
def _fixed_provenance(named: bool) -> str:
    """The PROV-O lines every determination has, as one format string (`named`: in the store's
    `<activity>:provenance` graph, which the activity names)."""
    t = {k: v.replace("{", "{{").replace("}", "}}") for k, v in _T.items()}
    version = engine_version()
    agent = iri(f"urn:blincyto:software:{DIST_NAME}:{version}").replace("{", "{{").replace("}", "}}")
    label, dist, ver = (literal(x).replace("{", "{{").replace("}", "}}") for x in (
        "prior-authorization determination", DIST_NAME, version))
    lines = [
        ("{activity}", t["type"], t["Activity"]), ("{activity}", t["label"], label),
        ("{activity}", t["used"], "{request}"), ("{activity}", t["used"], "{policy_version}"),
        ("{activity}", t["startedAtTime"], "{started}"), ("{activity}", t["endedAtTime"], "{ended}"),
        ("{activity}", t["wasAssociatedWith"], agent), ("{activity}", t["generated"], "{result}"),
        (agent, t["type"], t["SoftwareAgent"]), (agent, t["label"], dist), (agent, t["versionInfo"], ver),
        ("{request}", t["type"], t["Entity"]), ("{request}", t["describedIn"], "{request_graph}"),
        ("{policy_version}", t["type"], t["Entity"]),
        ("{result}", t["type"], t["Determination"]), ("{result}", t["type"], t["Entity"]),
        ("{result}", t["wasGeneratedBy"], "{activity}"), ("{result}", t["wasDerivedFrom"], "{request}"),
        ("{result}", t["requestId"], "{request_id}"),
    ]
    if named:
        lines.insert(8, ("{activity}", t["describedIn"], "{prov}"))
    return "".join(f"{s} {p} {o}{{end}}" for s, p, o in lines)


def shared_copies(written: set[str] | None = None) -> SharedCopies:
    """The store's copies of shapes-graph nodes (`SHAPE_COPIES_GRAPH`); `written`: digests already in this
    transaction's text (one set for the determinations stored together)."""
    return SharedCopies(f"<{SHAPE_COPIES_GRAPH}>", SHAPE_COPY, written)


def determination_nquads(ev: Any, base: str | None = None, provenance_graph: bool = False,
                         shared: SharedCopies | None = None) -> tuple[str, str]:
    """(activity IRI, N-Quads text) of one evaluation: `determination_graph`'s dataset, written directly.

    `provenance_graph=False`: the PROV-O description in the default graph (as `determination_graph`);
    True: in the named graph `<activity>:provenance`, which the activity names with bx:describedIn
    (the store's layout, `reasoner.sparql.store`). The validation report is written from the run's
    results when the evaluation has them (the compiled engine), else copied from its report graph.
    `shared` (the store's layout, `shared_copies()`): the report's copies of shapes-graph nodes are
    written once a `shared` in `SHAPE_COPIES_GRAPH` and named by skolem IRIs, not copied in every report."""
    det: dict = ev.determination
    base = base or new_base()
    labels = Labels("b" + "".join(ch for ch in base.rsplit(":", 1)[-1] if ch.isascii() and ch.isalnum()) + "x")
    out: list[str] = []
    activity, result = iri(base), iri(f"{base}:result")
    request_graph, report_graph = iri(f"{base}:request"), iri(f"{base}:validation-report")
    prov = iri(f"{base}:provenance") if provenance_graph else ""

    graph_lines(ev.request_graph, request_graph, labels, out)
    report_node: str | None = iri(f"{base}:report")
    run = getattr(ev, "report", None)
    parts = getattr(run, "parts", None)
    if parts is not None:
        report_lines(parts, report_node, report_graph, labels, out, shared)
    else:
        report = ev.report_graph
        old = next(iter(report.subjects(RDF.type, SH.ValidationReport)), None)
        graph_lines(report, report_graph, labels, out, {old: report_node} if old is not None else None)
        if old is None:
            report_node = None

    end = f" {prov} .\n" if prov else " .\n"
    t = _T

    def add(s: str, p: str, o: str) -> None:
        out.append(f"{s} {t[p]} {o}{end}")

    def lit(value: Any) -> str:
        return literal(value) if type(value) is str else term(Literal(value), labels)

    request_iri, policy_version = term(ev.request_iri, labels), term(ev.policy_version, labels)
    out.append(_fixed_provenance(bool(prov)).format(
        activity=activity, result=result, request=request_iri, policy_version=policy_version,
        started=_datetime_text(getattr(ev, "started_at", None)), ended=_datetime_text(getattr(ev, "ended_at", None)),
        request_graph=request_graph, prov=prov, request_id=lit(str(det.get("id", ""))), end=end))
    if det.get("policy"):
        add(result, "policyId", lit(det["policy"]))
    if det.get("policy_version"):
        add(result, "policyVersionLabel", lit(det["policy_version"]))
    add(result, "decision", lit(det["decision"]))
    if det.get("approval_months") is not None:
        add(result, "approvalMonths", lit(int(det["approval_months"])))
    for pathway in det.get("pathways") or []:
        add(result, "satisfiedPathway", lit(pathway))
    if report_node is not None:
        add(result, "validationReport", report_node)
        add(report_node, "type", t["Entity"])
        add(report_node, "wasGeneratedBy", activity)
        add(report_node, "describedIn", report_graph)

    for item in det.get("failed") or []:
        node = labels.fresh()
        add(result, "failedCriterion", node)
        add(node, "type", t["FailedCriterion"])
        add(node, "identifier", lit(item["criterion"]))
        add(node, "kind", lit(item["kind"]))
        if item.get("message"):
            add(node, "message", lit(item["message"]))
        if item.get("shape"):
            add(node, "sourceShape", term(URIRef(item["shape"]), labels))
        for needed in item.get("needs") or []:
            add(node, "needs", lit(needed))

    for rank, item in enumerate(det.get("needs") or [], start=1):
        node = labels.fresh()
        add(result, "openPathway", node)
        add(node, "type", t["OpenPathway"])
        add(node, "rank", lit(rank))
        add(node, "pathwayNumber", lit(item["pathway"]))
        for number in item.get("missing") or []:
            add(node, "missingCriterion", lit(number))
        for needed in item.get("send") or []:
            add(node, "needs", lit(needed))

    referral = det.get("referral")
    if referral:
        node = labels.fresh()
        add(result, "referral", node)
        add(node, "type", t["Referral"])
        if referral.get("policy"):
            add(node, "referralPolicyId", lit(referral["policy"]))
        if referral.get("section"):
            add(node, "referralSection", lit(referral["section"]))
        if referral.get("reason"):
            add(node, "reason", lit(referral["reason"]))

    for warning in det.get("warnings") or []:
        node = labels.fresh()
        add(result, "warning", node)
        add(node, "type", t["Warning"])
        if warning.get("code"):
            add(node, "code", lit(warning["code"]))
        if warning.get("message"):
            add(node, "message", lit(warning["message"]))
        if warning.get("shape"):
            add(node, "sourceShape", term(URIRef(warning["shape"]), labels))

    for field_name, items in sorted((det.get("sources") or {}).items()):
        for item in items:
            node = labels.fresh()
            resource = term(_resource_iri(item["resource"]), labels)
            add(result, "fieldSource", node)
            add(node, "type", t["FieldSource"])
            add(node, "type", t["Entity"])
            add(node, "requestField", lit(field_name))
            add(node, "fhirElement", lit(item.get("element", "")))
            add(node, "wasDerivedFrom", resource)
            add(resource, "type", t["Entity"])
            add(request_iri, "wasDerivedFrom", resource)
    return base, "".join(out)


def serialize(ds: Dataset) -> str:
    """TriG when the dataset has named graphs (Turtle cannot hold them), Turtle otherwise."""
    named = [g for g in ds.graphs() if g.identifier != ds.default_graph.identifier and len(g)]
    if named:
        return ds.serialize(format="trig")
    return ds.default_graph.serialize(format="turtle")
