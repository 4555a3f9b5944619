"""The `blincyto` command line (`reasoner.cli:app`, the console script's entry point).

`app` stands for the Typer application (`reasoner.cli.commands.app`), imported on first use:
`blincyto version` answers before typer (and pydantic, which typer imports) is loaded. Everything
else, including `typer.testing.CliRunner().invoke(app, ...)`, reaches the Typer application itself.
"""

from __future__ import annotations

import sys
from typing import Any


def _typer_app() -> Any:
    from reasoner.cli.commands import app as typer_app

    return typer_app


class _Entry:
    """The console script's `app`: `app()` runs the command line; attributes are the Typer app's."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not args and not kwargs and sys.argv[1:] == ["version"]:
            from reasoner.cli.about import print_version

            return print_version()
        return _typer_app()(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(_typer_app(), name)


app = _Entry()


def main() -> None:  # pragma: no cover - entry point
    app()


__all__ = ["app", "main"]
