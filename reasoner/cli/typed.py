"""A Typer command made from a command's table (reasoner.cli.table): the same parameters, flags,
metavars, help and defaults the fast start reads, and the same run function.

Imported only by reasoner.cli.commands (the Typer application), so typer is loaded only there."""

from __future__ import annotations

import inspect
from typing import Annotated, Any, Optional

import typer

from reasoner.cli.exits import Exit
from reasoner.cli.options import one_of
from reasoner.cli.table import TYPES, Command, Param

__all__ = ["add", "call"]


def call(command: Command, arguments: dict[str, Any]) -> Any:
    """Run the command (a seam: the tests read here what typer passes)."""
    return command.function()(**arguments)


def _annotation(p: Param) -> Any:
    if p.choices is not None and p.checked:
        kind: Any = str  # typer passes the text; the callback (options.one_of) makes it a member
    elif p.choices is not None:
        kind = p.choices
    else:
        kind = TYPES[p.type]
    if p.multiple:
        kind = list[kind]  # type: ignore[valid-type]
    if p.default is None and not p.required:
        kind = Optional[kind]
    return kind


def _info(p: Param) -> Any:
    if p.is_argument:
        return typer.Argument(metavar=p.metavar, help=p.help)
    decls = p.flags if p.off is None else (f"{p.flags[0]}/{p.off}", *p.flags[1:])
    callback = one_of(p.flags[0], p.choices) if p.choices is not None and p.checked else None
    return typer.Option(*decls, metavar=p.metavar, help=p.help, callback=callback, min=p.min, max=p.max)


def _default(p: Param) -> Any:
    if p.required:
        return inspect.Parameter.empty
    if p.choices is not None and not p.checked and p.default is not None:
        return p.choices(p.default)  # typer's own choice: the member
    return p.default


def add(app: typer.Typer, command: Command) -> None:
    """Register `command` on `app` (the group of its first words, for `store init`)."""
    parameters = [inspect.Parameter(p.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=_default(p),
                                    annotation=Annotated[_annotation(p), _info(p)]) for p in command.params]

    def run(**arguments: Any) -> None:
        try:
            code = call(command, arguments)
        except Exit as done:
            raise typer.Exit(code=done.code) from None
        if isinstance(code, int) and code:
            raise typer.Exit(code=code)

    run.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: q.annotation for p, q in zip(command.params, parameters)}
    run.__name__ = run.__qualname__ = command.words[-1].replace("-", "_")
    run.__doc__ = command.help
    app.command(command.words[-1])(run)
