"""Stopping a server a test started: terminate, wait, and kill if it does not go in time (shared by
the endpoint's and the services' fixtures)."""

from __future__ import annotations

import subprocess


def stop(proc: subprocess.Popen, timeout: float = 15) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)
