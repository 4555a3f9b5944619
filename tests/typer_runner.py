"""typer's test runner, with the click command it makes from an application made once.

`typer.testing.CliRunner.invoke(app, ...)` makes the click command from the Typer application again
at every call (`typer.main.get_command`: about 10 ms, half of a short call, and the CLI tests make
thousands of calls). `Runner` makes it once per application and hands typer's own `invoke` that
command: the same command `blincyto` makes once a process, run the same way. Where typer's test
runner is laid out otherwise (no `_get_command` to hand it), it is typer's runner unchanged.
"""

from __future__ import annotations

from typing import Any

import typer.testing
from typer.testing import CliRunner


class Runner(CliRunner):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._made: dict[int, tuple[Any, Any]] = {}  # id(app) -> (app, its click command)

    def invoke(self, app: Any, *args: Any, **kwargs: Any):  # type: ignore[override]
        make = getattr(typer.testing, "_get_command", None)
        if make is None:
            return super().invoke(app, *args, **kwargs)
        if id(app) not in self._made:
            self._made[id(app)] = (app, make(app))  # the app kept: its id is never another's
        command = self._made[id(app)][1]
        typer.testing._get_command = lambda _app: command
        try:
            return super().invoke(app, *args, **kwargs)
        finally:
            typer.testing._get_command = make
