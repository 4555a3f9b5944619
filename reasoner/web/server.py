"""Run an application on uvicorn with the project's limits: slow clients time out, connections are capped.

    serve(app, host="127.0.0.1", port=7878, limits=Limits(), ready=lambda url: ...)

uvicorn times out an idle keep-alive connection, but not a client that connects and sends its request
head slowly (or never): `_HeadTimeoutProtocol` closes such a connection after `head_timeout_s`, so 300
half-sent requests hold 300 sockets for seconds and no thread at all. uvicorn's own log is silenced:
its messages can carry exception text; the application's guard writes the access log instead.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from typing import Any, Callable

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from reasoner.web.limits import Limits

__all__ = ["serve", "make_server", "listen"]


class _HeadTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request head is not complete in time."""

    head_timeout_s: float = 10.0
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._too_slow)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _too_slow(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def _protocol(limits: Limits) -> type[H11Protocol]:
    return type("HeadTimeoutProtocol", (_HeadTimeoutProtocol,), {"head_timeout_s": limits.head_timeout_s})


def make_server(app: Any, host: str, port: int, limits: Limits) -> uvicorn.Server:
    """A uvicorn server for `app`, not yet started (tests and `serve` use it)."""
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi"):
        logger = logging.getLogger(name)
        logger.handlers, logger.propagate = [logging.NullHandler()], False
    config = uvicorn.Config(
        app, host=host, port=port, http=_protocol(limits), ws="none", lifespan="on", log_config=None,
        access_log=False, server_header=False, proxy_headers=False, timeout_keep_alive=limits.keep_alive_s,
        limit_concurrency=limits.max_connections, h11_max_incomplete_event_size=limits.max_header_bytes,
        timeout_graceful_shutdown=5)
    return _Server(config)


class _Server(uvicorn.Server):
    """uvicorn's server, calling `on_started` as soon as it listens and before the event loop runs
    again: nothing it serves is logged before the caller's ready line."""

    on_started: Callable[[], None] | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and self.on_started is not None:
            self.on_started()


def listen(host: str, port: int) -> socket.socket:
    """The listening socket (bound here, so a taken port is an OSError the caller words)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(512)
    except OSError:
        sock.close()
        raise
    return sock


def serve(app: Any, host: str, port: int, limits: Limits, ready: Callable[[str], None] | None = None,
          path: str = "/") -> None:
    """Serve until Ctrl-C or SIGTERM; `ready(url)` is called once the socket listens (port 0: any free)."""
    sock = listen(host, port)
    server = make_server(app, host, sock.getsockname()[1], limits)

    if ready is not None:
        shown = f"[{host}]" if ":" in host else host
        server.on_started = lambda: ready(f"http://{shown}:{sock.getsockname()[1]}{path}")

    async def main() -> None:
        await server.serve(sockets=[sock])

    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then raises the signal again for the handler it
    # found: a no-op for SIGTERM lets `serve` return normally (exit status 0).
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        sock.close()
