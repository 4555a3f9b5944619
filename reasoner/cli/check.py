"""`blincyto check` (one request, one determination) and `blincyto version`.

`check` exits 0 with a determination (whatever the decision), 2 on invalid input: then standard
error says `error: <field>: <reason>` and standard output stays empty (with `--format fhir`, it
holds the OperationOutcome); 1 when the store cannot take the determination, or (never expected)
when the engine fails on a valid request: one line, no traceback. REQUEST is contract v1 JSON or a
FHIR R4 Bundle (recognised by its `resourceType`, or `--input fhir`); for a Bundle the field is a
FHIRPath. `--format fhir` writes the Da Vinci PAS response Bundle (ClaimResponse first).
`--format ttl` writes the determination's RDF (PROV-O activity, request graph, validation report)
as TriG, the Turtle family's format for named graphs.
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
from reasoner.cli.render import render_text, terminal_safe

EXIT_FAILED = 1
EXIT_INVALID = 2
STDIN = "-"


class Format(str, Enum):
    text = "text"
    json = "json"
    ttl = "ttl"
    fhir = "fhir"


class InputKind(str, Enum):
    auto = "auto"
    contract = "contract"
    fhir = "fhir"


def _fail(field: str, reason: str, code: int = EXIT_INVALID) -> typer.Exit:
    sys.stderr.write(f"error: {terminal_safe(field)}: {terminal_safe(reason)}\n")
    return typer.Exit(code=code)


def _internal(exc: BaseException) -> typer.Exit:
    """The engine failed on a request the contract accepts: a bug. One line naming the exception's
    type only (its message may quote the request's values)."""
    return _fail("(request)", f"could not be evaluated: internal error ({type(exc).__name__}); please report it",
                 EXIT_FAILED)


def _read(source: str) -> bytes:
    """At most one byte more than a request may have (`check /dev/zero` must not fill the memory)."""
    from reasoner.flow.check import MAX_REQUEST_BYTES

    limit = MAX_REQUEST_BYTES + 1
    if source == STDIN:
        stream = getattr(sys.stdin, "buffer", None)
        return stream.read(limit) if stream is not None else sys.stdin.read(limit).encode("utf-8")
    with Path(source).open("rb") as f:
        return f.read(limit)


def check(
    request: Annotated[str, typer.Argument(metavar="REQUEST", help="request JSON file (contract v1 or a FHIR R4 Bundle), or - for standard input")],
    format: Annotated[str, typer.Option("--format", "-f", metavar="text|json|ttl|fhir", callback=one_of("--format", Format), help="text for a reviewer, json (the determination), ttl (PROV-O + report as TriG), fhir (PAS ClaimResponse Bundle)")] = Format.text.value,
    store: Annotated[Optional[str], typer.Option("--store", metavar="DIR|URL", help="also add the determination to a SPARQL store: a directory (embedded, created if new) or a SPARQL 1.1 Update endpoint URL")] = None,
    input: Annotated[str, typer.Option("--input", "-i", metavar="auto|contract|fhir", callback=one_of("--input", InputKind), help="auto (a FHIR resource is recognised by its resourceType), contract (v1 JSON) or fhir (an R4 Bundle)")] = InputKind.auto.value,
) -> None:
    """Evaluate one prior-authorization request and print the determination."""
    from reasoner.flow.check import MAX_REQUEST_BYTES, TOO_LARGE, WHOLE_REQUEST, InvalidRequest

    try:
        data = _read(request)
    except OSError as exc:
        raise _fail(WHOLE_REQUEST, f"cannot read {request}: {exc.strerror or exc}") from None
    if len(data) > MAX_REQUEST_BYTES:  # said so before a cut text is parsed (FHIR input too)
        raise _fail(WHOLE_REQUEST, TOO_LARGE)

    from reasoner.flow.engine import default_reasoner

    from reasoner.fhir.evaluate import evaluate_text

    engine = default_reasoner()  # a policy that does not load is the policy's error (exit 3), not the request's
    try:
        evaluation, extraction = evaluate_text(engine, data, input.value)
    except InvalidRequest as exc:
        if format is Format.fhir:
            from reasoner.fhir.errors import operation_outcome

            sys.stdout.write(json.dumps(operation_outcome([(exc.field, exc.reason, getattr(exc, "code", "invalid"))]),
                                        indent=2) + "\n")
        raise _fail(exc.field, exc.reason) from None
    except Exception as exc:  # noqa: BLE001 - no request may end in a traceback
        raise _internal(exc) from None

    if store is not None:  # stored before printing: no output that looks stored when it is not
        from reasoner.sparql.store import StoreError, open_store

        try:
            with open_store(store) as target:
                target.add(evaluation)
        except StoreError as exc:
            sys.stderr.write(f"error: --store: {exc}\n")
            raise typer.Exit(code=1) from None

    det = evaluation.determination
    try:  # no output holds a number that is not finite (JSON has no Infinity); each is made whole first
        text = json.dumps(det, indent=2, ensure_ascii=False, allow_nan=False, default=str) + "\n"
    except ValueError as exc:
        raise _internal(exc) from None
    if format is Format.json:
        sys.stdout.write(text)
    elif format is Format.fhir:
        from reasoner.fhir.response import dumps, response_for

        try:
            bundle = dumps(response_for(evaluation, engine.kb, extraction), indent=2) + "\n"
        except Exception as exc:  # noqa: BLE001
            raise _internal(exc) from None
        sys.stdout.write(bundle)
    elif format is Format.ttl:
        from reasoner.flow.provenance import determination_graph, serialize

        try:
            sys.stdout.write(serialize(determination_graph(evaluation)))
        except Exception as exc:  # noqa: BLE001
            raise _internal(exc) from None
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
    from reasoner.cli.about import print_version

    print_version()




def register(app: typer.Typer) -> None:
    app.command()(check)
    app.command()(version)
