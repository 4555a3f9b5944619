"""A Starlette application behind one guard: what every service of the project answers the same way.

    app = make_app(routes, hosts=host_rule("127.0.0.1"), limits=Limits(), log=print)

The guard (an ASGI middleware around the whole application) does, for every request:

- **Host check** (DNS rebinding): the Host header must name the bound address (`localhost` and the
  loopback addresses when bound to loopback; any IP literal when bound to all interfaces) or a name
  given with `--allow-host`. Otherwise 421.
- **Cross-origin refusal**: a request whose `Origin` is not this server's own (a form another site
  posts, `Origin: null`), or a POST a browser marks `Sec-Fetch-Site: cross-site` / `same-site`, gets
  403. A browser sends form posts without a CORS preflight, so this is the only place to stop them.
- **Body limits on every path**: a `Content-Length` above the limit is refused before a byte is
  read; a chunked body is counted as it arrives (413); a body that stalls between two pieces gets 408.
- **Errors say nothing internal**: client errors are plain text naming what to change; anything
  unexpected is `500 internal error` with nothing more (no exception name, no path, no data). A
  service whose clients expect another error body (FHIR's OperationOutcome) passes `render`.
- **An access log** of method, route, status and milliseconds: never the query string, the body,
  or a path the service does not know (a client-made path may carry anything).
"""

from __future__ import annotations

import ipaddress
import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reasoner.web.limits import Limits

__all__ = ["HostRule", "host_rule", "make_app", "plain", "NOTE", "KNOWN_METHODS"]

Render = Callable[..., Response] | None  # (status, message, headers) -> the error response
NOTE = "reasoner.log_note"  # scope key: a short remark for the access log line (no data in it)
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def plain(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """A plain-text answer (client errors say what to change; never echo what was sent)."""
    return PlainTextResponse(message.rstrip("\n") + "\n", status_code=status,
                             headers={"Cache-Control": "no-store", **(headers or {})})


# --------------------------------------------------------------------------- Host and Origin


def _host_of(value: str) -> str:
    """The host part of a Host header or an origin's authority, lower case, without port or final dot."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    host, sep, port = value.rpartition(":")
    if sep and port.isdigit() and ":" not in host:
        value = host
    return value.rstrip(".")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class HostRule:
    """The names a Host header may carry (lower case), and whether any IP literal is fine."""

    names: frozenset[str]
    any_ip_literal: bool = False

    def allows(self, header: str) -> bool:
        host = _host_of(header)
        return bool(host) and (host in self.names or (self.any_ip_literal and _is_ip(host)))


def host_rule(bind_host: str, allow: Iterable[str] = ()) -> HostRule:
    """The Host names a server bound to `bind_host` answers for (plus `allow`, e.g. a proxy's name).

    An IP-literal Host cannot be the work of DNS rebinding (the page's own origin is that address),
    so a server bound to every interface accepts any; a name must be the bound one or allowed.
    """
    bound = _host_of(bind_host if not (":" in bind_host and not bind_host.startswith("[")) else f"[{bind_host}]")
    names = {_host_of(a) for a in allow if a.strip()} | {bound}
    wildcard = bound in ("0.0.0.0", "::", "")
    try:
        if ipaddress.ip_address(bound).is_loopback:
            names |= LOOPBACK_NAMES
    except ValueError:
        if bound == "localhost":
            names |= LOOPBACK_NAMES
    return HostRule(frozenset(n for n in names if n), any_ip_literal=wildcard)


# --------------------------------------------------------------------------- the guard


class Guard:
    """The ASGI middleware described in the module docstring (one per application)."""

    def __init__(self, app: ASGIApp, *, hosts: HostRule, limits: Limits, log: Callable[[str], None],
                 known_paths: frozenset[str], render: Render = None) -> None:
        self.app, self.hosts, self.limits, self.log, self.known = app, hosts, limits, log, known_paths
        # a route with parameters is logged by its template (`/cds-services/{service_id}`), never the
        # path as sent
        self.templates = [(re.compile(re.sub(r"\\\{[^{}]*\\\}|\{[^{}]*\}", "[^/]+", re.escape(t))), t)
                          for t in sorted(known_paths) if "{" in t]
        self.render = render or plain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, state = time.monotonic(), {"status": 0, "started": False}

        async def logged_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"], state["started"] = message["status"], True
            await send(message)

        try:
            refusal = self._refusal(scope)
            if refusal is not None:
                await self.render(*refusal, {"Connection": "close"})(scope, receive, logged_send)
            else:
                await self.app(scope, self._limited(receive), logged_send)
        except Exception:  # noqa: BLE001 - whatever went wrong, the client learns nothing internal
            scope.setdefault(NOTE, "internal error")
            if not state["started"]:
                await self.render(500, "internal error", {"Connection": "close"})(scope, receive, logged_send)
        finally:
            self._log(scope, state["status"] if state["started"] else 0, started)

    def _refusal(self, scope: Scope) -> tuple[int, str] | None:
        headers = _headers(scope)
        host = headers.get("host")
        if host is None or not self.hosts.allows(host):
            return 421, "This server does not answer for that Host (DNS rebinding protection)."
        origin = headers.get("origin")
        if origin is not None:
            authority = origin.partition("://")[2].partition("/")[0]
            if not authority or authority.lower() != host.strip().lower():
                return 403, "Cross-origin requests are refused."
        if scope["method"] not in ("GET", "HEAD") and headers.get("sec-fetch-site") in ("cross-site", "same-site"):
            return 403, "Cross-origin requests are refused."
        length = headers.get("content-length")
        if length is not None:
            if not length.strip().isdigit():
                return 400, "Content-Length is not a number."
            if int(length) > self.limits.max_body:
                return 413, f"The request body is over the limit of {self.limits.max_body} bytes."
        return None

    def _limited(self, receive: Receive) -> Receive:
        """`receive` with the body limit and the stall timeout, until the body is complete."""
        total, done = 0, False

        async def limited() -> Message:
            nonlocal total, done
            if done:
                return await receive()
            try:
                with anyio.fail_after(self.limits.body_timeout_s):
                    message = await receive()
            except TimeoutError:
                raise HTTPException(408, "The request body stalled: send it without pauses.",
                                    headers={"Connection": "close"}) from None
            if message["type"] == "http.request":
                total += len(message.get("body", b""))
                done = not message.get("more_body", False)
                if total > self.limits.max_body:
                    raise HTTPException(413, f"The request body is over the limit of {self.limits.max_body} bytes.",
                                        headers={"Connection": "close"})
            return message

        return limited

    def _log(self, scope: Scope, status: int, started: float) -> None:
        method = scope.get("method", "")
        path = scope.get("path", "")
        route = path if path in self.known else next(
            (template for pattern, template in self.templates if pattern.fullmatch(path)), "(other path)")
        note = scope.get(NOTE)
        shown = status or "-"
        self.log(f"{time.strftime('%d/%b/%Y %H:%M:%S')} {method if method in KNOWN_METHODS else '(other)'} "
                 f"{route} {shown} {(time.monotonic() - started) * 1000:.0f} ms" + (f" ({note})" if note else ""))


def _headers(scope: Scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in scope.get("headers", []):
        out.setdefault(key.decode("latin-1").lower(), value.decode("latin-1"))
    return out


def _http_error(render: Callable[..., Response]) -> Callable[..., Any]:
    async def handler(request: Request, exc: Exception) -> Response:
        """Starlette's HTTPException (404, 405, 408, 413 ...) as plain text (or `render`), with its headers."""
        assert isinstance(exc, HTTPException)
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail else "refused"
        return render(exc.status_code, detail, dict(exc.headers or {}))

    return handler


def make_app(routes: Sequence[BaseRoute], *, hosts: HostRule, limits: Limits, log: Callable[[str], None],
             lifespan: Any = None, render: Render = None) -> Starlette:
    """The application: `routes` behind the guard, HTTP errors as plain text (or `render(status,
    message, headers)`), no debug pages."""
    known = frozenset(getattr(r, "path", "") for r in routes) - {""}
    return Starlette(routes=list(routes), lifespan=lifespan,
                     middleware=[Middleware(Guard, hosts=hosts, limits=limits, log=log, known_paths=known,
                                            render=render)],
                     exception_handlers={HTTPException: _http_error(render or plain)})
