"""The `blincyto` command line: one Typer application, its commands registered by their modules.

    blincyto check REQUEST [--format text|json|ttl] [--store DIR|URL]   REQUEST: a file, or - for stdin
    blincyto batch | schedule | units | store | query | serve | serve-fhir | review | lint | witnesses | diff | impact
    blincyto version

Each command module (`reasoner.cli.<name>`) has a `register(app)` function and imports the engine
only when its command runs, so the command line starts quickly.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import typer

from reasoner.cli import batch, check, review, schedule, services, store
from reasoner.cli.exits import EXIT_POLICY, policy_refusal

__all__ = ["EXIT_POLICY", "app", "main"]

app = typer.Typer(
    name="blincyto",
    help="Prior-authorization reasoner for Blincyto (blinatumomab), Centene CP.PHAR.312.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

for _module in (check, schedule, batch, store, review, services):
    _module.register(app)


def _refusing(command: Callable[..., Any]) -> Callable[..., Any]:
    """A command that prints one line and exits 3 when the knowledge base refuses to load
    (reasoner.policy.integrity.PolicyError: the finding, the file and the term)."""
    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except Exception as exc:
            if not policy_refusal(exc):
                raise
            raise typer.Exit(code=EXIT_POLICY) from None
    return run


for _info in app.registered_commands:
    _info.callback = _refusing(_info.callback)


def main() -> None:  # pragma: no cover - entry point
    app()
