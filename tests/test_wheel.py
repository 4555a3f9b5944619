"""The wheel is the product: build it, install it in a fresh virtual environment (no system
site-packages, dependencies from the package index) and run `blincyto check` from a folder outside
the checkout. Slow (half a minute or more), and run by CI by default.

The index is read once a day: the wheels pip resolves for the build (`[build-system] requires`) and
for the built wheel's dependencies are kept in a wheelhouse (`$XDG_CACHE_HOME/blincyto-tests/`,
keyed by those requirements, the interpreter and the UTC date), and the build's isolated environment
and the fresh one install from it alone (`--no-index`): what pip resolves from the index, without
asking it again (about 15 s a run, most of this test). A requirement changed in pyproject.toml is
another key, so it is resolved from the index. `BLINCYTO_CACHE=0`: nothing kept, the index asked.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import tomllib
import venv
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "approve-initial-ph-negative-consolidation-commercial.json"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env | extra


def _run(cmd, cwd: Path, timeout: int = 1200, **env: str) -> subprocess.CompletedProcess:
    result = subprocess.run([str(c) for c in cmd], cwd=cwd, env=_env(**env), capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, f"{cmd} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def _offline(wheelhouse: Path) -> dict[str, str]:
    """pip's environment for installing from the wheelhouse alone (the build's isolated pip reads it too)."""
    return {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheelhouse)}


def _requirements() -> tuple[list[str], list[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return project["build-system"]["requires"], project["project"]["dependencies"]


def _fill(wheelhouse: Path, *what) -> None:
    """The wheels of `what` and of everything it needs, resolved from the index as pip does."""
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", wheelhouse, *what], cwd=wheelhouse)


@dataclass
class Wheelhouse:
    where: Path  # the folder of wheels pip installs from (PIP_FIND_LINKS, PIP_NO_INDEX)
    keep_as: Path | None  # where it is kept once whole (None: kept already, or never)
    filled: bool  # it holds the dependencies too


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory) -> Wheelhouse:
    """Today's kept wheelhouse, or a new one holding the build's requirements (the wheel fixture adds the
    built wheel's dependencies, then keeps it)."""
    build_requires, dependencies = _requirements()
    day = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    key = hashlib.blake2b(json.dumps([build_requires, dependencies, sys.version, sysconfig.get_platform(), day])
                          .encode(), digest_size=8).hexdigest()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "blincyto-tests"
    final = base / f"wheelhouse-{key}"
    if os.environ.get("BLINCYTO_CACHE", "1").strip().lower() in {"0", "off", "no", "false"}:
        house = Wheelhouse(tmp_path_factory.mktemp("wheelhouse"), None, False)
    elif (final / "complete").is_file():
        return Wheelhouse(final, None, True)
    else:
        base.mkdir(parents=True, exist_ok=True)
        house = Wheelhouse(Path(tempfile.mkdtemp(prefix=".filling-", dir=base)), final, False)
    _fill(house.where, *build_requires)
    return house


def _keep(house: Wheelhouse) -> None:
    """The filled wheelhouse renamed into place (another run's, there first, wins); those of two days ago removed."""
    assert house.keep_as is not None
    (house.where / "complete").write_text("")
    try:
        house.where.rename(house.keep_as)
    except OSError:
        shutil.rmtree(house.where, ignore_errors=True)
    for old in [*house.keep_as.parent.glob("wheelhouse-*"), *house.keep_as.parent.glob(".filling-*")]:
        if old != house.keep_as and time.time() - old.stat().st_mtime > 2 * 86400:  # no run still reads it
            shutil.rmtree(old, ignore_errors=True)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory, wheelhouse) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", out, ROOT], cwd=ROOT, **_offline(wheelhouse.where))
    wheels = list(out.glob("blincyto_reasoner-*.whl"))
    assert len(wheels) == 1, wheels
    if not wheelhouse.filled:  # the built wheel's dependencies, resolved from the index as an install does
        _fill(wheelhouse.where, wheels[0])
        for own in wheelhouse.where.glob("blincyto_reasoner-*.whl"):
            own.unlink()  # the checkout's wheel is installed from dist/, never from here
        wheelhouse.filled = True
        if wheelhouse.keep_as is not None:
            _keep(wheelhouse)
            wheelhouse.where = wheelhouse.keep_as
    return wheels[0]


@pytest.mark.slow
def test_wheel_carries_the_knowledge(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder, pattern in (("ontology", "*.ttl"), ("shapes", "*.ttl"), ("queries", "*.rq")):
        files = sorted((ROOT / folder).glob(pattern))
        assert files, f"no {pattern} in {folder}/"
        for path in files:
            assert f"reasoner/{folder}/{path.name}" in names
    for name in ("reasoner/__init__.py", "reasoner/cli/__init__.py", "reasoner/flow/check.py",
                 "reasoner/flow/provenance.py", "reasoner/shacl/components/logical.py",
                 "reasoner/contract/context.jsonld", "reasoner/contract/request-v1.schema.json"):
        assert name in names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "blincyto = reasoner.cli:app" in zipfile.ZipFile(wheel).read(entry_points).decode()
    assert not any(n.startswith(("tests/", "examples/", "ontology/", "shapes/", "queries/")) for n in names)


@pytest.mark.slow
def test_installed_wheel_runs_outside_the_checkout(wheel, wheelhouse, tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False, system_site_packages=False, clear=True).create(env_dir)
    bindir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / "python"
    # The test's own pip installs into the fresh environment (`--python`), which spares ensurepip
    # (about 6 s of CPU); --no-compile spares pip's bytecode of every dependency (about 7 s). What is
    # tested stays: the wheel and its dependencies as the index resolves them (today's wheelhouse), in
    # an environment of their own.
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-compile", wheel],
         cwd=tmp_path, **_offline(wheelhouse.where))

    work = tmp_path / "elsewhere"
    work.mkdir()
    request = work / "request.json"
    shutil.copy(EXAMPLE, request)

    where = _run([python, "-c", "import reasoner, sys; print(reasoner.__file__)"], cwd=work).stdout.strip()
    assert not Path(where).resolve().is_relative_to(ROOT), where

    result = _run([bindir / "blincyto", "check", request.name, "--format", "json"], cwd=work)
    det = json.loads(result.stdout)
    assert det["id"] == json.loads(EXAMPLE.read_text())["id"]
    assert det["decision"] == "approve"
    assert det["approval_months"] == 6

    text = _run([bindir / "blincyto", "check", request.name], cwd=work)
    assert "Decision: APPROVE" in text.stdout

    bad = subprocess.run([str(bindir / "blincyto"), "check", "-"], input='{"id": 1}', cwd=work, env=_env(),
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert bad.stderr.startswith("error: id: ")
