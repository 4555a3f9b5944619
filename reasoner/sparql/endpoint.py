"""A read-only SPARQL 1.1 Protocol endpoint over a store directory: hard time limit, streamed and bounded results.

    serve(path, host="127.0.0.1", port=7878, settings=Settings(), limits=Limits())

The HTTP side is the project's shared layer (`reasoner.web`: Starlette on uvicorn, Host check,
cross-origin refusal, body limits, slow-client timeouts, plain errors). This module adds the SPARQL
part; docs/sparql-endpoint.md describes the limits, options and security.

Why worker processes and not Oxigraph's own `oxigraph serve-read-only`: its `--timeout-s` is
cooperative. Measured with oxigraph 0.5.13 on a store of the bundled examples, a query that sorts a
cross product and one that counts an unbounded property path ran on past 12 s under a 2 s limit,
each keeping a core busy after the client gave up. Here each query runs in a worker process on the
same engine (pyoxigraph, the store opened read-only); a worker that passes the limit is killed and
replaced, and the client gets 503 (or, once results are streaming, a cut response).

Results stream: the worker writes them in 64 KiB pieces through a pipe that blocks while the
client is slow to read, so neither process holds more than a few pieces. A result that fits in the
first 256 KiB is sent whole (with Content-Length). Past `max_rows` rows or `max_bytes` bytes, or the
time limit, the response is cut (the client sees an incomplete body, never a silently short result).

Nothing reaches a network: SPARQL SERVICE is refused unless allow-listed (`reasoner.sparql.offline`),
and on Linux the workers run in their own network namespace (no interface but a down loopback) when
no endpoint is allowed.

Protocol (https://www.w3.org/TR/sparql11-protocol/): `GET /query?query=...`, `POST /query` with
`application/x-www-form-urlencoded` (query=...) or `application/sparql-query`; optional
`default-graph-uri` / `named-graph-uri`. Results by content negotiation: SPARQL JSON (default),
XML, CSV, TSV; CONSTRUCT/DESCRIBE as Turtle (default), N-Triples, RDF/XML or JSON-LD. Any update
(`/update`, `update=`, `application/sparql-update`) gets 403; other methods 405. Without
`default-graph-uri` the default graph is the union of all graphs, as for `blincyto query`; the
project's prefixes (bx:, kb:, cp:, shp:, sh:, prov:, ...) are known, as they are to `blincyto query`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import multiprocessing
import os
import re
import signal
import sys
import time
import urllib.parse
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, AsyncIterator, Iterable

import anyio
import pyoxigraph as ox
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from reasoner.sparql.offline import network_refusal
from reasoner.sparql.querytext import code_only, names_dataset
from reasoner.web.app import NOTE, host_rule, make_app, plain
from reasoner.web.limits import Limits
from reasoner.web.server import serve as serve_app

__all__ = ["Settings", "serve", "build_app", "check_store", "QUERY_PATHS", "NotAStore"]

QUERY_PATHS = ("/query", "/sparql")
REFUSED_PATHS = ("/update", "/store", "/data")
CHUNK = 64 << 10   # bytes per piece sent through the pipe
FIRST = 256 << 10  # a result this small is answered whole, with Content-Length
STORE_GRAPH = "https://w3id.org/blincyto-pa/graph/store"  # = store.STORE_GRAPH (the manifest graph)

RESULT_TYPES = {  # SELECT / ASK: media type -> writer format (reasoner.sparql.results)
    "application/sparql-results+json": "json",
    "application/json": "json",
    "application/sparql-results+xml": "xml",
    "application/xml": "xml",
    "text/csv": "csv",
    "text/tab-separated-values": "tsv",
}
GRAPH_TYPES = {  # CONSTRUCT / DESCRIBE
    "text/turtle": ox.RdfFormat.TURTLE,
    "application/n-triples": ox.RdfFormat.N_TRIPLES,
    "text/plain": ox.RdfFormat.N_TRIPLES,
    "application/rdf+xml": ox.RdfFormat.RDF_XML,
    "application/ld+json": ox.RdfFormat.JSON_LD,
}


@dataclass(frozen=True)
class Settings:
    """What an operator chooses for the SPARQL part (`blincyto serve` options)."""

    timeout_s: float = 30.0
    workers: int = 2
    max_rows: int = 100_000
    max_bytes: int = 64 << 20
    allow_service: tuple[str, ...] = ()
    allow_hosts: tuple[str, ...] = ()
    isolate_network: bool = True  # workers in their own network namespace where Linux allows it


class NotAStore(Exception):
    """`serve DIR` on a folder that is not an initialised store (the message says what to run)."""


def check_store(path: Path) -> None:
    """Refuse to serve a folder that is not a store with the knowledge base loaded."""
    if not path.is_dir() or not any(path.iterdir()):
        raise NotAStore(f"no store at {path} (create one with: blincyto store init {path})")
    if not (path / "CURRENT").is_file():
        raise NotAStore(f"{path} is not a store (create one with: blincyto store init DIR)")
    try:
        store = ox.Store.read_only(str(path))
        ready = ox.NamedNode(STORE_GRAPH) in set(store.named_graphs())
    except OSError:
        raise NotAStore(f"{path} cannot be opened as a store") from None
    if not ready:
        raise NotAStore(f"the store at {path} holds no knowledge base (load it with: blincyto store init {path})")


def _negotiate(accept: str, table: dict[str, Any], default: str) -> str:
    """The first acceptable media type of `table` by q-value (ties: the client's order)."""
    ranked = []
    for index, part in enumerate(accept.split(",")[:50]):
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


# --------------------------------------------------------------------------- the worker process


_POSITION = re.compile(r"error at (\d+):(\d+)")
_DECLARED = re.compile(r"\bPREFIX\s+([A-Za-z][\w.-]*)?:", re.IGNORECASE)
_USED = re.compile(r"(?<![\w?$.:-])([A-Za-z][\w.-]*)?:(?=[\w%\\])")


def _undeclared_prefix(text: str, known: Iterable[str]) -> tuple[str, int] | None:
    """(prefix, line) of the first prefixed name whose prefix nobody declared (a best reading of the text)."""
    code = code_only(text)
    declared = set(known) | {m.group(1) or "" for m in _DECLARED.finditer(code)}
    for m in _USED.finditer(code):
        if (m.group(1) or "") not in declared:
            return m.group(1) or "", code.count("\n", 0, m.start()) + 1
    return None


def _syntax_message(exc: SyntaxError, text: str, known: Iterable[str]) -> str:
    """One line naming the position (Oxigraph's own is several lines of "expected one of ...")."""
    missing = _undeclared_prefix(text, known)
    if missing is not None:
        return (f"malformed query at line {missing[1]}: the prefix '{missing[0]}:' is not declared (declare it "
                "with PREFIX; this endpoint knows bx:, kb:, cp:, shp:, sh:, prov:, dcterms:, skos:, rdf:, rdfs:, "
                "owl:, xsd:)")
    m = _POSITION.search(str(exc))
    where = f" at line {m.group(1)}, column {m.group(2)}" if m else ""
    return f"malformed query{where}: check the SPARQL syntax there"


def _isolate_network() -> bool:
    """Move this process into a new, empty network namespace (Linux); False where that is not allowed."""
    if not sys.platform.startswith("linux"):
        return False
    clone_newnet, clone_newuser = 0x40000000, 0x10000000
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return False
    for flags in (clone_newnet, clone_newuser | clone_newnet):
        if libc.unshare(flags) == 0:
            return True
    return False


class _Pipe:
    """The file the worker writes a result into: pieces go to the server, within the byte limit."""

    def __init__(self, conn: Connection, status: int, media: str, max_bytes: int) -> None:
        self.conn, self.status, self.media, self.max_bytes = conn, status, media, max_bytes
        self.buffer = bytearray()
        self.total = 0
        self.headed = False
        self.over = False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        size = len(data)
        if self.total + size > self.max_bytes:
            self.over = True
            raise _Cut("bytes")
        self.total += size
        self.buffer += data
        if len(self.buffer) >= (CHUNK if self.headed else FIRST):
            self._send_piece()
        return size

    def flush(self) -> None:
        pass

    def _send_piece(self) -> None:
        if not self.headed:
            self.conn.send(("head", self.status, self.media))
            self.headed = True
        self.conn.send(("data", bytes(self.buffer)))
        self.buffer.clear()

    def finish(self) -> None:
        if self.headed:
            if self.buffer:
                self._send_piece()
            self.conn.send(("end",))
        else:
            self.conn.send(("whole", self.status, self.media, bytes(self.buffer)))


class _Cut(Exception):
    """The result passed a limit ("rows" or "bytes")."""


def _capped(triples: Any, max_rows: int, flag: list[bool]) -> Any:
    for count, triple in enumerate(triples):
        if count >= max_rows:
            flag[0] = True
            return
        yield triple


def _answer(store: ox.Store, job: dict[str, Any], conn: Connection, prefixes: dict[str, str]) -> None:
    from reasoner.sparql.results import RowLimit, write_boolean, write_solutions

    kwargs: dict[str, Any] = {"prefixes": prefixes}
    if job["default_graphs"]:
        kwargs["default_graph"] = [ox.NamedNode(g) for g in job["default_graphs"]]
    elif not names_dataset(job["query"]):  # the union would override the query's own FROM
        kwargs["use_default_graph_as_union"] = True
    if job["named_graphs"]:
        kwargs["named_graphs"] = [ox.NamedNode(g) for g in job["named_graphs"]]
    try:
        results = store.query(job["query"], **kwargs)
    except SyntaxError as exc:
        conn.send(("error", 400, _syntax_message(exc, job["query"], prefixes)))
        return
    max_rows, max_bytes = job["max_rows"], job["max_bytes"]
    if isinstance(results, (ox.QuerySolutions, ox.QueryBoolean)):
        media = _negotiate(job["accept"], RESULT_TYPES, "application/sparql-results+json")
        out = _Pipe(conn, 200, f"{media}; charset=utf-8", max_bytes)
        try:
            if isinstance(results, ox.QueryBoolean):
                write_boolean(bool(results), RESULT_TYPES[media], out)  # type: ignore[arg-type]
            else:
                write_solutions(results, [v.value for v in results.variables], RESULT_TYPES[media],
                                out, max_rows)  # type: ignore[arg-type]
        except RowLimit:
            return _cut(conn, out, "rows")
        except _Cut:
            return _cut(conn, out, "bytes")
    else:
        media = _negotiate(job["accept"], GRAPH_TYPES, "text/turtle")
        out = _Pipe(conn, 200, f"{media}; charset=utf-8", max_bytes)
        flag = [False]
        try:
            ox.serialize(_capped(results, max_rows, flag), out, GRAPH_TYPES[media])
        except Exception:  # noqa: BLE001 - the writer's _Cut arrives wrapped by the serializer
            if out.over:
                return _cut(conn, out, "bytes")
            raise
        if flag[0]:
            return _cut(conn, out, "rows")
    out.finish()


def _cut(conn: Connection, out: _Pipe, which: str) -> None:
    if out.headed:
        conn.send(("cut", which))
    else:
        limit = "rows" if which == "rows" else "bytes"
        conn.send(("error", 413, f"the result is over this endpoint's limit of {limit}: add a LIMIT, "
                                 "or page through it with LIMIT and OFFSET"))


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


def _worker_main(path: str, conn: Connection, isolate: bool) -> None:
    """One worker: answer jobs from the pipe until it closes (the server stopped or killed it)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which then stops us
    isolated = _isolate_network() if isolate else False
    from reasoner.sparql.store import PREFIXES

    conn.send(("ready", isolated))
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
            _answer(store, job, conn, PREFIXES)
        except (EOFError, OSError, BrokenPipeError):
            return
        except Exception:  # noqa: BLE001 - the client gets a plain 500; nothing internal is sent
            try:
                conn.send(("error", 500, "the query could not be evaluated"))
            except (EOFError, OSError):
                return


# --------------------------------------------------------------------------- the pool (server side)


class _Worker:
    def __init__(self, ctx: Any, path: str, isolate: bool) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(path, child, isolate), daemon=True,
                                   name="blincyto-sparql-worker")
        self.process.start()
        child.close()
        self.isolated = False

    def wait_ready(self, timeout: float) -> bool:
        if self.conn.poll(timeout):
            message = self.conn.recv()
            self.isolated = bool(message[1])
            return True
        return False

    def receive(self, deadline: float) -> Any:
        """The worker's next message, or None past the deadline or if it died."""
        try:
            if self.conn.poll(max(0.0, deadline - time.monotonic())):
                return self.conn.recv()
        except (EOFError, OSError):
            pass
        return None

    def stop(self) -> None:
        self.process.kill()
        self.process.join(5)
        self.conn.close()


class _Busy(Exception):
    pass


class WorkerPool:
    """Worker processes holding the store read-only; a query past the limit kills its worker."""

    def __init__(self, path: str, settings: Settings) -> None:
        self.path, self.settings = path, settings
        self.isolate = settings.isolate_network and not settings.allow_service
        self._ctx = multiprocessing.get_context("spawn")  # no fork of a process running an event loop
        self._idle: asyncio.Queue[_Worker] = asyncio.Queue()
        self._all: set[_Worker] = set()
        self.isolated = False

    async def start(self) -> None:
        workers = await asyncio.gather(*(anyio.to_thread.run_sync(self._spawn) for _ in range(self.settings.workers)))
        for worker in workers:
            self._all.add(worker)
            self._idle.put_nowait(worker)
        self.isolated = all(w.isolated for w in workers)

    def _spawn(self) -> _Worker:
        worker = _Worker(self._ctx, self.path, self.isolate)
        worker.wait_ready(60)
        return worker

    async def _add(self) -> None:
        worker = await anyio.to_thread.run_sync(self._spawn)
        self._all.add(worker)
        self._idle.put_nowait(worker)

    def _replace(self, worker: _Worker) -> None:
        self._all.discard(worker)
        worker.stop()
        asyncio.get_running_loop().create_task(self._add())

    def close(self) -> None:
        for worker in list(self._all):
            worker.stop()
        self._all.clear()

    async def answer(self, job: dict[str, Any], scope: dict[str, Any]) -> Response:
        deadline = time.monotonic() + self.settings.timeout_s
        try:
            worker = await asyncio.wait_for(self._idle.get(), self.settings.timeout_s)
        except asyncio.TimeoutError:
            raise _Busy() from None
        try:
            await anyio.to_thread.run_sync(worker.conn.send, job)
            first = await anyio.to_thread.run_sync(worker.receive, deadline)
        except (EOFError, OSError):
            self._replace(worker)
            raise _Busy() from None
        except BaseException:  # cancelled mid-query: the worker's state is unknown, so replace it
            self._replace(worker)
            raise
        if first is None:
            self._replace(worker)
            if time.monotonic() < deadline:  # the worker died on its own
                scope[NOTE] = "worker died"
                return plain(500, "internal error")
            scope[NOTE] = "worker stopped at the time limit"
            return plain(503, f"Query refused: it ran past the {self.settings.timeout_s:g} s limit.",
                         {"Retry-After": "5"})
        kind = first[0]
        if kind in ("whole", "error"):
            self._idle.put_nowait(worker)
            if kind == "error":
                return plain(first[1], first[2])
            return Response(first[3], status_code=first[1], media_type=first[2], headers=_NO_STORE)
        return StreamingResponse(self._stream(worker, deadline, scope), status_code=first[1],
                                 media_type=first[2], headers=_NO_STORE)

    async def _stream(self, worker: _Worker, deadline: float, scope: dict[str, Any]) -> AsyncIterator[bytes]:
        clean = False
        try:
            while True:
                message = await anyio.to_thread.run_sync(worker.receive, deadline)
                if message is None:
                    scope[NOTE] = "cut at the time limit"
                    raise _Aborted()
                if message[0] == "data":
                    yield message[1]
                elif message[0] == "end":
                    clean = True
                    return
                else:  # "cut" or a late "error"
                    clean = message[0] == "cut"
                    scope[NOTE] = f"cut at the {message[1]} limit" if message[0] == "cut" else "query failed"
                    raise _Aborted()
        finally:
            if clean:
                self._idle.put_nowait(worker)
            else:
                self._replace(worker)


class _Aborted(Exception):
    """Ends a streaming response without its last chunk: the client sees an incomplete body."""


_NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


# --------------------------------------------------------------------------- HTTP


def _params(raw: bytes | str) -> dict[str, list[str]]:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return urllib.parse.parse_qs(text, keep_blank_values=True, max_num_fields=1000)


def build_app(path: str | os.PathLike[str], settings: Settings, limits: Limits,
              log: Any = None, bind_host: str = "127.0.0.1") -> Any:
    """The Starlette application of the endpoint over the store at `path` (workers start with it)."""
    pool = WorkerPool(str(path), settings)
    write = log or (lambda line: (sys.stderr.write(line + "\n"), sys.stderr.flush()))

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        await pool.start()
        app.state.pool = pool
        try:
            yield
        finally:
            pool.close()

    def refuse_update() -> Response:
        return plain(403, "This endpoint is read-only: SPARQL Update is refused.")

    async def query(request: Request) -> Response:
        if request.method not in ("GET", "HEAD", "POST"):
            return plain(405, "Read-only endpoint: GET or POST a query.", {"Allow": "GET, HEAD, POST"})
        try:
            params = _params(request.scope.get("query_string", b""))
        except ValueError:
            return plain(400, "Too many parameters.")
        body_query: str | None = None
        if request.method == "POST":
            content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
            body = await request.body()
            if content_type == "application/sparql-update":
                return refuse_update()
            if content_type == "application/x-www-form-urlencoded":
                try:
                    for key, values in _params(body).items():
                        params.setdefault(key, []).extend(values)
                except ValueError:
                    return plain(400, "Too many parameters.")
            elif content_type == "application/sparql-query":
                try:
                    body_query = body.decode("utf-8")
                except UnicodeDecodeError:
                    return plain(400, "The query is not UTF-8 text.")
            else:
                return plain(415, "POST a query as application/x-www-form-urlencoded or application/sparql-query.")
        if "update" in params:
            return refuse_update()
        queries = [body_query] if body_query is not None else params.get("query", [])
        if len(queries) != 1 or not queries[0].strip():
            return plain(400, "Send exactly one 'query' (SPARQL 1.1 Protocol).")
        graphs = {}
        for key in ("default-graph-uri", "named-graph-uri"):
            graphs[key] = params.get(key, [])
            for iri in graphs[key]:
                try:
                    ox.NamedNode(iri)
                except ValueError:
                    return plain(400, f"{key}: not an absolute IRI.")
        refusal = network_refusal(queries[0], settings.allow_service)
        if refusal is not None:
            request.scope[NOTE] = "SERVICE refused"
            return plain(403, refusal)
        job = {"query": queries[0], "accept": request.headers.get("accept", ""),
               "default_graphs": graphs["default-graph-uri"], "named_graphs": graphs["named-graph-uri"],
               "max_rows": settings.max_rows, "max_bytes": settings.max_bytes}
        try:
            return await pool.answer(job, request.scope)
        except _Busy:
            request.scope[NOTE] = "every worker busy"
            return plain(503, "Query refused: every worker is busy; try again.", {"Retry-After": "5"})

    async def refused(request: Request) -> Response:
        return refuse_update()

    async def home(request: Request) -> Response:
        return plain(200, "SPARQL 1.1 Protocol endpoint (read-only): GET or POST /query")

    methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
    routes = ([Route(p, query, methods=methods) for p in QUERY_PATHS]
              + [Route(p, refused, methods=methods) for p in REFUSED_PATHS]
              + [Route("/", home, methods=["GET", "HEAD"])])
    app = make_app(routes, hosts=host_rule(bind_host, settings.allow_hosts), limits=limits, log=write,
                   lifespan=lifespan)
    app.state.pool = pool
    return app


def serve(path: str | os.PathLike[str], host: str = "127.0.0.1", port: int = 7878,
          settings: Settings | None = None, limits: Limits | None = None, ready: Any = None) -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM); `ready(url, isolated)` is called once it listens."""
    settings = settings or Settings()
    limits = limits or Limits()
    check_store(Path(path))
    app = build_app(path, settings, limits, bind_host=host)

    def announce(url: str) -> None:
        if ready is not None:
            ready(url, app.state.pool.isolated)

    serve_app(app, host, port, limits, ready=announce, path=QUERY_PATHS[0])
