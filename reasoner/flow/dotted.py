"""A contract request's values by dotted field path (`diagnosis.mrd.status`), as the contract names
its fields: what the FHIR mapping fills and the Da Vinci services read and ask for."""

from __future__ import annotations

from typing import Any

__all__ = ["get_value", "put_value"]


def get_value(request: dict[str, Any], dotted: str, absent: Any = None) -> Any:
    """The value at `dotted`, or `absent` when any part of the path is absent."""
    node: Any = request
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return absent
        node = node[part]
    return node


def put_value(request: dict[str, Any], dotted: str, value: Any) -> None:
    """Set the value at `dotted`, making the objects on the way; an object given where one is already
    is merged into it (two sources filling parts of `diagnosis.mrd`)."""
    node = request
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    if isinstance(value, dict) and isinstance(node.get(parts[-1]), dict):
        node[parts[-1]].update(value)
    else:
        node[parts[-1]] = value
