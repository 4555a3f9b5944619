"""`blincyto serve-fhir`: the Da Vinci services (PAS, DTR, CRD) as one HTTP service (reasoner/services).

    blincyto serve-fhir [--store DIR|URL] [--store-query URL] [--host 127.0.0.1] [--port 8080]
                        [--tokens FILE] [--allow-host NAME ...] [--max-body-mb 4] [--client-timeout 10]
                        [--workers N]

Loopback by default. Off loopback a client token is required (--tokens, or BLINCYTO_FHIR_TOKEN) or the
service does not start. Without --store, claims live in memory and are lost at exit.
"""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path
from typing import Any, Optional

from reasoner.cli.exits import Exit
from reasoner.cli.table import Command, opt

EXIT_ERROR = 1


def _error(message: str) -> Exit:
    sys.stderr.write(f"error: {message}\n")
    return Exit(EXIT_ERROR)


def _loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


COMMANDS = (Command(("serve-fhir",), "Da Vinci PAS ($submit, $inquire), DTR ($questionnaire-package, "
                    "$next-question), CRD (CDS Hooks).", (
    opt("store", "--store", metavar="DIR|URL", help="where claims and determinations are kept: a store directory, "
        "or a SPARQL 1.1 Update URL (default: memory, lost at exit)"),
    opt("store_query", "--store-query", metavar="URL",
        help="the query endpoint of a --store URL (default: its /update replaced by /query)"),
    opt("host", "--host", default="127.0.0.1", help="address to bind; loopback unless you mean otherwise"),
    opt("port", "--port", type="int", default=8080, min=0, max=65535, help="TCP port (0: any free port)"),
    opt("tokens", "--tokens", type="path", metavar="FILE",
        help="bearer tokens (JSON of SHA-256 digests; clients and clinicians); see docs/services.md"),
    opt("allow_host", "--allow-host", metavar="NAME", multiple=True,
        help="a Host name to answer for besides the bound address, e.g. a proxy's (repeatable)"),
    opt("max_body_mb", "--max-body-mb", type="int", default=4, min=1, max=256,
        help="largest request body in MiB (413 above it)"),
    opt("client_timeout", "--client-timeout", type="float", default=10.0, min=0.1,
        help="seconds a client may take to send its request head, or pause within its body"),
    opt("workers", "--workers", type="int", default=0, min=0, max=64,
        help="worker processes for the CPU of requests (deciding, forms); 0: in the service's own thread"),
), "reasoner.cli.services:serve_fhir"),)


def serve_fhir(store: Optional[str] = None, store_query: Optional[str] = None, host: str = "127.0.0.1",
               port: int = 8080, tokens: Optional[Path] = None, allow_host: Optional[list[str]] = None,
               max_body_mb: int = 4, client_timeout: float = 10.0, workers: int = 0) -> None:
    """`serve-fhir`: until interrupted."""
    from reasoner.flow.engine import default_reasoner
    from reasoner.services.app import build_app
    from reasoner.services.auth import ENV_TOKEN, TokenFileError, Tokens
    from reasoner.services.claims import ClaimStore
    from reasoner.services.work import Compute
    from reasoner.sparql.store import StoreError
    from reasoner.web.limits import Limits
    from reasoner.web.server import serve

    try:
        known = Tokens.load(tokens)
    except TokenFileError as exc:
        raise _error(str(exc)) from None
    if not _loopback(host) and not known.has_client:
        raise _error(f"--host {host} is not loopback: give client tokens (--tokens FILE or {ENV_TOKEN}); "
                     "every endpoint then needs one")
    engine = default_reasoner()
    compute = Compute(workers)  # forked now, before the store is opened and the server runs threads
    try:
        claims = ClaimStore(store, query_url=store_query)
    except StoreError as exc:
        compute.close()
        raise _error(str(exc)) from None
    limits = Limits(max_body=max_body_mb << 20, head_timeout_s=client_timeout, body_timeout_s=client_timeout)
    app = build_app(engine, claims, known, host=host, limits=limits, allow_hosts=tuple(allow_host or []),
                    compute=compute)

    def ready(url: str) -> None:
        access = "bearer token required" if known.configured else "no token (loopback only)"
        extra = f"; {workers} worker processes" if workers else ""
        sys.stderr.write(f"FHIR service: {url}metadata (PAS, DTR, CRD at {url}cds-services; {access}; "
                         f"claims in {claims.where}{extra}; Ctrl-C stops it)\n")
        sys.stderr.flush()

    try:
        serve(app, host, port, limits, ready=ready)
    except OSError as exc:
        raise _error(f"cannot serve on {host}:{port}: {exc.strerror or 'the address cannot be used'}") from None
    finally:
        compute.close()
        claims.close()


def register(app: Any) -> None:
    from reasoner.cli.typed import add

    for command in COMMANDS:
        add(app, command)
