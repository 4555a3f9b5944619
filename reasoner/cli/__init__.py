"""The `blincyto` command line (`reasoner.cli:app`, the console script's entry point).

`app` stands for the Typer application (`reasoner.cli.commands.app`), imported on first use:
`blincyto version` answers before typer (and pydantic, which typer imports) is loaded, and so does
`blincyto check` when its arguments are ones the fast start reads exactly as the Typer command would
(`reasoner.cli.check.parse`: the same options table, the same `run`). Everything else (`--help`, any
other command, an option or value it does not take, shell completion), and
`typer.testing.CliRunner().invoke(app, ...)`, reaches the Typer application itself.
"""

from __future__ import annotations

import sys
from typing import Any


def _typer_app() -> Any:
    from reasoner.cli.commands import app as typer_app

    return typer_app


def _completing() -> bool:
    """A shell asking for completions (click's `_<PROG>_COMPLETE` variable): typer answers."""
    import os

    return any(name.endswith("_COMPLETE") for name in os.environ)


class _Entry:
    """The console script's `app`: `app()` runs the command line; attributes are the Typer app's."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not args and not kwargs:
            argv = sys.argv[1:]
            if argv == ["version"]:
                from reasoner.cli.about import print_version

                return print_version()
            if argv[:1] == ["check"] and not _completing():
                from reasoner.cli.check import parse, run_standalone

                arguments = parse(argv[1:])
                if arguments is not None:
                    run_standalone(arguments)  # raises SystemExit, as the Typer application does
        return _typer_app()(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(_typer_app(), name)


app = _Entry()


def main() -> None:  # pragma: no cover - entry point
    app()


__all__ = ["app", "main"]
