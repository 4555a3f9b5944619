"""`python -m reasoner.cli`: the `blincyto` command."""

from reasoner.cli.app import app

app()
