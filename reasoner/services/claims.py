"""Prior-authorization claims in the store: the request, its determination, its status and its number.

Every Claim the service answers is kept (pended ones so that `$inquire` and a clinician find them;
certified ones so that a resubmission answers the same authorization). One claim is one named graph
of the store, replaced as a whole in one SPARQL update when the claim changes:

    <urn:blincyto:claim:UUID>  (the graph and the claim node)
        a bx:PriorAuthorizationClaim ; dcterms:identifier "system|value" (the Claim.identifier) ;
        bx:authorizationNumber "..." ; bx:claimStatus "pended" | "certified" | "not-certified" ;
        dcterms:modified ... ; prov:wasDerivedFrom <the latest determination's activity> ;
        bx:finalDecision <the clinician's decision> ;
        bx:claimRecord "{...}"^^rdf:JSON   (request, determination, response Bundle, review)

The determinations themselves are the store's usual graphs (reasoner.sparql.store.determination_quads,
PROV-O), and a clinician's review is a graph of its own that is never replaced (`review_quads`): the
audit trail. Storage is the project's store: a directory (embedded Oxigraph, held open by the
service, which is then the store's writer), a SPARQL 1.1 Update URL (reads go to its query endpoint),
or, without --store, memory (lost at exit).
"""

from __future__ import annotations

import json
import secrets
import threading
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from types import SimpleNamespace
from typing import Any, Iterable

import pyoxigraph as ox
from rdflib import Graph

from reasoner.policy.kb import BX
from reasoner.sparql import store as st

__all__ = ["ClaimRecord", "ClaimStore", "Review", "lean_quads", "new_authorization"]

CLAIM_BASE = "urn:blincyto:claim:"
REVIEW_BASE = "urn:blincyto:review:"
CLINICIAN_BASE = "urn:blincyto:clinician:"
RDF_JSON = "http://www.w3.org/1999/02/22-rdf-syntax-ns#JSON"
XSD = "http://www.w3.org/2001/XMLSchema#"
PROV = "http://www.w3.org/ns/prov#"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
DCT = "http://purl.org/dc/terms/"
CLAIM_NS = uuid.UUID("0f1e9a52-6d1c-4c4e-9d55-0b6c3a7e2f10")
FLUSH_S = 2.0


def _nn(iri: str) -> ox.NamedNode:
    return ox.NamedNode(iri)


def _lit(value: Any, datatype: str | None = None) -> ox.Literal:
    return ox.Literal(str(value), datatype=_nn(datatype)) if datatype else ox.Literal(str(value))


def _json_number(value: Any) -> Any:
    """The exact decimals a Bundle was read with, as JSON numbers."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return str(value)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_authorization(prefix: str) -> str:
    """A fresh authorization number: the policy's identifier and 12 random hex digits."""
    return f"{prefix}-{secrets.token_hex(6).upper()}"


@dataclass
class Review:
    """A clinician's final decision on a pended claim (kept as PROV-O: `review_quads`)."""

    decision: str  # a clinician decision code (ontology/services.ttl)
    action_code: str  # its X12 306 review action
    reason: str | None
    note: str | None
    clinician: dict[str, Any]  # {name, identifier: {system, value} | None}
    at: str
    iri: str = ""


@dataclass
class ClaimRecord:
    key: str  # "system|value" of the Claim identifier
    authorization: str
    status: str  # pended | certified | not-certified
    request: dict[str, Any]
    determination: dict[str, Any]
    response: dict[str, Any]  # the latest PAS response Bundle
    created: str = field(default_factory=now)
    updated: str = field(default_factory=now)
    submissions: int = 1
    determination_iri: str | None = None
    review: Review | None = None

    @property
    def iri(self) -> str:
        return CLAIM_BASE + str(uuid.uuid5(CLAIM_NS, self.key))

    def to_json(self) -> str:
        fields = dict(self.__dict__, review=asdict(self.review) if self.review is not None else None)
        return json.dumps(fields, ensure_ascii=False, default=_json_number, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ClaimRecord":
        data = json.loads(text)
        review = data.pop("review", None)
        return cls(**data, review=Review(**review) if review else None)


def claim_quads(record: ClaimRecord, record_json: str | None = None) -> list[ox.Quad]:
    g = _nn(record.iri)
    c = _nn(record.iri)
    quads = [
        ox.Quad(c, _nn(RDF + "type"), _nn(str(BX.PriorAuthorizationClaim)), g),
        ox.Quad(c, _nn(DCT + "identifier"), _lit(record.key), g),
        ox.Quad(c, _nn(str(BX.authorizationNumber)), _lit(record.authorization), g),
        ox.Quad(c, _nn(str(BX.claimStatus)), _lit(record.status), g),
        ox.Quad(c, _nn(DCT + "created"), _lit(record.created, XSD + "dateTime"), g),
        ox.Quad(c, _nn(DCT + "modified"), _lit(record.updated, XSD + "dateTime"), g),
        ox.Quad(c, _nn(str(BX.claimRecord)), _lit(record_json or record.to_json(), RDF_JSON), g),
    ]
    if record.determination_iri:
        quads.append(ox.Quad(c, _nn(PROV + "wasDerivedFrom"), _nn(record.determination_iri), g))
    if record.review is not None and record.review.iri:
        quads.append(ox.Quad(c, _nn(str(BX.finalDecision)), _nn(record.review.iri + ":decision"), g))
    return quads


def review_quads(record: ClaimRecord, review: Review) -> list[ox.Quad]:
    """The clinician's review as PROV-O, in a graph of its own: who decided what, on which determination."""
    activity = _nn(review.iri)
    decision = _nn(review.iri + ":decision")
    ident = review.clinician.get("identifier") or {}
    agent_key = f"{ident.get('system', '')}|{ident.get('value', '')}" if ident else review.clinician.get("name", "")
    agent = _nn(CLINICIAN_BASE + str(uuid.uuid5(CLAIM_NS, agent_key)))
    g = activity
    t = _nn(RDF + "type")
    quads = [
        ox.Quad(activity, t, _nn(PROV + "Activity"), g),
        ox.Quad(activity, t, _nn(str(BX.ClinicianReview)), g),
        ox.Quad(activity, _nn(RDFS + "label"), _lit("clinician review of a pended prior-authorization request"), g),
        ox.Quad(activity, _nn(PROV + "endedAtTime"), _lit(review.at, XSD + "dateTime"), g),
        ox.Quad(activity, _nn(PROV + "wasAssociatedWith"), agent, g),
        ox.Quad(activity, _nn(PROV + "used"), _nn(record.iri), g),
        ox.Quad(activity, _nn(PROV + "generated"), decision, g),
        ox.Quad(agent, t, _nn(PROV + "Agent"), g),
        ox.Quad(agent, t, _nn(PROV + "Person"), g),
        ox.Quad(agent, _nn(RDFS + "label"), _lit(review.clinician.get("name", "")), g),
        ox.Quad(decision, t, _nn(PROV + "Entity"), g),
        ox.Quad(decision, t, _nn(str(BX.ClinicianDecision)), g),
        ox.Quad(decision, _nn(PROV + "wasGeneratedBy"), activity, g),
        ox.Quad(decision, _nn(PROV + "wasAttributedTo"), agent, g),
        ox.Quad(decision, _nn(str(BX.reviewDecision)), _lit(review.decision), g),
        ox.Quad(decision, _nn(str(BX.actionCode)), _lit(review.action_code), g),
    ]
    if ident:
        quads.append(ox.Quad(agent, _nn(DCT + "identifier"), _lit(agent_key), g))
    if record.determination_iri:
        quads.append(ox.Quad(activity, _nn(PROV + "used"), _nn(record.determination_iri), g))
        quads.append(ox.Quad(decision, _nn(PROV + "wasDerivedFrom"), _nn(record.determination_iri + ":result"), g))
    if review.reason:
        quads.append(ox.Quad(decision, _nn(str(BX.reviewReason)), _lit(review.reason), g))
    if review.note:
        quads.append(ox.Quad(decision, _nn(RDFS + "comment"), _lit(review.note), g))
    return quads


def lean_quads(evaluation: Any) -> tuple[str, list[ox.Quad]]:
    """(activity IRI, quads) of a determination's PROV-O and request graph, in the store's named graphs.

    The per-shape validation report is not kept: building it costs more than deciding, and
    `blincyto check --format ttl` on the stored request gives it again."""
    lean = SimpleNamespace(determination=evaluation.determination, request_iri=evaluation.request_iri,
                           request_graph=evaluation.request_graph, report_graph=Graph(),
                           policy_version=evaluation.policy_version, started_at=evaluation.started_at,
                           ended_at=evaluation.ended_at)
    return st.determination_quads(lean)


def _update_text(replace: Iterable[str], quads: list[ox.Quad]) -> str:
    """One SPARQL update: drop the graphs, insert the quads (terms in N-Triples syntax, valid SPARQL)."""
    parts = [f"DROP SILENT GRAPH <{g}>" for g in replace]
    graphs: dict[str, list[str]] = {}
    for q in quads:
        graphs.setdefault(str(q.graph_name), []).append(f"{q.subject} {q.predicate} {q.object} .")
    body = "\n".join(f"GRAPH {g} {{\n" + "\n".join(lines) + "\n}" for g, lines in graphs.items())
    parts.append("INSERT DATA {\n" + body + "\n}")
    return " ;\n".join(parts)


class ClaimStore:
    """Claims in the store (`target`: a directory, an update URL, or None for memory).

    All calls come from one worker thread of the service; the lock makes that safe for any caller.
    """

    def __init__(self, target: str | None = None, query_url: str | None = None) -> None:
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[str, str]] = {}  # key -> (authorization number, record JSON)
        self._dirty = threading.Event()
        self._closing = threading.Event()
        self._flusher: threading.Thread | None = None
        self.remote = target is not None and st.is_url(target)
        self.target = target
        if target is None:
            self._ox: ox.Store | None = ox.Store()
            self._ox.extend(st.kb_quads())
            self._local = None
        elif self.remote:
            self._remote = st.RemoteStore(target)
            self._query_url = query_url or _query_url(target)
            self._ox = None
            self._local = None
        else:
            self._local = st.LocalStore(target)
            self._ox = None

    @property
    def where(self) -> str:
        return "memory (lost at exit)" if self.target is None else str(self.target)

    def _store(self) -> ox.Store:
        if self._ox is not None:
            return self._ox
        assert self._local is not None
        return self._local.store

    # ------------------------------------------------------------------ writes

    def add_determination(self, evaluation: Any) -> str:
        """The determination's PROV-O and request graph (`lean_quads`); returns its activity IRI."""
        iri, quads = lean_quads(evaluation)
        self.add_quads(quads)
        return iri

    def add_quads(self, quads: list[ox.Quad]) -> None:
        with self._lock:
            if self.remote:
                self._remote.update(_update_text([], quads))
                return
            try:
                self._store().extend(quads)
            except OSError as exc:
                raise st.StoreError(f"cannot write the store: {str(exc).splitlines()[0][:200]}") from None
            self._flush_now_and_then()

    def save(self, record: ClaimRecord, review: Review | None = None) -> None:
        """Write the claim's graph anew (and a review's graph) in one update."""
        record_json = record.to_json()
        quads = claim_quads(record, record_json) + (review_quads(record, review) if review is not None else [])
        text = _update_text([record.iri], quads)
        with self._lock:
            try:
                if self.remote:
                    self._remote.update(text)
                else:
                    self._store().update(text)
                    self._flush_now_and_then()
            except OSError as exc:
                raise st.StoreError(f"cannot write the store: {str(exc).splitlines()[0][:200]}") from None
            if not self.remote:
                self._cache[record.key] = (record.authorization, record_json)

    # ------------------------------------------------------------------ reads

    def _query(self, text: str) -> list[Any]:
        if self.remote:
            return list(st.query_endpoint(self._query_url, text))
        return list(self._store().query(text))

    def get(self, key: str) -> ClaimRecord | None:
        with self._lock:
            if key in self._cache:  # a fresh object: a caller's changes reach the store only through save()
                return ClaimRecord.from_json(self._cache[key][1])
            iri = CLAIM_BASE + str(uuid.uuid5(CLAIM_NS, key))
            rows = self._query(f"SELECT ?r WHERE {{ GRAPH <{iri}> {{ <{iri}> <{BX.claimRecord}> ?r }} }}")
            record = ClaimRecord.from_json(rows[0]["r"].value) if rows else None
            if record is not None and not self.remote:
                self._cache[key] = (record.authorization, rows[0]["r"].value)
            return record

    def by_authorization(self, number: str) -> ClaimRecord | None:
        for authorization, text in list(self._cache.values()):
            if authorization == number:
                return ClaimRecord.from_json(text)
        with self._lock:
            literal = _lit(number)
            rows = self._query(f"SELECT ?r WHERE {{ GRAPH ?g {{ ?c <{BX.authorizationNumber}> {literal} ; "
                               f"<{BX.claimRecord}> ?r }} }} LIMIT 1")
        return ClaimRecord.from_json(rows[0]["r"].value) if rows else None

    def review_triples(self, record: ClaimRecord) -> list[tuple[str, str, str]]:
        """The review graph of a claim as (subject, predicate, object) strings (tests, audit)."""
        if record.review is None:
            return []
        with self._lock:
            rows = self._query(f"SELECT ?s ?p ?o WHERE {{ GRAPH <{record.review.iri}> {{ ?s ?p ?o }} }}")
        return [(r["s"].value, r["p"].value, r["o"].value) for r in rows]

    def _flush_now_and_then(self) -> None:
        """Mark the store written: a background thread flushes RocksDB's memtables every FLUSH_S. Each
        write is already in RocksDB's write-ahead log (a killed service loses nothing); a flush per
        request would cost more than deciding it, and in the request's thread it would stall the next."""
        if self._local is None:
            return
        self._dirty.set()
        if self._flusher is None:
            self._flusher = threading.Thread(target=self._flush_loop, name="store-flush", daemon=True)
            self._flusher.start()

    def _flush_loop(self) -> None:
        while not self._closing.wait(FLUSH_S):
            if self._dirty.is_set():
                self._dirty.clear()
                try:
                    self._store().flush()
                except (OSError, st.StoreError):
                    self._dirty.set()  # tried again next time; close() flushes once more

    def close(self) -> None:
        self._closing.set()
        if self._flusher is not None:
            self._flusher.join(timeout=30)
        with self._lock:
            if self._local is not None:
                try:
                    if self._local._store is not None:  # noqa: SLF001 - flush only a store that was opened
                        self._local.store.flush()
                finally:
                    self._local.close()


def _query_url(update_url: str) -> str:
    """The query endpoint beside an update endpoint (Oxigraph and Fuseki: .../update -> .../query)."""
    head, sep, tail = update_url.rstrip("/").rpartition("/")
    return f"{head}/query" if sep and tail == "update" else update_url
