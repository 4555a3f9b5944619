"""`python -m reasoner.cli`: the `blincyto` command (the console script's entry point, fast start included)."""

from reasoner.cli import app

app()
