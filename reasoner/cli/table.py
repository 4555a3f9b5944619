"""Every command's parameters as one table, read two ways: by typer (`reasoner.cli.typed.add`, what
`--help`, the test runner and every invocation the fast start leaves alone go through) and by
`parse` here, the fast start's reader (standard library only), so that a command starts without
typer, click, pydantic and rich (a third of a second or more, longer than most answers take).

`parse` takes only arguments it reads exactly as typer would, and answers None for anything else:
`--help`, `--`, an unknown or repeated option, a value not among the choices, a number it would
have to coerce (`+1`, ` 2`, `1_000`, `1e3`) or that is out of range, a value that starts with `-`,
short options run together (`-fjson`), a missing or an extra argument. Then the Typer command
answers, with typer's own words and exit status (tests/test_cli_table.py holds the two readers to
the same arguments, and both ways to the same output).

A command's `run` is typer-free: it returns normally (exit 0) or raises `Exit(code)`
(reasoner.cli.exits); `standalone` runs it as the Typer application runs a command.
"""

from __future__ import annotations

import errno
import gc
import os
import re
import sys
from enum import Enum
from importlib import import_module
from pathlib import Path
from typing import Any, Callable, NamedTuple, Optional

from reasoner.cli.exits import EXIT_POLICY, Exit, policy_refusal

__all__ = ["Command", "Param", "arg", "opt", "parse", "standalone"]

_INT = re.compile(r"0|[1-9][0-9]*")  # what int() and pydantic read alike (no sign, space, `_` or leading 0)
_FLOAT = re.compile(r"(0|[1-9][0-9]*)(\.[0-9]+)?")
TYPES: dict[str, type] = {"str": str, "int": int, "float": float, "path": Path, "bool": bool}


class Param(NamedTuple):  # (a NamedTuple: a frozen dataclass costs ~1 ms to make at import)
    """One parameter: an argument (no `flags`) or an option (long flag first)."""

    name: str  # the run function's keyword
    flags: tuple[str, ...] = ()
    help: Optional[str] = None
    type: str = "str"  # a key of TYPES
    default: Any = None
    required: bool = False
    metavar: Optional[str] = None
    choices: Optional[type[Enum]] = None  # the value, checked, becomes a member of this Enum
    checked: bool = True  # choices checked by the commands' own callback (options.one_of), not typer's
    multiple: bool = False  # repeatable: a list, in order
    min: Optional[float] = None
    max: Optional[float] = None
    off: Optional[str] = None  # a boolean option's negative flag (`--no-lint`)

    @property
    def is_argument(self) -> bool:
        return not self.flags


def arg(name: str, **kw: Any) -> Param:
    return Param(name, (), **kw)


def opt(name: str, *flags: str, **kw: Any) -> Param:
    return Param(name, flags or ("--" + name.replace("_", "-"),), **kw)


class Command(NamedTuple):
    """A command: its words (`("store", "init")`), help, parameters, and the run function by name
    (`module:function`, imported when it runs)."""

    words: tuple[str, ...]
    help: str
    params: tuple[Param, ...]
    run: str
    # A process that answers once and exits, its memory bounded by what it reads (not `batch`, `serve`,
    # nor the authoring commands, which evaluate request after request): no cyclic garbage collection.
    one_off: bool = False

    def function(self) -> Callable[..., Any]:
        module, _, name = self.run.partition(":")
        return getattr(import_module(module), name)


# -- the fast start's reader ----------------------------------------------------------------------

def _value(p: Param, text: str) -> Any:
    """`text` as typer gives it to the command, or raises LookupError where typer might read otherwise."""
    if p.choices is not None:
        if text not in p.choices._value2member_map_:
            raise LookupError(text)  # typer's (or the callback's) error
        return p.choices(text)
    if p.type == "str":
        return text
    if p.type == "path":
        if not text:
            raise LookupError(text)
        return Path(text)
    if p.type in ("int", "float"):
        if (_INT if p.type == "int" else _FLOAT).fullmatch(text) is None:
            raise LookupError(text)
        number = int(text) if p.type == "int" else float(text)
        if (p.min is not None and number < p.min) or (p.max is not None and number > p.max):
            raise LookupError(text)
        return number
    raise LookupError(text)


def _default(p: Param) -> Any:
    if p.choices is not None and p.default is not None:
        return p.choices(p.default)
    return p.default


def parse(command: Command, args: list[str]) -> Optional[dict[str, Any]]:
    """The command's arguments (after its words) as the Typer command passes them to `run`, or None
    when they hold anything typer might read otherwise or refuse."""
    positional = [p for p in command.params if p.is_argument]
    flags: dict[str, tuple[Param, Any]] = {}
    for p in command.params:
        for flag in p.flags:
            flags[flag] = (p, True if p.type == "bool" else None)
        if p.off:
            flags[p.off] = (p, False)
    values: dict[str, Any] = {}
    given: list[str] = []
    i = 0
    try:
        while i < len(args):
            token = args[i]
            i += 1
            if token == "-" or not token.startswith("-"):
                given.append(token)
                continue
            if token.startswith("--") and "=" in token:
                flag, text = token.split("=", 1)
                p, switch = flags[flag]
                if switch is not None:
                    return None  # a flag given a value: typer's error
            else:
                p, switch = flags[token]  # an unknown option, --help, --, -fjson: KeyError
                if switch is None:
                    if i == len(args):
                        return None  # the value is missing
                    text = args[i]
                    i += 1
            if switch is not None:
                if p.name in values:
                    return None
                values[p.name] = switch
                continue
            if text.startswith("-"):
                return None  # a value click might read as an option
            value = _value(p, text)
            if p.multiple:
                values.setdefault(p.name, []).append(value)
            elif p.name in values:
                return None  # repeated: typer takes the last one, said nowhere; let it
            else:
                values[p.name] = value
    except LookupError:  # KeyError included
        return None
    if len(given) > len(positional):
        return None
    for p, text in zip(positional, given):
        try:
            values[p.name] = _value(p, text)
        except LookupError:
            return None
    for p in command.params:
        if p.name not in values:
            if p.required:
                return None
            values[p.name] = _default(p)
    return {p.name: values[p.name] for p in command.params}


# -- running a command as the Typer application does ------------------------------------------------

def standalone(command: Command, arguments: dict[str, Any]) -> None:
    """`command`'s run as the Typer application runs a command (its `standalone_mode`): always
    raises SystemExit, with the same status for the same outcome (`Exit(code)`: code; a policy that
    does not load: 3; an interrupt: 130; end of input: 1 after `Aborted!`; a closed pipe: 1, quietly).

    A one-off command (`check`, `schedule`, `units`, `query`, `store`) does not collect cyclic garbage: loading the knowledge base makes
    ~100,000 objects that all live to the end, and the collector walking them again and again was a
    quarter of a cold check's CPU. The memory this keeps is bounded by what one process reads."""
    collecting = gc.isenabled() and command.one_off
    if collecting:
        gc.disable()
    code: Any = 0
    try:
        try:
            result = command.function()(**arguments)
            code = result if isinstance(result, int) else 0
        except Exit as done:
            code = done.code
        except Exception as exc:
            if not policy_refusal(exc):
                raise
            code = EXIT_POLICY
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
