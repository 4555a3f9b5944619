"""`blincyto check` (one request, one determination) and `blincyto version`.

`check` exits 0 with a determination (whatever the decision), 2 on invalid input: then standard
error says `error: <field>: <reason>` and standard output stays empty. `--format ttl` writes the
determination's RDF (PROV-O activity, request graph, validation report) as TriG, the Turtle
family's format for named graphs.
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from reasoner.cli.options import one_of
from reasoner.cli.render import render_text

EXIT_INVALID = 2
STDIN = "-"


class Format(str, Enum):
    text = "text"
    json = "json"
    ttl = "ttl"


def _fail(field: str, reason: str) -> typer.Exit:
    sys.stderr.write(f"error: {field}: {reason}\n")
    return typer.Exit(code=EXIT_INVALID)


def _read(source: str) -> bytes:
    if source == STDIN:
        stream = getattr(sys.stdin, "buffer", None)
        return stream.read() if stream is not None else sys.stdin.read().encode("utf-8")
    return Path(source).read_bytes()


def check(
    request: Annotated[str, typer.Argument(metavar="REQUEST", help="request JSON file (contract v1), or - for standard input")],
    format: Annotated[str, typer.Option("--format", "-f", metavar="text|json|ttl", callback=one_of("--format", Format), help="text for a reviewer, json (the determination), ttl (PROV-O + report as TriG)")] = Format.text.value,
    store: Annotated[Optional[str], typer.Option("--store", metavar="DIR|URL", help="also add the determination to a SPARQL store: a directory (embedded, created if new) or a SPARQL 1.1 Update endpoint URL")] = None,
) -> None:
    """Evaluate one prior-authorization request and print the determination."""
    from reasoner.flow.check import WHOLE_REQUEST, InvalidRequest, parse_request_text

    try:
        data = _read(request)
    except OSError as exc:
        raise _fail(WHOLE_REQUEST, f"cannot read {request}: {exc.strerror or exc}") from None

    from reasoner.flow.engine import default_reasoner

    try:
        parsed = parse_request_text(data)
        engine = default_reasoner()
        evaluation = engine.evaluate_full(parsed)
    except InvalidRequest as exc:
        raise _fail(exc.field, exc.reason) from None

    if store is not None:  # stored before printing: no output that looks stored when it is not
        from reasoner.sparql.store import StoreError, open_store

        try:
            with open_store(store) as target:
                target.add(evaluation)
        except StoreError as exc:
            sys.stderr.write(f"error: --store: {exc}\n")
            raise typer.Exit(code=1) from None

    det = evaluation.determination
    if format is Format.json:
        sys.stdout.write(json.dumps(det, indent=2, ensure_ascii=False) + "\n")
    elif format is Format.ttl:
        from reasoner.flow.provenance import determination_graph, serialize

        sys.stdout.write(serialize(determination_graph(evaluation)))
    else:
        def policy_text(number: str) -> str | None:
            try:
                return engine.criterion_info(number).get("policy_text")
            except (KeyError, LookupError, ValueError, AttributeError):
                return None

        console = Console(file=sys.stdout, highlight=False, soft_wrap=True)
        console.print(render_text(det, policy_text), end="")


def version() -> None:
    """Print the engine's version."""
    from reasoner.flow.provenance import DIST_NAME, engine_version

    sys.stdout.write(f"{DIST_NAME} {engine_version()}\n")




def register(app: typer.Typer) -> None:
    app.command()(check)
    app.command()(version)
