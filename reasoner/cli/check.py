"""`blincyto check` (one request, one determination) and `blincyto version`.

`check` exits 0 with a determination (whatever the decision), 2 on invalid input: then standard
error says `error: <field>: <reason>` and standard output stays empty (with `--format fhir`, it
holds the OperationOutcome); 1 when the store cannot take the determination, or (never expected)
when the engine fails on a valid request: one line, no traceback. REQUEST is contract v1 JSON or a
FHIR R4 Bundle (recognised by its `resourceType`, or `--input fhir`); for a Bundle the field is a
FHIRPath. `--format fhir` writes the Da Vinci PAS response Bundle (ClaimResponse first).
`--format ttl` writes the determination's RDF (PROV-O activity, request graph, validation report)
as TriG, the Turtle family's format for named graphs.

Two ways in, one command: the Typer command (`register`, what `--help`, the test runner and every
other command go through) and the fast start (`parse` + `run_standalone`, called by
`reasoner.cli.app` before typer is imported: typer, click, pydantic and rich cost more than a
one-off check's decision). Both read the options from one table (`ARGUMENT`, `OPTIONS`) and run the
same `run`; the fast start takes only arguments it reads exactly as the Typer command would, and
leaves everything else (`--help`, an unknown option, a value not among the choices, a missing or
extra argument) to the Typer command, so the errors are typer's own. tests/test_cli_fast.py holds
the two to the same output and exit status.

This module imports neither typer nor rich at import time (only `register` imports typer; rich
only to colour the text for a terminal).
"""

# No `from __future__ import annotations`: typer reads the command's annotations, made in `register`.

import errno
import gc
import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NamedTuple, Optional

from reasoner.cli.exits import EXIT_FAILED, EXIT_INVALID, policy_refusal
from reasoner.cli.render import render_parts, terminal_safe

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

class Opt(NamedTuple):  # (a NamedTuple: a frozen dataclass costs ~1 ms to make at import)
    name: str  # the parameter's name
    flags: tuple[str, ...]  # long first
    metavar: str
    help: str
    default: Optional[str] = None
    choices: Optional[type[Enum]] = None  # the value, checked, becomes a member of this Enum


ARGUMENT = Opt("request", (), "REQUEST", "request JSON file (contract v1 or a FHIR R4 Bundle), or - for standard input")
OPTIONS = (
    Opt("format", ("--format", "-f"), "text|json|ttl|fhir",
        "text for a reviewer, json (the determination), ttl (PROV-O + report as TriG), fhir (PAS ClaimResponse Bundle)",
        Format.text.value, Format),
    Opt("store", ("--store",), "DIR|URL",
        "also add the determination to a SPARQL store: a directory (embedded, created if new) or a SPARQL 1.1 "
        "Update endpoint URL"),
    Opt("input", ("--input", "-i"), "auto|contract|fhir",
        "auto (a FHIR resource is recognised by its resourceType), contract (v1 JSON) or fhir (an R4 Bundle)",
        InputKind.auto.value, InputKind),
)
HELP = "Evaluate one prior-authorization request and print the determination."


def parse(args: list[str]) -> Optional[dict[str, Any]]:
    """`check`'s arguments (after the word `check`) as the Typer command receives them, or None when
    they hold anything it might read otherwise or refuse (the Typer command then answers)."""
    flags = {flag: opt for opt in OPTIONS for flag in opt.flags}
    values: dict[str, Any] = {}
    request: Optional[str] = None
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == STDIN or not arg.startswith("-"):
            if request is not None:
                return None  # an extra argument: typer's error
            request = arg
            continue
        if arg.startswith("--") and "=" in arg:
            flag, value = arg.split("=", 1)
        elif arg in flags and i < len(args):
            flag, value = arg, args[i]
            i += 1
        else:
            return None  # --help, --, -fjson, an unknown option, an option without its value
        opt = flags.get(flag)
        if opt is None or opt.name in values or value.startswith("-"):
            return None  # unknown, repeated, or a value click might read as an option
        if opt.choices is not None:
            if value not in opt.choices._value2member_map_:
                return None  # typer's callback words that error (one_of)
            value = opt.choices(value)
        values[opt.name] = value
    if request is None:
        return None
    for opt in OPTIONS:
        if opt.name not in values:
            values[opt.name] = opt.choices(opt.default) if opt.choices is not None and opt.default is not None \
                else opt.default
    return {ARGUMENT.name: request, **values}


def run_standalone(arguments: dict[str, Any]) -> None:
    """`run` as the Typer application runs a command (its `standalone_mode`): always raises
    SystemExit, with the same status for the same outcome (a policy that does not load: 3; an
    interrupt: 130; a closed pipe: 1, quietly).

    The process decides one request and exits, so it does not collect cyclic garbage: loading the
    knowledge base makes ~100,000 objects that all live to the end, and the collector walking them
    again and again was a quarter of a cold check's CPU. The memory this keeps is bounded by what one
    process reads (the policy, one request of at most 1 MiB)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        try:
            code = run(**arguments)
        except Exception as exc:
            if not policy_refusal(exc):
                raise
            code = 3
    except KeyboardInterrupt:
        code = 130
    except EOFError:
        sys.stderr.write("\nAborted!\n")
        code = 1
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        _quiet_pipe()
        code = 1
    finally:
        if collecting:  # as it was (the caller may go on: a test), without a collection walking it all first
            gc.freeze()
            gc.enable()
    raise SystemExit(code)


def _quiet_pipe() -> None:
    """The reader went away: what is left in the buffers goes nowhere (click's PacifyFlushWrapper)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


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

        _write_text(render_parts(det, policy_text))
    return 0


def _write_text(parts: Any) -> None:
    """The reviewer's text: plain where rich would write no escape codes (not a terminal), else
    through rich, styled as it decides (colour system, NO_COLOR, a dumb terminal)."""
    if plain_output(sys.stdout):
        sys.stdout.write(parts.plain)
        return
    from rich.console import Console
    from rich.text import Text

    out = Text()
    for text, style in parts:
        out.append(text, style=style)
    Console(file=sys.stdout, highlight=False, soft_wrap=True).print(out, end="")


def plain_output(stream: Any) -> bool:
    """True when rich's Console on `stream` is not a terminal (rich's `Console.is_terminal`, read
    the same way: TTY_COMPATIBLE, then FORCE_COLOR, then isatty): it then writes the text unstyled."""
    import builtins

    if getattr(sys.stdin, "__module__", "").startswith("idlelib") or hasattr(builtins, "get_ipython"):
        return False  # rich's own special cases: let rich decide
    compatible = os.environ.get("TTY_COMPATIBLE", "")
    if compatible in ("0", "1"):
        return compatible == "0"
    force = os.environ.get("FORCE_COLOR")
    if force is not None:
        return force == ""
    isatty = getattr(stream, "isatty", None)
    try:
        return isatty is None or not isatty()
    except ValueError:
        return True


def version() -> None:
    """Print the engine's version."""
    from reasoner.cli.about import print_version

    print_version()


def register(app: Any) -> None:
    """The Typer command, its parameters made from `ARGUMENT` and `OPTIONS`."""
    import typer

    from reasoner.cli.options import one_of

    def option(name: str) -> Any:
        opt = next(o for o in OPTIONS if o.name == name)
        callback = one_of(opt.flags[0], opt.choices) if opt.choices is not None else None
        return typer.Option(*opt.flags, metavar=opt.metavar, help=opt.help, callback=callback)

    default = {o.name: o.default for o in OPTIONS}

    def check(
        request: Annotated[str, typer.Argument(metavar=ARGUMENT.metavar, help=ARGUMENT.help)],
        format: Annotated[str, option("format")] = default["format"],
        store: Annotated[Optional[str], option("store")] = default["store"],
        input: Annotated[str, option("input")] = default["input"],
    ) -> None:
        code = run(request, format, store, input)  # type: ignore[arg-type] - the callbacks made them members
        if code:
            raise typer.Exit(code=code)

    check.__doc__ = HELP
    app.command()(check)
    app.command()(version)
