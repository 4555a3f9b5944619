"""The wheel is the product: build it, install it in a fresh virtual environment (no system
site-packages, dependencies from the package index as usual) and run `blincyto check` from a
folder outside the checkout. Slow (a minute or more), and run by CI by default."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "approve-initial-ph-negative-consolidation-commercial.json"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _run(cmd, cwd: Path, timeout: int = 1200) -> subprocess.CompletedProcess:
    result = subprocess.run([str(c) for c in cmd], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{cmd} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", out, ROOT], cwd=ROOT)
    wheels = list(out.glob("blincyto_reasoner-*.whl"))
    assert len(wheels) == 1, wheels
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
def test_installed_wheel_runs_outside_the_checkout(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False, system_site_packages=False, clear=True).create(env_dir)
    bindir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / "python"
    # The test's own pip installs into the fresh environment (`--python`), which spares ensurepip
    # (about 6 s of CPU); --no-compile spares pip's bytecode of every dependency (about 7 s). What is
    # tested stays: the wheel and its dependencies from the index, in an environment of their own.
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-compile", wheel],
         cwd=tmp_path)

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
