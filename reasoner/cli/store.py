"""Commands for informatics teams: `store init`, `store info`, `query` and `serve` (see reasoner/store.py).

    blincyto store init DIR|URL              load the ontology, policy version and shapes graphs
    blincyto store info DIR                  graphs and triple counts
    blincyto query QUERY [--store DIR|URL] [--format table|csv|json|tsv|xml] [--bind VAR=TERM ...]
    blincyto query --list                    the saved queries and the question each answers
    blincyto serve DIR [--host 127.0.0.1] [--port 7878] [--timeout 30] [--workers 2] [--max-rows N]
                   [--max-result-mb N] [--allow-service URL ...] [--allow-host NAME ...]
                   [--client-timeout 10]

QUERY is a saved query's name (queries/NAME.rq), a .rq file, or the query text. Without --store
it runs on the bundled knowledge base. Errors go to standard error with exit status 1.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Any, Optional

from reasoner.cli.exits import Exit
from reasoner.cli.table import Command, arg, opt

EXIT_ERROR = 1


class ResultFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"
    tsv = "tsv"
    xml = "xml"


def _error(message: str) -> Exit:
    sys.stderr.write(f"error: {message}\n")
    return Exit(EXIT_ERROR)


def _parse_bindings(values: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        name, sep, term = item.partition("=")
        if not sep or not name.strip() or not term.strip():
            raise _error(f"--bind: expected VAR=TERM, got {item!r}")
        out[name.strip().lstrip("?$")] = term.strip()
    return out


def _compact(value: str) -> str:
    from reasoner.sparql.store import PREFIXES

    for prefix, iri in PREFIXES.items():
        if value.startswith(iri) and len(value) > len(iri):
            return f"{prefix}:{value[len(iri):]}"
    return value


def _cell(term: Any) -> str:
    import pyoxigraph as ox

    if term is None:
        return ""
    if isinstance(term, ox.NamedNode):
        return _compact(term.value)
    if isinstance(term, ox.BlankNode):
        return f"_:{term.value}"
    if isinstance(term, ox.Literal):
        return term.value
    return str(term)


def _print_table(results: Any) -> None:
    import pyoxigraph as ox
    from rich.console import Console
    from rich.table import Table

    # On a terminal the table fits its width; piped or redirected, rows are not wrapped.
    width = None if sys.stdout.isatty() else 100_000
    console = Console(file=sys.stdout, highlight=False, soft_wrap=False, width=width)
    if isinstance(results, ox.QueryBoolean):
        console.print("true" if bool(results) else "false")
        return
    names = [v.value for v in results.variables]
    table = Table(show_lines=False, header_style="bold")
    for name in names:
        table.add_column(name, overflow="fold")
    count = 0
    for solution in results:
        table.add_row(*[_cell(solution[name]) for name in names])
        count += 1
    console.print(table)
    console.print(f"{count} row{'s' if count != 1 else ''}")


def _write(results: Any, fmt: ResultFormat) -> None:
    import pyoxigraph as ox

    if isinstance(results, (ox.QuerySolutions, ox.QueryBoolean)):
        if fmt is ResultFormat.table:
            _print_table(results)
            return
        formats = {ResultFormat.csv: ox.QueryResultsFormat.CSV, ResultFormat.json: ox.QueryResultsFormat.JSON,
                   ResultFormat.tsv: ox.QueryResultsFormat.TSV, ResultFormat.xml: ox.QueryResultsFormat.XML}
        data = results.serialize(format=formats[fmt])
    else:  # CONSTRUCT / DESCRIBE: triples, as Turtle (N-Triples for csv/tsv, JSON-LD for json)
        rdf = {ResultFormat.json: ox.RdfFormat.JSON_LD, ResultFormat.xml: ox.RdfFormat.RDF_XML,
               ResultFormat.csv: ox.RdfFormat.N_TRIPLES, ResultFormat.tsv: ox.RdfFormat.N_TRIPLES}
        from reasoner.sparql.store import PREFIXES

        rdf_format = rdf.get(fmt, ox.RdfFormat.TURTLE)
        kwargs = {"prefixes": PREFIXES} if rdf_format is ox.RdfFormat.TURTLE else {}
        data = ox.serialize(list(results), format=rdf_format, **kwargs) or b""
    out = getattr(sys.stdout, "buffer", None)
    if out is not None:
        sys.stdout.flush()
        out.write(data)
        if not data.endswith(b"\n"):
            out.write(b"\n")
        out.flush()
    else:
        text = data.decode("utf-8")
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


COMMANDS = (
    Command(("store", "init"), "Load the ontology, the policy version and the shapes as named graphs "
            "(determinations are kept).", (
                arg("target", metavar="DIR|URL", required=True,
                    help="store directory (created if new), or a SPARQL 1.1 Update endpoint URL"),
            ), "reasoner.cli.store:store_init", one_off=True),
    Command(("store", "info"), "List the store's graphs with their triple counts, and how many determinations "
            "it holds.", (
                arg("target", metavar="DIR", type="path", required=True, help="store directory"),
            ), "reasoner.cli.store:store_info", one_off=True),
    Command(("query",), "Ask a SPARQL question of the policy and of past determinations.", (
        arg("query_arg", metavar="QUERY", help="saved query name, .rq file, or SPARQL text"),
        opt("store", "--store",
            help="store directory, or a SPARQL query endpoint URL; default: the bundled knowledge base"),
        opt("format", "--format", "-f", metavar="table|csv|json|tsv|xml", choices=ResultFormat,
            default=ResultFormat.table.value, help="table, or a SPARQL 1.1 results format"),
        opt("bind", "--bind", "-b", metavar="VAR=TERM", multiple=True,
            help="fix a variable (trailing VALUES), e.g. indication=kb:indication-mrd-positive"),
        opt("list_", "--list", type="bool", default=False, help="list the saved queries and their questions"),
        opt("allow_service", "--allow-service", metavar="URL", multiple=True,
            help="a SPARQL endpoint that SERVICE may call (repeatable); none by default"),
    ), "reasoner.cli.store:query", one_off=True),  # results stream from Oxigraph: nothing cyclic piles up
    Command(("serve",), "A read-only SPARQL 1.1 Protocol endpoint over the store at /query; UPDATE is refused (403).", (
        arg("target", metavar="DIR", type="path", required=True, help="store directory"),
        opt("host", "--host", default="127.0.0.1", help="address to bind; loopback unless you mean otherwise"),
        opt("port", "--port", type="int", default=7878, min=0, max=65535, help="TCP port (0: any free port)"),
        opt("timeout", "--timeout", type="float", default=30.0, min=0.1,
            help="query time limit in seconds, sending the results included"),
        opt("workers", "--workers", type="int", default=2, min=1, max=64,
            help="queries answered at once (one process each)"),
        opt("max_rows", "--max-rows", type="int", default=100_000, min=1,
            help="rows (or triples) of one result; past it the response is cut"),
        opt("max_mb", "--max-result-mb", type="int", default=64, min=1,
            help="MiB of one result; past it the response is cut"),
        opt("allow_service", "--allow-service", metavar="URL", multiple=True,
            help="a SPARQL endpoint that SERVICE may call (repeat for more); none by default"),
        opt("allow_host", "--allow-host", metavar="NAME", multiple=True,
            help="a Host name to answer for besides the bound address, e.g. a proxy's (repeatable)"),
        opt("client_timeout", "--client-timeout", type="float", default=10.0, min=0.1,
            help="seconds a client may take to send its request head, or pause within its body"),
    ), "reasoner.cli.store:serve"),
)


def store_init(target: str) -> None:
    """`store init`: the graphs' names, and who can read the store."""
    from reasoner.sparql.store import StoreError, is_url, open_store

    try:
        with open_store(target) as store:
            names = store.init_kb()
    except StoreError as exc:
        raise _error(str(exc)) from None
    except OSError as exc:  # e.g. a path through a file: one line naming it, not a traceback
        raise _error(f"cannot use {target}: {exc.strerror or type(exc).__name__}") from None
    for role in ("ontology", "policy", "shapes", "store"):
        sys.stdout.write(f"{role:9} <{names[role]}>\n")
    if not is_url(target):  # the store holds PHI: say who can read it
        mode = Path(target).stat().st_mode & 0o777
        if mode & 0o077:
            sys.stderr.write(f"warning: {target} is open to other users (mode {mode:o}); "
                             f"the store holds PHI: chmod 700 {target}\n")
        else:
            sys.stderr.write(f"note: {target} is private to you (folder {mode:o}, files 600)\n")


def store_info(target: Path) -> None:
    """`store info`: the graphs and the determinations."""
    from reasoner.sparql.store import StoreError, query_local, store_summary

    if not target.is_dir():
        raise _error(f"no store at {target}")
    try:
        rows = list(store_summary(target))
        count = query_local(target, "PREFIX bx: <https://w3id.org/blincyto-pa/ontology#> "
                                    "SELECT (COUNT(DISTINCT ?d) AS ?n) { ?d a bx:Determination }")
        n = next(iter(count))["n"].value
    except (StoreError, OSError) as exc:
        raise _error(str(exc)) from None
    determination_graphs = [g for g, _ in rows if g.startswith("urn:blincyto:determination:")]
    for graph, triples in rows:
        if not graph.startswith("urn:blincyto:determination:"):
            sys.stdout.write(f"{triples:8} <{graph}>\n")
    sys.stdout.write(f"{sum(t for g, t in rows if g in determination_graphs):8} in "
                     f"{len(determination_graphs)} determination graphs ({n} determinations)\n")


def query(query_arg: Optional[str] = None, store: Optional[str] = None, format: ResultFormat = ResultFormat.table,
          bind: Optional[list[str]] = None, list_: bool = False, allow_service: Optional[list[str]] = None) -> None:
    """`query`: the results on standard output, an error as one line (exit 1)."""
    from reasoner.sparql.offline import network_refusal, normalise_endpoint
    from reasoner.sparql.store import (QuerySyntaxError, StoreError, is_url, query_endpoint, query_local,
                                       query_question, resolve_query, saved_queries, with_bindings,
                                       with_prefixes)

    if list_:
        for name, path in saved_queries().items():
            sys.stdout.write(f"{name}\n    {query_question(path)}\n")
        return
    if query_arg is None:
        raise _error("QUERY is required (a saved query name, a .rq file or SPARQL text); see --list")
    added = 0
    try:
        allowed = [normalise_endpoint(u) for u in allow_service or []]
    except ValueError as exc:
        raise _error(f"--allow-service: {exc}") from None
    try:
        own = resolve_query(query_arg)
        prefixed = with_prefixes(own)
        added = prefixed.count("\n") - own.count("\n")  # lines of PREFIX declarations put on top
        text = with_bindings(prefixed, _parse_bindings(bind or []))
        refusal = network_refusal(text, allowed)
        if refusal is not None:
            raise StoreError(refusal)
        if store is not None and is_url(store):
            results = query_endpoint(store, text)
        else:
            results = query_local(store, text)
        _write(results, format)
    except QuerySyntaxError as exc:
        raise _error(str(exc.shifted(added))) from None  # the position in the user's own text
    except StoreError as exc:
        raise _error(str(exc)) from None


def serve(target: Path, host: str = "127.0.0.1", port: int = 7878, timeout: float = 30.0, workers: int = 2,
          max_rows: int = 100_000, max_mb: int = 64, allow_service: Optional[list[str]] = None,
          allow_host: Optional[list[str]] = None, client_timeout: float = 10.0) -> None:
    """`serve`: until interrupted."""
    from reasoner.sparql.endpoint import NotAStore, Settings, check_store
    from reasoner.sparql.endpoint import serve as run_server
    from reasoner.sparql.offline import normalise_endpoint
    from reasoner.web.limits import Limits

    try:
        check_store(target)
        allowed = tuple(normalise_endpoint(u) for u in allow_service or [])
    except NotAStore as exc:
        raise _error(str(exc)) from None
    except ValueError as exc:
        raise _error(f"--allow-service: {exc}") from None
    settings = Settings(timeout_s=timeout, workers=workers, max_rows=max_rows, max_bytes=max_mb << 20,
                        allow_service=allowed, allow_hosts=tuple(allow_host or []))

    def ready(url: str, isolated: bool) -> None:
        network = ("workers have no network" if isolated else
                   f"SERVICE allowed to {len(allowed)} endpoint(s)" if allowed else "SERVICE refused")
        sys.stderr.write(f"SPARQL endpoint: {url} (read-only, {timeout:g} s per query, at most "
                         f"{max_rows:,} rows / {max_mb} MiB per result; {network}; Ctrl-C stops it)\n")
        sys.stderr.flush()

    try:
        run_server(target, host, port, settings, Limits(head_timeout_s=client_timeout, body_timeout_s=client_timeout),
                   ready=ready)
    except NotAStore as exc:
        raise _error(str(exc)) from None
    except OSError as exc:
        raise _error(f"cannot serve on {host}:{port}: {exc.strerror or 'the address cannot be used'}") from None


def register(app: Any) -> None:
    """Add `store init`, `store info`, `query` and `serve` to the `blincyto` command line."""
    import typer

    from reasoner.cli.typed import add

    store_app = typer.Typer(help="The SPARQL store of the policy and of every determination.",
                            no_args_is_help=True)
    app.add_typer(store_app, name="store")
    for command in COMMANDS:
        add(store_app if command.words[0] == "store" else app, command)
