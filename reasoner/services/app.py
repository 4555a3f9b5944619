"""The FHIR service as one Starlette application on the project's HTTP layer (`reasoner.web`).

    app = build_app(engine, claims, tokens, host="127.0.0.1")
    serve(app_settings...)            # blincyto serve-fhir

Every route is in capability.OPERATIONS (plus /metadata and the CDS Hooks pair). The guard of
`reasoner.web` does the Host check, the cross-origin refusal and the body limits for every path,
with its refusals rendered here as OperationOutcomes. On top of it, per request:

- the bearer token (auth.py): required when any is configured, a clinician's for the decision;
- the media type: FHIR JSON (`application/fhir+json` or `application/json`), else 415;
- the work runs off the event loop (which keeps accepting and timing out slow clients): what touches
  the store in one worker thread, one call at a time (the store has one writer); the CPU of a request
  (reading the Bundle, deciding, the response, a DTR form) in worker processes when `--workers` asks for
  them (work.py), else in that same thread. Two submissions of one Claim at once run one after the
  other, so they share one authorization number;
- errors: ServiceError and bad FHIR as OperationOutcomes with their status (errors.py); a store
  that cannot be written is 503; anything else is the guard's 500 `internal error`, nothing more;
- the access log is the guard's: method, route, status and milliseconds, never a body, a query
  string or a path the service does not know (no PHI).
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any, Awaitable, Callable

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from reasoner.fhir.bundle import parse_json
from reasoner.fhir.errors import FhirInputError
from reasoner.fhir.response import dumps
from reasoner.flow.engine import Reasoner
from reasoner.services.auth import Identity, Tokens
from reasoner.services.capability import CDS_DISCOVERY, CDS_SERVICE, METADATA, OPERATIONS, capability_statement
from reasoner.services.claims import ClaimStore
from reasoner.services.crd import Crd
from reasoner.services.dtr import Dtr
from reasoner.services.errors import ISSUE_CODES, ServiceError, from_fhir, outcome
from reasoner.services import work
from reasoner.services.fields import form_model
from reasoner.services.pas import Pas
from reasoner.services.work import Compute
from reasoner.sparql.store import StoreError
from reasoner.web.app import host_rule, make_app
from reasoner.web.limits import Limits

__all__ = ["build_app", "FHIR_JSON"]

FHIR_JSON = "application/fhir+json"
JSON_TYPES = ("application/fhir+json", "application/json")


def fhir_response(status: int, resource: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(resource), status_code=status, media_type=FHIR_JSON,
                    headers={"Cache-Control": "no-store", **(headers or {})})


def json_response(body: dict[str, Any]) -> Response:
    """CDS Hooks JSON (the orders it returns keep their exact decimals)."""
    return Response(dumps(body), media_type="application/json", headers={"Cache-Control": "no-store"})


def render_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """The HTTP layer's refusals (Host, origin, size, routing, 500) as OperationOutcomes."""
    return fhir_response(status, outcome(message.rstrip("\n"), ISSUE_CODES.get(status, "processing")), headers)


class Service:
    """The operations behind the routes (one per process)."""

    def __init__(self, engine: Reasoner, claims: ClaimStore, tokens: Tokens, compute: Compute | None = None) -> None:
        self.engine = engine
        self.claims = claims
        self.tokens = tokens
        self.pas = Pas(engine, claims)
        self.dtr = Dtr(engine)
        self.crd = Crd(engine, claims)
        self.compute = compute or Compute(0)
        form_model(engine.kb)  # the first request should not pay for it
        self._limiter: anyio.CapacityLimiter | None = None
        self._keys: dict[str, asyncio.Lock] = {}

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """In the service's one worker thread: everything that touches the store (and, without worker
        processes, all the work)."""
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(1)
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)

    async def cpu(self, fn: Callable[..., Any], inline: Callable[..., Any], *args: Any) -> Any:
        """`fn` in a worker process when there are any, else `inline` in the worker thread."""
        if self.compute.parallel:
            return await self.compute(fn, *args)
        return await self.run(inline, *args)

    async def submit(self, obj: Any) -> dict[str, Any]:
        if not self.compute.parallel:
            return await self.run(self.pas.submit, obj)
        key = (await self.run(self.pas.prepare, obj)).key
        lock = self._keys.setdefault(key, asyncio.Lock())
        async with lock:  # the same Claim twice at once: one after the other, one authorization
            prepared = await self.run(self.pas.prepare, obj)
            decided = await self.compute(work.pas_decide, obj, prepared.authorization)
            response = await self.run(self.pas.commit, prepared, decided)
        if not lock.locked():
            self._keys.pop(key, None)
        return response

    async def hook(self, service_id: str, obj: Any) -> dict[str, Any]:
        answer = await self.cpu(work.crd_evaluate, self.crd.evaluate, service_id, obj)
        return await self.run(self.crd.commit, answer)

    def identity(self, request: Request, clinician: bool) -> Identity | None:
        who = self.tokens.identify(request.headers.get("authorization"))
        challenge = {"WWW-Authenticate": 'Bearer realm="blincyto"'}
        if clinician:
            if who is None:
                raise ServiceError(401, "a clinician's bearer token is required", code="login", headers=challenge)
            if not who.is_clinician:
                raise ServiceError(403, "only a clinician may record a final decision", code="forbidden")
            return who
        if self.tokens.configured and who is None:
            raise ServiceError(401, "a bearer token is required (Authorization: Bearer <token>)", code="login",
                               headers=challenge)
        return who


def _media_ok(request: Request) -> bool:
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return kind in JSON_TYPES


async def _body(request: Request) -> Any:
    if not _media_ok(request):
        raise ServiceError(415, "send JSON: Content-Type application/fhir+json (or application/json)", code="not-supported")
    data = await request.body()
    try:
        return parse_json(data)
    except FhirInputError as exc:
        raise from_fhir(exc) from None


def _guarded(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except ServiceError as exc:
            return fhir_response(exc.status, exc.outcome(), exc.headers)
        except StoreError:
            return fhir_response(503, outcome("the store cannot be read or written now; try again", "transient"))

    return endpoint


def build_app(engine: Reasoner, claims: ClaimStore, tokens: Tokens, *, host: str = "127.0.0.1",
              limits: Limits | None = None, allow_hosts: tuple[str, ...] = (),
              log: Callable[[str], None] | None = None, compute: Compute | None = None) -> Any:
    service = Service(engine, claims, tokens, compute)
    limits = limits or Limits()

    def operation(op: Any) -> Callable[[Request], Awaitable[Response]]:
        method = {
            ("Claim", "submit"): service.pas.submit,
            ("Claim", "inquire"): service.pas.inquire,
            ("Questionnaire", "questionnaire-package"): service.dtr.package,
            ("Questionnaire", "next-question"): service.dtr.next_question,
        }.get((op.resource, op.code))
        parallel = {"questionnaire-package": work.dtr_package, "next-question": work.dtr_next_question}.get(op.code)

        async def handle(request: Request) -> Response:
            who = service.identity(request, op.clinician)
            obj = await _body(request)
            if op.clinician:
                assert who is not None
                result = await service.run(service.pas.clinician_decision, obj, who.as_agent())
            elif (op.resource, op.code) == ("Claim", "submit"):
                result = await service.submit(obj)
            elif op.resource == "Questionnaire":
                result = await service.cpu(parallel, method, obj)
            else:
                result = await service.run(method, obj)
            return fhir_response(200, result)

        return _guarded(handle)

    async def metadata(request: Request) -> Response:
        service.identity(request, False)
        return fhir_response(200, capability_statement(tokens.configured))

    async def discovery(request: Request) -> Response:
        service.identity(request, False)
        return json_response(service.crd.discovery())

    async def hook(request: Request) -> Response:
        service.identity(request, False)
        obj = await _body(request)
        return json_response(await service.hook(request.path_params["service_id"], obj))

    routes = [Route(METADATA, _guarded(metadata), methods=["GET"]),
              Route(CDS_DISCOVERY, _guarded(discovery), methods=["GET"]),
              Route(CDS_SERVICE, _guarded(hook), methods=["POST"])]
    routes += [Route(op.path, operation(op), methods=["POST"]) for op in OPERATIONS]
    writer = log or (lambda line: (sys.stderr.write(line + "\n"), sys.stderr.flush()))
    return make_app(routes, hosts=host_rule(host, allow_hosts), limits=limits, log=writer, render=render_error)
