"""The `blincyto` command line: one Typer application, its commands registered by their modules.

    blincyto check REQUEST [--format text|json|ttl] [--store DIR|URL]   REQUEST: a file, or - for stdin
    blincyto batch | schedule | units | store | query | serve | serve-fhir | review | lint | witnesses | diff | impact
    blincyto version

Each command module (`reasoner.cli.<name>`) has a `register(app)` function and imports the engine
only when its command runs, so the command line starts quickly.
"""

from __future__ import annotations

import typer

from reasoner.cli import batch, check, review, schedule, services, store

app = typer.Typer(
    name="blincyto",
    help="Prior-authorization reasoner for Blincyto (blinatumomab), Centene CP.PHAR.312.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

for _module in (check, schedule, batch, store, review, services):
    _module.register(app)


def main() -> None:  # pragma: no cover - entry point
    app()
