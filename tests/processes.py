"""Processes the tests start: stopping a server (terminate, wait, and kill if it does not go in
time; the endpoint's and the services' fixtures), and a copy of the checkout a child process runs
from (the broken-policy tests edit a shapes file in it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def checkout_copy(where: Path) -> Path:
    """The package and the policy as data, copied under `where`: `PYTHONPATH=copy` runs this code."""
    copy = where / "checkout"
    for part in ("reasoner", "ontology", "shapes", "queries", "versions"):
        shutil.copytree(ROOT / part, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def stop(proc: subprocess.Popen, timeout: float = 15) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)
