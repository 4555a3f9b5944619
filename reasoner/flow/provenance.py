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
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from importlib import metadata
from typing import Any
from urllib.parse import quote

from rdflib import BNode, Dataset, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS, OWL, PROV, RDF, RDFS, SH, XSD

__all__ = ["BX", "determination_graph", "serialize", "engine_version"]

BX = Namespace("https://w3id.org/blincyto-pa/ontology#")
KB = Namespace("https://w3id.org/blincyto-pa/kb/")
DIST_NAME = "blincyto-reasoner"


def engine_version() -> str:
    """The installed distribution's version (importlib.metadata), or 0+unknown from a bare checkout."""
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


def determination_graph(ev: Any) -> Dataset:
    """PROV-O activity + request graph + validation report for one evaluation (see module doc)."""
    det: dict = ev.determination
    base = f"urn:blincyto:determination:{uuid.uuid4()}"
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


def _resource_iri(ref: str) -> URIRef:
    """A FHIR resource as an IRI: its fullUrl when that is absolute, else urn:blincyto:fhir-resource:Type/id."""
    if ":" in ref.split("/", 1)[0]:
        return URIRef(ref)
    return URIRef("urn:blincyto:fhir-resource:" + quote(ref, safe="/"))


def serialize(ds: Dataset) -> str:
    """TriG when the dataset has named graphs (Turtle cannot hold them), Turtle otherwise."""
    named = [g for g in ds.graphs() if g.identifier != ds.default_graph.identifier and len(g)]
    if named:
        return ds.serialize(format="trig")
    return ds.default_graph.serialize(format="turtle")
