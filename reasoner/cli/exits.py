"""The command line's exit statuses, and the one line a policy that does not load is answered with.

Typer-free, so the fast start of `check` (`reasoner/cli/__init__.py`) and the Typer commands share them."""

from __future__ import annotations

import sys

__all__ = ["EXIT_FAILED", "EXIT_INVALID", "EXIT_POLICY", "EXIT_USAGE", "Exit", "policy_refusal"]

EXIT_FAILED = 1  # the store refused the determination, or (never expected) the engine failed
EXIT_INVALID = 2  # the request is invalid
EXIT_USAGE = 2  # an option's value is not one of its choices
EXIT_POLICY = 3  # the policy files hold a mistake that would make decisions meaningless


class Exit(Exception):
    """A command ends with this exit status (its message, if any, already written): typer's `Exit`
    without typer, so a command runs the same under the fast start (reasoner.cli.table.standalone)
    and under the Typer application (reasoner.cli.typed turns it into `typer.Exit`)."""

    def __init__(self, code: int = 0) -> None:
        super().__init__(code)
        self.code = code


def policy_refusal(exc: BaseException) -> bool:
    """True (and the finding written to standard error) when `exc` is the knowledge base refusing to
    load (reasoner.policy.integrity.PolicyError: the finding, the file and the term)."""
    integrity = sys.modules.get("reasoner.policy.integrity")  # not imported: not raised
    if integrity is None or not isinstance(exc, integrity.PolicyError):
        return False
    sys.stderr.write(f"blincyto: {exc}\n")
    sys.stderr.flush()
    return True
