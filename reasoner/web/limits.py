"""The limits every service on this HTTP layer enforces, in one record the command line fills."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Bounds on what one client can make the server hold; each is documented in docs/sparql-endpoint.md."""

    max_body: int = 1 << 20          # bytes of a request body (413 above it, on every path)
    head_timeout_s: float = 10.0     # from connecting (or the last response) to a complete request head
    body_timeout_s: float = 10.0     # between two pieces of a request body (408 after it)
    keep_alive_s: int = 5            # an idle keep-alive connection is closed after this
    max_connections: int = 1000      # open connections at once (503 to the next)
    max_header_bytes: int = 16 << 10  # request line and headers (h11's incomplete-event limit)
