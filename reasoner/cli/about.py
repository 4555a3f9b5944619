"""`blincyto version`, answered without importing the command line's libraries (typer, pydantic) or
`importlib.metadata` (0.1 s between them, longer than the answer is worth)."""

from __future__ import annotations

import os
import sys

DIST_NAME = "blincyto-reasoner"  # the distribution's name, as pyproject.toml and PROV-O records say
_DIST_INFO = DIST_NAME.replace("-", "_") + "-"


def installed_version() -> str:
    """The installed distribution's version, read from its METADATA on sys.path (the first found,
    as importlib.metadata does); importlib.metadata itself when no dist-info is found there."""
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if name.startswith(_DIST_INFO) and name.endswith(".dist-info"):
                version = _metadata_version(os.path.join(entry, name, "METADATA"))
                if version is not None:
                    return version
    from reasoner.flow.provenance import engine_version

    return engine_version()


def _metadata_version(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith("Version:"):
                    return line.partition(":")[2].strip()
                if not line.strip():  # the headers end at the first empty line
                    break
    except OSError:
        return None
    return None


def print_version() -> None:
    sys.stdout.write(f"{DIST_NAME} {installed_version()}\n")
