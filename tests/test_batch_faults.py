"""`blincyto batch` under faults and hostile input (issue 13, and papercut 2 of issue 11).

Nothing lost, nothing twice: a poison record (any exception) is an error row and the batch goes on;
kill -9 and resume with reused ids keeps every record exactly once (resume is by position, not id);
an OUTPUT that is INPUT, or that another batch holds, is refused (exit 3); a full disk is one line
and exit 4, and a resume after it completes OUTPUT; a line of any length (/dev/zero included) costs no
more memory than a request; OUTPUT is created 0600; resume retries error rows, and the exit status
describes OUTPUT as it stands.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reasoner.cli import app
from reasoner.pipelines import batch as batch_mod
from reasoner.pipelines.batch import Format, OutputRefused, OutputWriteError, run_batch
from reasoner.pipelines.output import OutputFile
from requestgen import requests

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()
CLI = [sys.executable, "-m", "reasoner.cli"]


def run(*args: str, input: bytes | str | None = None):
    return runner.invoke(app, ["batch", *args], input=input)


def _write(path: Path, lines: list) -> Path:
    with path.open("w") as f:
        for line in lines:
            f.write((line if isinstance(line, str) else json.dumps(line)) + "\n")
    return path


def _rows(path: Path) -> list[dict]:
    text = path.read_text()
    assert text == "" or text.endswith("\n"), "a torn last line"
    return [json.loads(line, parse_constant=_no_constant) for line in text.splitlines()]


def _no_constant(name: str):
    raise AssertionError(f"{name} in a row: not JSON")


def _exactly_once(rows: list[dict], n: int) -> None:
    assert [r["line"] for r in rows] == list(range(1, n + 1))


@pytest.fixture(scope="module")
def sample() -> list[dict]:
    return list(requests(30, seed=13))


# ---------------------------------------------------------------------------------------------
# A poison record never stops a batch
# ---------------------------------------------------------------------------------------------

class _Poisoned:
    """The real reasoner, except that requests whose id starts with `poison` raise `exc`."""

    def __init__(self, real, exc: BaseException, tamper=None) -> None:
        self.real, self.exc, self.tamper = real, exc, tamper

    def evaluate_full(self, request, checked=False):
        if request["id"].startswith("poison"):
            raise self.exc
        ev = self.real.evaluate_full(request, checked=checked)
        if self.tamper is not None:
            self.tamper(ev.determination)
        return ev


def _poison(monkeypatch, exc: BaseException | None = None, tamper=None) -> None:
    real_init = batch_mod._init_worker
    # undo() puts back the reasoner and the cache key as they were (run_batch builds the reasoner
    # before OUTPUT is touched, and the workers reuse it: the poisoned one must not outlive the test)
    monkeypatch.setattr(batch_mod, "_REASONER", batch_mod._REASONER)
    monkeypatch.setattr(batch_mod, "_BUILT_FOR", batch_mod._BUILT_FOR)

    def init(fmt, extra_kb, engine):
        real_init(fmt, extra_kb, engine)
        batch_mod._REASONER = _Poisoned(batch_mod._REASONER, exc or RuntimeError("boom 1988-04-12"), tamper)

    monkeypatch.setattr(batch_mod, "_init_worker", init)


@pytest.mark.parametrize("exc", [RuntimeError("value 1988-04-12"), MemoryError(), RecursionError(),
                                 OverflowError("int too large"), UnicodeEncodeError("utf-8", "\ud800", 0, 1, "x"),
                                 KeyError("member"), ZeroDivisionError()], ids=lambda e: type(e).__name__)
def test_any_exception_of_a_record_is_an_error_row_and_the_batch_goes_on(tmp_path, monkeypatch, sample, exc):
    _poison(monkeypatch, exc)
    lines = [*sample[:5], {**sample[5], "id": "poison-1"}, *sample[6:12], {**sample[12], "id": "poison-2"}]
    src = _write(tmp_path / "in.jsonl", lines)
    out = tmp_path / "out.jsonl"
    summary = run_batch(src, out, workers=1)
    rows = _rows(out)
    _exactly_once(rows, len(lines))
    errors = [r for r in rows if "error" in r]
    assert [(r["line"], r["id"]) for r in errors] == [(6, "poison-1"), (13, "poison-2")]
    for r in errors:
        assert r["error"]["field"] == "(request)"
        assert f"internal error ({type(exc).__name__})" in r["error"]["reason"]
        assert "1988" not in r["error"]["reason"]  # the exception's message is never shown
    assert summary.errors == summary.internal == 2 and summary.exit_code == 1

    monkeypatch.undo()  # the engine is mended: resume replaces both error rows, in place
    summary = run_batch(src, out, workers=1, resume=True)
    rows = _rows(out)
    _exactly_once(rows, len(lines))
    assert not any("error" in r for r in rows)
    assert summary.retried == 2 and summary.skipped == len(lines) - 2 and summary.exit_code == 0


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "nq"])
def test_a_non_finite_number_never_reaches_a_row(tmp_path, monkeypatch, sample, fmt):
    def tamper(det):
        if det["id"].endswith("3"):
            det["derived"]["bsa_m2"] = float("inf")

    _poison(monkeypatch, tamper=tamper)
    src = _write(tmp_path / "in.jsonl", sample[:10])
    out = tmp_path / f"out.{fmt}"
    summary = run_batch(src, out, Format(fmt), workers=1)
    text = out.read_text()
    assert "Infinity" not in text and "INF" not in text
    assert summary.errors == sum(r["id"].endswith("3") for r in sample[:10]) == summary.internal
    if fmt == "jsonl":
        assert len(_rows(out)) == 10


TRIGGERS = [  # (what the issue found, the line, the field named)
    ("lone surrogate in id", '"id": "\\ud800"', "id"),
    ("int above 1.8e308 in weight_kg", '"member": {"birth_date": "1990-01-01", "weight_kg": 1' + "0" * 400 + "}",
     "member.weight_kg"),
    ("int above 1.8e308 in height_cm", '"member": {"birth_date": "1990-01-01", "height_cm": 1' + "0" * 400 + "}",
     "member.height_cm"),
    ("int above 1.8e308 in bsa_m2", '"member": {"birth_date": "1990-01-01", "bsa_m2": 1' + "0" * 400 + "}",
     "member.bsa_m2"),
    ("int above 1.8e308 in dose.value", '"dose": {"value": 1' + "0" * 400 + ', "unit": "mcg/day"}', "dose.value"),
    ("request_date in year 1", '"request_date": "0001-01-15"', "request_date"),
    ("1e308 in weight_kg (Infinity BSA)", '"member": {"birth_date": "1990-01-01", "weight_kg": 1e308, '
                                          '"height_cm": 1e308}', "member.weight_kg"),
    ("a 4,301-digit integer", '"units_billed": 1' + "0" * 4300, "units_billed"),
    ("a 1 MB id", '"id": "' + "x" * 1_000_000 + '"', "id"),
    ("100,000 unknown agents", '"regimen": {"with": [' + ", ".join(['"a"'] * 100_000) + "]}", "regimen.with"),
]


def _line_with(base: dict, fragment: str) -> str:
    """`base` as JSON text with one field replaced by the raw JSON `fragment` (`"key": value`)."""
    key = json.loads("{" + fragment.split(":", 1)[0] + ": 0}").popitem()[0]
    rest = json.dumps({k: v for k, v in base.items() if k != key})
    return "{" + fragment + ", " + rest[1:]


def test_the_issues_triggers_are_error_rows_naming_the_field(tmp_path, sample):
    lines = []
    for i, (_what, fragment, _field) in enumerate(TRIGGERS):
        lines += [sample[i], _line_with(sample[i + 10], fragment)]
    src = _write(tmp_path / "in.jsonl", lines)
    result = run(str(src), "-o", str(tmp_path / "out.jsonl"), "--workers", "1")
    assert result.exit_code == 1, result.output
    rows = _rows(tmp_path / "out.jsonl")
    _exactly_once(rows, len(lines))
    for (what, _fragment, field), good, bad in zip(TRIGGERS, rows[0::2], rows[1::2]):
        assert "error" not in good
        assert bad["error"]["field"] == field, what
    assert "Infinity" not in (tmp_path / "out.jsonl").read_text()


@pytest.mark.parametrize(("what", "fragment", "field"), TRIGGERS, ids=[t[0] for t in TRIGGERS])
def test_check_names_the_field_for_each_trigger(tmp_path, sample, what, fragment, field):
    path = tmp_path / "request.json"
    path.write_text(_line_with(sample[0], fragment))
    for fmt in ("text", "json", "ttl"):
        result = runner.invoke(app, ["check", str(path), "--format", fmt])
        assert result.exit_code == 2, (what, result.stderr)
        assert result.stderr.startswith(f"error: {field}: ") and result.stderr.count("\n") == 1
        assert result.stdout == ""


def test_check_on_a_trigger_prints_no_traceback(tmp_path, sample):
    path = tmp_path / "request.json"
    path.write_text(_line_with(sample[0], TRIGGERS[0][1]))
    result = subprocess.run([*CLI, "check", str(path)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stderr) == (2, "error: id: must be valid Unicode text (it holds a lone surrogate)\n")


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_check_reads_no_more_than_a_request_may_hold(tmp_path):
    big = tmp_path / "big.json"
    big.write_text(" " * 2_000_000 + '{"resourceType": "Bundle"}')  # FHIR too: no cut text is parsed
    for path in ("/dev/zero", str(big)):
        result = runner.invoke(app, ["check", path])
        assert result.exit_code == 2 and result.stderr.startswith("error: (request): is too large"), path


# ---------------------------------------------------------------------------------------------
# Resume by position: reused ids, kill -9
# ---------------------------------------------------------------------------------------------

def _reused(n: int, seed: int) -> list[dict]:
    """`n` requests, every fourth one a corrected resubmission under an earlier request's id."""
    reqs = list(requests(n, seed=seed))
    for i in range(3, n, 4):
        reqs[i]["id"] = reqs[i - 3]["id"]
    return reqs


def test_resume_keeps_requests_whose_id_was_used_before(tmp_path):
    reqs = _reused(200, seed=17)
    src = _write(tmp_path / "in.jsonl", reqs)
    out = tmp_path / "out.jsonl"
    run_batch(src, out, workers=1)
    whole = out.read_bytes()
    out.write_bytes(whole[: len(whole) // 2 + 11])  # a crash halfway, a row torn
    summary = run_batch(src, out, workers=1, resume=True)
    rows = _rows(out)
    _exactly_once(rows, 200)
    assert out.read_bytes() == whole
    assert summary.skipped + summary.rows == 200 and len({r["id"] for r in rows}) == 150


def _kill_when(proc: subprocess.Popen, out: Path, rows: int) -> int:
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            if out.exists() and out.read_bytes().count(b"\n") >= rows:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the batch ended before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)  # the batch and its workers
        proc.wait(timeout=30)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return out.read_bytes().count(b"\n")


def test_kill_9_twice_and_resume_with_reused_ids_loses_nothing_and_duplicates_nothing(tmp_path):
    """The issue's probe: 2,000 requests with 500 reused ids; after kill -9 and resume, 2,000 rows."""
    reqs = _reused(2000, seed=19)
    src = _write(tmp_path / "in.jsonl", reqs)
    out = tmp_path / "out.jsonl"
    cmd = [*CLI, "batch", str(src), "-o", str(out), "--workers", "2"]
    first = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    written = _kill_when(first, out, 300)
    second = subprocess.Popen([*cmd, "--resume"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    assert _kill_when(second, out, written + 400) < len(reqs)
    resumed = subprocess.run([*cmd, "--resume"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert "skipped (already in output)" in resumed.stderr
    rows = _rows(out)
    _exactly_once(rows, len(reqs))
    assert [r["id"] for r in rows] == [r["id"] for r in reqs] and len({r["id"] for r in rows}) == 1500


def test_resume_refuses_an_output_made_from_another_input(tmp_path, sample):
    src = _write(tmp_path / "in.jsonl", sample[:10])
    out = tmp_path / "out.jsonl"
    run_batch(src, out, workers=1)
    before = out.read_bytes()
    other = _write(tmp_path / "other.jsonl", ["", *sample[:10]])  # every record one line down
    result = run(str(other), "-o", str(out), "--resume", "--workers", "1")
    assert result.exit_code == 3 and "not made from this INPUT" in result.stderr
    shorter = _write(tmp_path / "shorter.jsonl", sample[:5])
    result = run(str(shorter), "-o", str(out), "--resume", "--workers", "1")
    assert result.exit_code == 3 and "more rows than INPUT has records" in result.stderr
    assert out.read_bytes() == before


# ---------------------------------------------------------------------------------------------
# Papercut 2 (issue 11): resume retries error rows; the exit status describes OUTPUT
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["jsonl", "csv", "nq"])
def test_resume_replaces_an_error_row_whose_record_now_succeeds(tmp_path, sample, fmt):
    bad = {**sample[3], "member": {**sample[3]["member"], "weight_kg": -1}}
    lines = [*sample[:3], bad, *sample[4:8], "{broken"]
    src = _write(tmp_path / "in.jsonl", lines)
    out = tmp_path / f"out.{fmt}"
    fixed_src = _write(tmp_path / "fixed.jsonl", [*sample[:3], sample[3], *sample[4:8], "{broken"])
    good = tmp_path / f"good.{fmt}"
    run_batch(fixed_src, good, Format(fmt), workers=1)
    first = run(str(src), "-o", str(out), "--format", fmt, "--workers", "1")
    assert first.exit_code == 1
    os.chmod(out, 0o640)
    fixed = run(str(fixed_src), "-o", str(out), "--format", fmt, "--workers", "1", "--resume")
    assert fixed.exit_code == 1, fixed.stderr  # line 9 is still broken: an error row remains
    assert "error rows retried: 2" in fixed.stderr and "skipped (already in output): 7" in fixed.stderr
    if fmt == "nq":  # blank nodes and determination IRIs are new on each run: compare the marks
        marks = [line for line in out.read_text().splitlines() if line.startswith("# blincyto-batch")]
        assert marks == [line for line in good.read_text().splitlines() if line.startswith("# blincyto-batch")]
    else:
        assert out.read_text() == good.read_text()  # the new row in the old one's place, in order
    assert stat.S_IMODE(out.stat().st_mode) == 0o640  # the rewritten OUTPUT keeps its mode
    assert not list(tmp_path.glob(".out.*"))  # no lock or temporary file left behind


def test_resume_with_nothing_left_exits_by_what_output_holds(tmp_path, sample):
    src = _write(tmp_path / "in.jsonl", sample[:4])
    out = tmp_path / "out.jsonl"
    assert run(str(src), "-o", str(out), "--workers", "1").exit_code == 0
    again = run(str(src), "-o", str(out), "--workers", "1", "--resume")
    assert again.exit_code == 0 and "skipped (already in output): 4" in again.stderr
    assert len(_rows(out)) == 4


# ---------------------------------------------------------------------------------------------
# OUTPUT is not INPUT; one run at a time
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["same", "symlink", "hardlink", "stdin", "folder"])
def test_output_that_is_input_is_refused(tmp_path, sample, how):
    src = _write(tmp_path / "in.jsonl", sample[:5])
    before = src.read_bytes()
    if how == "folder":
        folder = tmp_path / "requests"
        folder.mkdir()
        (folder / "a.json").write_text(json.dumps(sample[0]))
        result = run(str(folder), "-o", str(folder / "out.json"), "--workers", "1")
        assert result.exit_code == 3 and "inside the input folder" in result.stderr
        assert sorted(p.name for p in folder.iterdir()) == ["a.json"]
        return
    if how == "stdin":
        with src.open("rb") as stdin:
            result = subprocess.run([*CLI, "batch", "-", "-o", str(src)], stdin=stdin, cwd=ROOT,
                                    capture_output=True, text=True, timeout=120)
        code, stderr = result.returncode, result.stderr
    else:
        out = src
        if how == "symlink":
            out = tmp_path / "link.jsonl"
            out.symlink_to(src)
        elif how == "hardlink":
            out = tmp_path / "hard.jsonl"
            os.link(src, out)
        result = run(str(src), "-o", str(out), "--workers", "1")
        code, stderr = result.exit_code, result.stderr
    assert code == 3 and "is the input" in stderr and stderr.count("\n") == 1
    assert src.read_bytes() == before


def test_a_second_run_on_a_locked_output_is_refused(tmp_path, sample):
    src = _write(tmp_path / "in.jsonl", sample[:3])
    out = tmp_path / "out.jsonl"
    with OutputFile(out, Format.jsonl).locked():
        with pytest.raises(OutputRefused, match="being written by another batch"):
            run_batch(src, out, workers=1)
        result = run(str(src), "-o", str(out), "--workers", "1", "--resume")
        assert result.exit_code == 3 and f"(process {os.getpid()})" in result.stderr
    assert run(str(src), "-o", str(out), "--workers", "1").exit_code == 0  # released with the run


def test_concurrent_runs_on_one_output_are_refused_and_nothing_is_duplicated(tmp_path):
    reqs = list(requests(2000, seed=23))
    src = _write(tmp_path / "in.jsonl", reqs)
    out = tmp_path / "out.jsonl"
    cmd = [*CLI, "batch", str(src), "-o", str(out), "--workers", "1"]
    first = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not (out.exists() and out.stat().st_size) and time.monotonic() < deadline:
            time.sleep(0.05)
        others = [subprocess.Popen(cmd + extra, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                  for extra in (["--resume"], ["--resume"], ["--resume"], [])]
        results = [(p.wait(timeout=300), p.stderr.read()) for p in others]
        assert first.poll() is None, "the first batch ended before the others started"
        assert all(code == 3 and "being written by another batch" in err for code, err in results), results
        assert first.wait(timeout=600) == 0
    finally:
        if first.poll() is None:
            first.kill()
    _exactly_once(_rows(out), len(reqs))


# ---------------------------------------------------------------------------------------------
# A full disk
# ---------------------------------------------------------------------------------------------

def _disk_with(monkeypatch, room: int) -> None:
    """os.write as on a disk with `room` bytes left: a short write, then ENOSPC."""
    left = [room]
    real = os.write

    def write(fd, data):
        if left[0] <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = real(fd, bytes(data[: left[0]]))
        left[0] -= n
        return n

    monkeypatch.setattr(batch_mod, "_os_write", write)


def test_full_disk_is_one_line_and_its_own_exit_status_and_resume_completes(tmp_path, monkeypatch, sample):
    src = _write(tmp_path / "in.jsonl", sample)
    out = tmp_path / "out.jsonl"
    _disk_with(monkeypatch, 20_000)
    result = run(str(src), "-o", str(out), "--workers", "1")
    assert result.exit_code == 4
    assert result.stderr.startswith(f"error: cannot write {out}: No space left on device")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert 0 < out.stat().st_size <= 20_000
    monkeypatch.undo()
    assert run(str(src), "-o", str(out), "--workers", "1", "--resume").exit_code == 0
    _exactly_once(_rows(out), len(sample))


def test_full_disk_while_error_rows_are_retried_leaves_output_as_it_was(tmp_path, monkeypatch, sample):
    src = _write(tmp_path / "in.jsonl", [*sample[:10], "{bad", *sample[10:20]])
    out = tmp_path / "out.jsonl"
    run_batch(src, out, workers=1)
    before = out.read_bytes()
    _disk_with(monkeypatch, 3_000)
    with pytest.raises(OutputWriteError, match="No space left"):
        run_batch(src, out, workers=1, resume=True)
    assert out.read_bytes() == before and not list(tmp_path.glob(".out.*"))


def test_dev_full_as_output(tmp_path, sample):
    src = _write(tmp_path / "in.jsonl", sample[:3])
    result = subprocess.run([*CLI, "batch", str(src), "-o", "/dev/full", "--workers", "1"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 4 and result.stderr.count("\n") == 1
    assert "No space left on device" in result.stderr and "Traceback" not in result.stderr


def _can_mount_tmpfs(where: Path) -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                            f"mount -t tmpfs -o size=64k tmpfs {where}"], capture_output=True, timeout=30)
    return probe.returncode == 0


def test_a_real_full_disk_a_small_tmpfs(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if not _can_mount_tmpfs(mnt):
        pytest.skip("cannot mount a tmpfs here (no user namespaces)")
    reqs = list(requests(600, seed=29))
    src = _write(tmp_path / "in.jsonl", reqs)
    batch = " ".join([*CLI, "batch", str(src), "-o", str(mnt / "out.jsonl"), "--workers", "1"])
    script = f"""
        mount -t tmpfs -o size=4m tmpfs {mnt} || exit 99
        head -c 3800000 /dev/zero > {mnt}/filler
        {batch} 2> {tmp_path}/first.err; echo $? > {tmp_path}/first.rc
        rm {mnt}/filler
        {batch} --resume 2> {tmp_path}/resume.err; echo $? > {tmp_path}/resume.rc
        cp {mnt}/out.jsonl {tmp_path}/out.jsonl
    """
    done = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    first_err = (tmp_path / "first.err").read_text()
    assert (tmp_path / "first.rc").read_text().strip() == "4", first_err
    assert "No space left on device" in first_err and first_err.count("\n") == 1
    assert (tmp_path / "resume.rc").read_text().strip() == "0", (tmp_path / "resume.err").read_text()
    _exactly_once(_rows(tmp_path / "out.jsonl"), len(reqs))


# ---------------------------------------------------------------------------------------------
# Bounded lines and files
# ---------------------------------------------------------------------------------------------

def test_an_overlong_line_is_an_error_row_and_the_next_lines_are_read(tmp_path, sample):
    src = tmp_path / "in.jsonl"
    with src.open("w") as f:
        f.write(json.dumps(sample[0]) + "\n")
        f.write('{"id": "' + "x" * 3_000_000 + '"}\n')
        f.write(json.dumps(sample[1]) + "\n")
        f.write(" " * 2_000_000 + json.dumps(sample[2]))  # the last line, no newline
    out = tmp_path / "out.jsonl"
    run_batch(src, out, workers=1)
    rows = _rows(out)
    assert [r["line"] for r in rows] == [1, 2, 3, 4]
    assert [r.get("id") for r in rows] == [sample[0]["id"], None, sample[1]["id"], None]
    assert rows[1]["error"]["reason"].startswith("is too large") and rows[3]["error"]["field"] == "(request)"


PEAK = """
import sys
from reasoner.pipelines.batch import run_batch
run_batch("-", sys.argv[1], workers=1)
# VmHWM, not ru_maxrss: the latter keeps the parent's peak across fork/vfork and exec
print(next(line for line in open("/proc/self/status") if line.startswith("VmHWM")).split()[1])
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="Linux (VmHWM)")
def test_a_200_mb_line_costs_no_more_memory_than_a_request(tmp_path, sample):
    proc = subprocess.Popen([sys.executable, "-c", PEAK, str(tmp_path / "out.jsonl")], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=False)

    def feed():
        piece = b"x" * (1 << 20)
        for _ in range(200):
            proc.stdin.write(piece)
        proc.stdin.write(b"\n" + json.dumps(sample[0]).encode() + b"\n")
        proc.stdin.close()

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    printed = proc.stdout.read()  # until the batch ends (communicate() would close its input early)
    assert proc.wait(timeout=300) == 0
    feeder.join()
    peak_kb = int(printed.split()[-1])
    assert peak_kb < 200 * 1024, f"peak {peak_kb} KB for a 200 MB line"
    assert [r["line"] for r in _rows(tmp_path / "out.jsonl")] == [1, 2]


@pytest.mark.skipif(not Path("/dev/zero").exists() or not Path("/proc/self/io").exists(), reason="Linux")
def test_dev_zero_as_input_does_not_exhaust_memory(tmp_path):
    proc = subprocess.Popen([*CLI, "batch", "/dev/zero", "-o", str(tmp_path / "out.jsonl"), "--workers", "1"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples, read = [], 0
    try:
        # sampled every 0.1 s until the batch has read 400 MB, twice the memory bound (a reader that kept
        # what it read would be past the bound by then), not for a fixed time
        started = time.monotonic()
        while read < 400 << 20 and time.monotonic() - started < 60:
            time.sleep(0.1)
            status = Path(f"/proc/{proc.pid}/status").read_text()
            samples.append(int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1]))
            io = Path(f"/proc/{proc.pid}/io").read_text()
            read = int(next(line for line in io.splitlines() if line.startswith("rchar")).split()[1])
        assert proc.poll() is None  # still reading (/dev/zero has no end): memory is what matters
    finally:
        proc.kill()
        proc.wait()
    assert read >= 400 << 20, f"read only {read >> 20} MB"
    assert max(samples) < 200 * 1024, f"RSS grew to {max(samples)} KB"


def test_folder_files_over_the_limit_and_names_that_are_not_utf8(tmp_path, sample):
    folder = tmp_path / "requests"
    folder.mkdir()
    (folder / "a.json").write_text(json.dumps(sample[0]))
    (folder / "b.json").write_bytes(b" " * 1_100_000 + b"{}")
    name = os.fsdecode(b"c-\xff\xfe.json")
    (folder / name).write_text(json.dumps(sample[1]))
    out = tmp_path / "out.jsonl"
    assert run_batch(folder, out, workers=1).exit_code == 1
    rows = _rows(out)
    assert [r["file"] for r in rows] == ["a.json", "b.json", "c-\\xff\\xfe.json"]
    assert rows[1]["error"]["reason"].startswith("is too large") and "error" not in rows[2]
    assert run_batch(folder, out, workers=1, resume=True).skipped == 2  # matched by the escaped name


# ---------------------------------------------------------------------------------------------
# OUTPUT holds health information: 0600
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["jsonl", "csv", "nq"])
def test_output_is_created_readable_by_its_owner_only(tmp_path, sample, fmt):
    src = _write(tmp_path / "in.jsonl", sample[:2])
    old = os.umask(0o022)
    try:
        out = tmp_path / f"out.{fmt}"
        run_batch(src, out, Format(fmt), workers=1)
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
        kept = tmp_path / f"kept.{fmt}"
        kept.write_text("")
        kept.chmod(0o640)  # the operator's choice for a file that exists
        run_batch(src, kept, Format(fmt), workers=1)
        assert stat.S_IMODE(kept.stat().st_mode) == 0o640
    finally:
        os.umask(old)
    os.umask(0o077)
    try:
        strict = tmp_path / f"strict.{fmt}"
        run_batch(src, strict, Format(fmt), workers=1)
        assert stat.S_IMODE(strict.stat().st_mode) == 0o600
    finally:
        os.umask(old)
    assert not list(tmp_path.glob(".*.lock"))


def test_csv_rows_are_read_back_with_line_breaks_in_a_cell(tmp_path, sample):
    """An id may hold a line break: the CSV cell is quoted, and resume still finds every row."""
    reqs = [{**r, "id": f"a\nb{i}"} for i, r in enumerate(sample[:6])]
    src = _write(tmp_path / "in.jsonl", reqs)
    out = tmp_path / "out.csv"
    run_batch(src, out, Format.csv, workers=1)
    whole = out.read_bytes()
    out.write_bytes(whole[: len(whole) - 30])
    assert run_batch(src, out, Format.csv, workers=1, resume=True).skipped == 5
    assert out.read_bytes() == whole
    assert [r["id"] for r in csv.DictReader(io.StringIO(out.read_text()))] == [r["id"] for r in reqs]
