"""`python -m reasoner.cli`: the `blincyto` command."""

from reasoner.cli.commands import app

app()
