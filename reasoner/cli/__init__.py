"""The `blincyto` command line (`reasoner.cli:app`, the console script's entry point).

`app` stands for the Typer application (`reasoner.cli.commands.app`), imported on first use:
`blincyto version` answers before typer (and pydantic, which typer imports) is loaded, and so does
every command whose arguments the fast start reads exactly as the Typer command would
(`reasoner.cli.table.parse` over the command's table, the one the Typer command is made from; the
same run function). Everything else (`--help`, an option or value it does not take, an unknown
command, shell completion), and `typer.testing.CliRunner().invoke(app, ...)`, reaches the Typer
application itself.
"""

from __future__ import annotations

import sys
from typing import Any

# the module holding each command's table (`COMMANDS`), by the command's first word
_TABLES = {
    "check": "check", "version": "check", "schedule": "schedule", "units": "schedule", "batch": "batch",
    "store": "store", "query": "store", "serve": "store", "review": "review", "lint": "review",
    "witnesses": "review", "diff": "review", "impact": "review", "serve-fhir": "services",
}


def _typer_app() -> Any:
    from reasoner.cli.commands import app as typer_app

    return typer_app


def _completing() -> bool:
    """A shell asking for completions (click's `_<PROG>_COMPLETE` variable): typer answers."""
    import os

    return any(name.endswith("_COMPLETE") for name in os.environ)


def _fast(argv: list[str]) -> None:
    """Run the command when the fast start reads its arguments as typer would (raises SystemExit);
    return when it leaves them to typer."""
    from importlib import import_module

    from reasoner.cli.table import parse, standalone

    for command in import_module("reasoner.cli." + _TABLES[argv[0]]).COMMANDS:
        words = len(command.words)
        if tuple(argv[:words]) == command.words:
            arguments = parse(command, argv[words:])
            if arguments is not None:
                standalone(command, arguments)  # raises SystemExit, as the Typer application does
            return


class _Entry:
    """The console script's `app`: `app()` runs the command line; attributes are the Typer app's."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not args and not kwargs:
            argv = sys.argv[1:]
            if argv == ["version"]:
                from reasoner.cli.about import print_version

                return print_version()
            if argv and argv[0] in _TABLES and not _completing():
                _fast(argv)
        return _typer_app()(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(_typer_app(), name)


app = _Entry()


def main() -> None:  # pragma: no cover - entry point
    app()


__all__ = ["app", "main"]
