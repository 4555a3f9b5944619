"""The `blincyto` command line (`reasoner.cli:app`, the console script's entry point)."""

from reasoner.cli.app import app, main

__all__ = ["app", "main"]
