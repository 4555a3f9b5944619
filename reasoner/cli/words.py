"""Words for the command line's output: counts with the right plural ("1 cycle", "2 cycles")."""

from __future__ import annotations

__all__ = ["plural"]


def plural(n: int, noun: str, many: str | None = None) -> str:
    """`n` and the noun, singular for exactly one: plural(1, "request") == "1 request"."""
    return f"{n} {noun if n == 1 else (many or noun + 's')}"
