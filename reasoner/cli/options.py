"""Option values the command line checks itself, so that an error names the option in the
commands' own words (`error: --format: ...`, exit status 2), whatever the typer version says."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Callable, TypeVar

import typer

from reasoner.cli.exits import EXIT_USAGE

__all__ = ["EXIT_USAGE", "one_of"]

E = TypeVar("E", bound=Enum)


def _words(values: list[str]) -> str:
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " or " + values[-1]


def one_of(option: str, choices: type[E]) -> Callable[[typer.Context, str | None], E | None]:
    """A typer callback for an option declared `str` (so that typer does not parse it itself): the
    command receives the value as a member of `choices`, or the user a one-line error."""
    names = [c.value for c in choices]

    def check(ctx: typer.Context, value: str | None) -> E | None:
        if value is None or ctx.resilient_parsing:
            return None
        try:
            return choices(value)
        except ValueError:
            sys.stderr.write(f"error: {option}: {value!r} is not a choice of `{ctx.command_path}`: "
                             f"use {_words(names)}\n")
            raise typer.Exit(code=EXIT_USAGE) from None

    return check
