"""Bearer tokens: who may call the service, and which callers are clinicians.

Tokens are kept as SHA-256 digests, never in the clear: a token file (`--tokens FILE`, JSON) lists

    {"tokens": [
      {"sha256": "<hex digest of the token>", "role": "client", "name": "Example EHR"},
      {"sha256": "<hex>", "role": "clinician", "name": "Dr. A. Reviewer",
       "identifier": {"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}}
    ]}

and BLINCYTO_FHIR_TOKEN, if set, is one more client token. A request presents `Authorization:
Bearer <token>`; the digest is compared in constant time with each one listed.

- When any token is configured, every endpoint needs one (401 otherwise).
- Bound to anything but loopback, the service refuses to start without a client token.
- The clinician's decision always needs a clinician's token (403 for a client's), even on loopback:
  the clinician's identity in the audit trail is the token's, never the request body's.

SMART Backend Services (a signed JWT exchanged for an access token) is not implemented: a payer puts
its own authorization server in front, or a later step adds it (docs/services.md).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Identity", "Tokens", "TokenFileError", "digest", "ENV_TOKEN"]

ENV_TOKEN = "BLINCYTO_FHIR_TOKEN"
ROLES = ("client", "clinician")


class TokenFileError(ValueError):
    """A token file the service cannot use (the message names the entry, never a token)."""


@dataclass(frozen=True)
class Identity:
    name: str
    role: str
    identifier: dict[str, str] | None = None

    @property
    def is_clinician(self) -> bool:
        return self.role == "clinician"

    def as_agent(self) -> dict[str, Any]:
        return {"name": self.name, "identifier": dict(self.identifier) if self.identifier else None}


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Tokens:
    """The configured tokens (digest -> identity)."""

    def __init__(self, entries: list[tuple[str, Identity]]) -> None:
        self.entries = entries

    @classmethod
    def load(cls, path: Path | None = None, env: dict[str, str] | None = None) -> "Tokens":
        env = os.environ if env is None else env
        entries: list[tuple[str, Identity]] = []
        if path is not None:
            entries += _read_file(path)
        token = env.get(ENV_TOKEN, "").strip()
        if token:
            entries.append((digest(token), Identity("client token (" + ENV_TOKEN + ")", "client")))
        return cls(entries)

    @property
    def configured(self) -> bool:
        return bool(self.entries)

    @property
    def has_client(self) -> bool:
        return any(i.role == "client" for _, i in self.entries)

    def identify(self, authorization: str | None) -> Identity | None:
        if not authorization:
            return None
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        presented = digest(token.strip())
        found = None
        for known, identity in self.entries:  # every entry compared: no early exit to time
            if hmac.compare_digest(presented, known):
                found = identity
        return found


def _read_file(path: Path) -> list[tuple[str, Identity]]:
    try:
        mode = path.stat().st_mode
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TokenFileError(f"cannot read the token file {path}: {exc.strerror or 'error'}") from None
    except json.JSONDecodeError as exc:
        raise TokenFileError(f"{path} is not JSON (line {exc.lineno})") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise TokenFileError(f"{path} can be read by others: chmod 600 it")
    rows = data.get("tokens") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise TokenFileError(f"{path}: expected {{\"tokens\": [...]}}")
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise TokenFileError(f"{path}: tokens[{i}] is not an object")
        hexed = row.get("sha256")
        if not (isinstance(hexed, str) and len(hexed) == 64 and all(c in "0123456789abcdef" for c in hexed.lower())):
            raise TokenFileError(f"{path}: tokens[{i}].sha256 must be the 64 hex digits of the token's SHA-256")
        role = row.get("role", "client")
        if role not in ROLES:
            raise TokenFileError(f"{path}: tokens[{i}].role must be one of {', '.join(ROLES)}")
        name = row.get("name")
        if not isinstance(name, str) or not name.strip():
            raise TokenFileError(f"{path}: tokens[{i}].name is required (it is the audit trail's agent)")
        ident = row.get("identifier")
        if ident is not None and not (isinstance(ident, dict) and isinstance(ident.get("value"), str)):
            raise TokenFileError(f"{path}: tokens[{i}].identifier must be {{\"system\": ..., \"value\": ...}}")
        out.append((hexed.lower(), Identity(name.strip(), role, {k: str(v) for k, v in ident.items()} if ident else None)))
    return out
