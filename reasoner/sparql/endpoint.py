"""A read-only SPARQL 1.1 Protocol endpoint over a store directory, with a hard query time limit.

    serve(path, host="127.0.0.1", port=7878, timeout_s=30, workers=2)

Why not Oxigraph's own `oxigraph serve-read-only`: its `--timeout-s` is cooperative. Measured with
oxigraph 0.5.13 on a store of the bundled examples, a query that sorts a cross product and one
that counts an unbounded property path ran on past 12 s under a 2 s limit, each keeping a core
busy after the client gave up. Here each query runs in a worker process on the same engine
(pyoxigraph, the store opened read-only); a worker that passes the limit is killed and replaced,
and the client gets 503. The protocol layer is the standard library's HTTP server.

Protocol (https://www.w3.org/TR/sparql11-protocol/): `GET /query?query=...`, `POST /query` with
`application/x-www-form-urlencoded` (query=...) or `application/sparql-query`; optional
`default-graph-uri` / `named-graph-uri`. Results by content negotiation: SPARQL JSON (default),
XML, CSV, TSV; CONSTRUCT/DESCRIBE as Turtle (default), N-Triples, RDF/XML or JSON-LD. Any update
(`/update`, `update=`, `application/sparql-update`) gets 403; other methods 405. Without
`default-graph-uri` the default graph is the union of all graphs, as for `blincyto query`.

The log names method, path, status and duration, never the query text (it may carry request data).
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import socket
import sys
import threading
import time
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pyoxigraph as ox

__all__ = ["serve", "make_server", "QUERY_PATHS"]

QUERY_PATHS = ("/query", "/sparql")
MAX_BODY = 1 << 20  # a query larger than 1 MiB is refused (413)

RESULT_TYPES = {  # SELECT / ASK: media type -> pyoxigraph format
    "application/sparql-results+json": ox.QueryResultsFormat.JSON,
    "application/json": ox.QueryResultsFormat.JSON,
    "application/sparql-results+xml": ox.QueryResultsFormat.XML,
    "application/xml": ox.QueryResultsFormat.XML,
    "text/csv": ox.QueryResultsFormat.CSV,
    "text/tab-separated-values": ox.QueryResultsFormat.TSV,
}
GRAPH_TYPES = {  # CONSTRUCT / DESCRIBE
    "text/turtle": ox.RdfFormat.TURTLE,
    "application/n-triples": ox.RdfFormat.N_TRIPLES,
    "text/plain": ox.RdfFormat.N_TRIPLES,
    "application/rdf+xml": ox.RdfFormat.RDF_XML,
    "application/ld+json": ox.RdfFormat.JSON_LD,
}


def _negotiate(accept: str, table: dict[str, Any], default: str) -> str:
    """The first acceptable media type of `table` by q-value (ties: the client's order)."""
    ranked = []
    for index, part in enumerate(accept.split(",")):
        fields = [f.strip() for f in part.split(";")]
        media, q = fields[0].lower(), 1.0
        for f in fields[1:]:
            if f.startswith("q="):
                try:
                    q = float(f[2:])
                except ValueError:
                    q = 0.0
        if media and q > 0:
            ranked.append((-q, index, media))
    for _, _, media in sorted(ranked):
        if media in table:
            return media
        if media in ("*/*", "application/*", "text/*"):
            return default
    return default


# --------------------------------------------------------------------------- worker processes


def _store_stamp(path: Path) -> tuple[int, int]:
    """Changes whenever the store's files change: new determinations reach the next query."""
    newest, count = 0, 0
    for entry in os.scandir(path):
        try:
            newest = max(newest, entry.stat().st_mtime_ns)
        except OSError:
            continue
        count += 1
    return newest, count


def _execute(store: ox.Store, job: dict[str, Any]) -> tuple[int, str, bytes]:
    kwargs: dict[str, Any] = {}
    if job["default_graphs"]:
        kwargs["default_graph"] = [ox.NamedNode(g) for g in job["default_graphs"]]
    else:
        kwargs["use_default_graph_as_union"] = True
    if job["named_graphs"]:
        kwargs["named_graphs"] = [ox.NamedNode(g) for g in job["named_graphs"]]
    try:
        results = store.query(job["query"], **kwargs)
    except SyntaxError as exc:
        return 400, "text/plain; charset=utf-8", f"malformed query: {exc}".encode()
    except ValueError as exc:  # e.g. an invalid graph IRI
        return 400, "text/plain; charset=utf-8", str(exc).encode()
    if isinstance(results, (ox.QuerySolutions, ox.QueryBoolean)):
        media = _negotiate(job["accept"], RESULT_TYPES, "application/sparql-results+json")
        body = results.serialize(format=RESULT_TYPES[media])
    else:
        media = _negotiate(job["accept"], GRAPH_TYPES, "text/turtle")
        body = ox.serialize(list(results), format=GRAPH_TYPES[media]) or b""
    return 200, f"{media}; charset=utf-8", body


def _worker_main(path: str, conn: Connection) -> None:
    """One worker: answer jobs from the pipe until it closes (the server stopped or killed it)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which then stops us
    store: ox.Store | None = None
    stamp: tuple[int, int] | None = None
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        try:
            now = _store_stamp(Path(path))
            if store is None or now != stamp:
                store, stamp = None, None
                store, stamp = ox.Store.read_only(path), now
            reply = _execute(store, job)
        except Exception as exc:  # noqa: BLE001 - the server answers 500 and goes on
            reply = (500, "text/plain; charset=utf-8", f"query failed: {type(exc).__name__}: {exc}".encode())
        try:
            conn.send(reply)
        except (EOFError, OSError):
            return


class _Worker:
    def __init__(self, ctx: Any, path: str) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(path, child), daemon=True,
                                   name="blincyto-sparql-worker")
        self.process.start()
        child.close()

    def stop(self) -> None:
        self.process.kill()
        self.process.join(5)
        self.conn.close()


class QueryTimeout(Exception):
    pass


class WorkerPool:
    """Worker processes holding the store read-only; a query past the limit kills its worker."""

    def __init__(self, path: str, size: int, timeout_s: float) -> None:
        self.path, self.timeout_s = path, timeout_s
        self._ctx = multiprocessing.get_context("spawn")  # no fork of a threaded server
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all: set[_Worker] = set()
        self._lock = threading.Lock()
        for _ in range(size):
            self._add()

    def _add(self) -> None:
        worker = _Worker(self._ctx, self.path)
        with self._lock:
            self._all.add(worker)
        self._idle.put(worker)

    def run(self, job: dict[str, Any]) -> tuple[int, str, bytes]:
        deadline = time.monotonic() + self.timeout_s
        try:
            worker = self._idle.get(timeout=self.timeout_s)
        except queue.Empty:
            raise QueryTimeout("every worker is busy") from None
        remaining = max(0.0, deadline - time.monotonic())
        try:
            worker.conn.send(job)
            if worker.conn.poll(remaining):
                reply = worker.conn.recv()
                self._idle.put(worker)
                return reply
        except (EOFError, OSError):
            pass
        # Past the limit (or the worker died): kill it and start another in the background.
        with self._lock:
            self._all.discard(worker)
        worker.stop()
        threading.Thread(target=self._add, daemon=True).start()
        raise QueryTimeout(f"the query ran past the {self.timeout_s:g} s limit")

    def close(self) -> None:
        with self._lock:
            workers, self._all = list(self._all), set()
        for worker in workers:
            worker.stop()


# --------------------------------------------------------------------------- HTTP


class _Handler(BaseHTTPRequestHandler):
    server_version = "blincyto-sparql/1"
    protocol_version = "HTTP/1.1"
    pool: WorkerPool  # set on the subclass made by make_server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
        pass  # replaced by _log: the default would write the query string

    def _log(self, status: int, started: float) -> None:
        path = urllib.parse.urlsplit(self.path).path
        sys.stderr.write(f"{self.log_date_time_string()} {self.command} {path} {status} "
                         f"{(time.monotonic() - started) * 1000:.0f} ms\n")

    def _send(self, status: int, content_type: str, body: bytes, started: float,
              extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self._log(status, started)

    def _text(self, status: int, message: str, started: float, extra: dict[str, str] | None = None) -> None:
        self._send(status, "text/plain; charset=utf-8", (message + "\n").encode(), started, extra)

    def _refuse_update(self, started: float) -> None:
        self._text(HTTPStatus.FORBIDDEN, "This endpoint is read-only: SPARQL Update is refused.", started)

    def _answer(self, params: dict[str, list[str]], body_query: str | None, started: float) -> None:
        if "update" in params:
            return self._refuse_update(started)
        queries = params.get("query", [])
        if body_query is not None:
            queries = [body_query]
        if len(queries) != 1 or not queries[0].strip():
            return self._text(HTTPStatus.BAD_REQUEST, "Send exactly one 'query' (SPARQL 1.1 Protocol).", started)
        job = {"query": queries[0], "accept": self.headers.get("Accept", ""),
               "default_graphs": params.get("default-graph-uri", []),
               "named_graphs": params.get("named-graph-uri", [])}
        try:
            status, content_type, body = self.pool.run(job)
        except QueryTimeout as exc:
            return self._text(HTTPStatus.SERVICE_UNAVAILABLE, f"Query refused: {exc}.", started,
                              {"Retry-After": "5"})
        self._send(status, content_type, body, started)

    def _routed(self, started: float) -> bool:
        path = urllib.parse.urlsplit(self.path).path.rstrip("/") or "/"
        if path in QUERY_PATHS:
            return True
        if path in ("/update", "/store", "/data"):
            self._refuse_update(started)
        elif path == "/":
            self._text(HTTPStatus.OK, "SPARQL 1.1 Protocol endpoint (read-only): GET or POST /query", started)
        else:
            self._text(HTTPStatus.NOT_FOUND, "Not found: the endpoint is /query.", started)
        return False

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        started = time.monotonic()
        if self._routed(started):
            params = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query, keep_blank_values=True)
            self._answer(params, None, started)

    do_HEAD = do_GET

    def do_POST(self) -> None:  # noqa: N802
        started = time.monotonic()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True
            return self._text(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "The request is too large.", started)
        body = self.rfile.read(length) if length else b""
        if not self._routed(started):
            return
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        params = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query, keep_blank_values=True)
        if content_type == "application/sparql-update":
            return self._refuse_update(started)
        if content_type == "application/x-www-form-urlencoded":
            for key, values in urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items():
                params.setdefault(key, []).extend(values)
            return self._answer(params, None, started)
        if content_type == "application/sparql-query":
            return self._answer(params, body.decode("utf-8", "replace"), started)
        self._text(HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                   "POST a query as application/x-www-form-urlencoded or application/sparql-query.", started)

    def _not_allowed(self) -> None:
        self._text(HTTPStatus.METHOD_NOT_ALLOWED, "Read-only endpoint: GET or POST a query.",
                   time.monotonic(), {"Allow": "GET, HEAD, POST"})

    do_PUT = do_DELETE = do_PATCH = _not_allowed


def make_server(path: str | os.PathLike[str], host: str, port: int, timeout_s: float,
                workers: int = 2) -> tuple[ThreadingHTTPServer, WorkerPool]:
    """The HTTP server and its worker pool, bound but not yet serving (tests and `serve` use it)."""
    pool = WorkerPool(str(path), workers, timeout_s)
    handler = type("Handler", (_Handler,), {"pool": pool})
    server_class = ThreadingHTTPServer
    if ":" in host:  # an IPv6 address such as ::1
        server_class = type("Server6", (ThreadingHTTPServer,), {"address_family": socket.AF_INET6})
    try:
        server = server_class((host, port), handler)
    except OSError:
        pool.close()
        raise
    server.daemon_threads = True
    return server, pool


def serve(path: str | os.PathLike[str], host: str = "127.0.0.1", port: int = 7878, timeout_s: float = 30,
          workers: int = 2, ready: Any = None) -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM); `ready(url)` is called once it listens."""
    server, pool = make_server(path, host, port, timeout_s, workers)

    def stop(signum: int, frame: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        if ready is not None:
            shown = f"[{host}]" if ":" in host else host
            ready(f"http://{shown}:{server.server_address[1]}{QUERY_PATHS[0]}")
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.server_close()
        pool.close()
