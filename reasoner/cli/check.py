"""`blincyto check` (one request, one determination) and `blincyto version`.

`check` exits 0 with a determination (whatever the decision), 2 on invalid input: then standard
error says `error: <field>: <reason>` and standard output stays empty (with `--format fhir`, it
holds the OperationOutcome); 1 when the store cannot take the determination, or (never expected)
when the engine fails on a valid request: one line, no traceback. REQUEST is contract v1 JSON or a
FHIR R4 Bundle (recognised by its `resourceType`, or `--input fhir`); for a Bundle the field is a
FHIRPath. `--format fhir` writes the Da Vinci PAS response Bundle (ClaimResponse first).
`--format ttl` writes the determination's RDF (PROV-O activity, request graph, validation report)
as TriG, the Turtle family's format for named graphs.

Two ways in, one command, as for every command (reasoner/cli/table.py): the Typer command
(`register`, what `--help` and the test runner go through) and the fast start (`parse` +
`run_standalone`, called by `reasoner.cli.app` before typer is imported: typer, click, pydantic and
rich cost more than a one-off check's decision). Both read the options from one table (`ARGUMENT`,
`OPTIONS`: `COMMAND`) and run the same `run`; the fast start takes only arguments it reads exactly as the Typer command would, and
leaves everything else (`--help`, an unknown option, a value not among the choices, a missing or
extra argument) to the Typer command, so the errors are typer's own. tests/test_cli_fast.py holds
the two to the same output and exit status.

This module imports neither typer nor rich at import time (only `register` imports typer; rich
only to colour the text for a terminal).
"""

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Any, Optional

from reasoner.cli import table
from reasoner.cli.exits import EXIT_FAILED, EXIT_INVALID
from reasoner.cli.render import plain_output, render_parts, terminal_safe, write_text  # noqa: F401 (plain_output: its old home)
from reasoner.cli.table import Command, arg, opt

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


# -- the options, once: the Typer command and the fast start both read this table ------------------

ARGUMENT = arg("request", metavar="REQUEST", help="request JSON file (contract v1 or a FHIR R4 Bundle), or - for standard input",
               required=True)
OPTIONS = (
    opt("format", "--format", "-f", metavar="text|json|ttl|fhir",
        help="text for a reviewer, json (the determination), ttl (PROV-O + report as TriG), fhir (PAS ClaimResponse Bundle)",
        default=Format.text.value, choices=Format),
    opt("store", "--store", metavar="DIR|URL",
        help="also add the determination to a SPARQL store: a directory (embedded, created if new) or a SPARQL 1.1 "
             "Update endpoint URL"),
    opt("input", "--input", "-i", metavar="auto|contract|fhir",
        help="auto (a FHIR resource is recognised by its resourceType), contract (v1 JSON) or fhir (an R4 Bundle)",
        default=InputKind.auto.value, choices=InputKind),
)
HELP = "Evaluate one prior-authorization request and print the determination."
COMMAND = Command(("check",), HELP, (ARGUMENT, *OPTIONS), "reasoner.cli.check:run", one_off=True)
VERSION = Command(("version",), "Print the engine's version.", (), "reasoner.cli.about:print_version")
COMMANDS = (COMMAND, VERSION)


def parse(args: list[str]) -> Optional[dict[str, Any]]:
    """`check`'s arguments (after the word `check`) as the Typer command receives them, or None when
    they hold anything it might read otherwise or refuse (the Typer command then answers)."""
    return table.parse(COMMAND, args)


def run_standalone(arguments: dict[str, Any]) -> None:
    """`run` as the Typer application runs a command: always raises SystemExit (reasoner.cli.table.standalone)."""
    table.standalone(COMMAND, arguments)


# -- the command -----------------------------------------------------------------------------------

def _fail(field: str, reason: str, code: int = EXIT_INVALID) -> int:
    sys.stderr.write(f"error: {terminal_safe(field)}: {terminal_safe(reason)}\n")
    return code


def _internal(exc: BaseException) -> int:
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


def run(request: str, format: Format = Format.text, store: Optional[str] = None,
        input: InputKind = InputKind.auto) -> int:
    """Evaluate one request and print the determination; the exit status (0 whatever the decision)."""
    from reasoner.flow.check import MAX_REQUEST_BYTES, TOO_LARGE, WHOLE_REQUEST, InvalidRequest

    try:
        data = _read(request)
    except OSError as exc:
        return _fail(WHOLE_REQUEST, f"cannot read {request}: {exc.strerror or exc}")
    if len(data) > MAX_REQUEST_BYTES:  # said so before a cut text is parsed (FHIR input too)
        return _fail(WHOLE_REQUEST, TOO_LARGE)

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
        return _fail(exc.field, exc.reason)
    except Exception as exc:  # noqa: BLE001 - no request may end in a traceback
        return _internal(exc)

    if store is not None:  # stored before printing: no output that looks stored when it is not
        from reasoner.sparql.store import StoreError, open_store

        try:
            with open_store(store) as target:
                target.add(evaluation)
        except StoreError as exc:
            sys.stderr.write(f"error: --store: {exc}\n")
            return EXIT_FAILED
        except OSError as exc:  # e.g. a path through a file: the option's error, not a traceback
            return _fail("--store", f"cannot use {store}: {exc.strerror or type(exc).__name__}", EXIT_FAILED)

    det = evaluation.determination
    try:  # no output holds a number that is not finite (JSON has no Infinity); each is made whole first
        text = json.dumps(det, indent=2, ensure_ascii=False, allow_nan=False, default=str) + "\n"
    except ValueError as exc:
        return _internal(exc)
    if format is Format.json:
        sys.stdout.write(text)
    elif format is Format.fhir:
        from reasoner.fhir.response import dumps, response_for

        try:
            bundle = dumps(response_for(evaluation, engine.kb, extraction), indent=2) + "\n"
        except Exception as exc:  # noqa: BLE001
            return _internal(exc)
        sys.stdout.write(bundle)
    elif format is Format.ttl:
        from reasoner.flow.provenance import determination_graph, serialize

        try:
            sys.stdout.write(serialize(determination_graph(evaluation)))
        except Exception as exc:  # noqa: BLE001
            return _internal(exc)
    else:
        def policy_text(number: str) -> Optional[str]:
            try:
                return engine.criterion_info(number).get("policy_text")
            except (KeyError, LookupError, ValueError, AttributeError):
                return None

        write_text(render_parts(det, policy_text))
    return 0


def register(app: Any) -> None:
    """The Typer commands, made from the tables."""
    from reasoner.cli.typed import add

    for command in COMMANDS:
        add(app, command)
