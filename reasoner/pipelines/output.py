"""OUTPUT of a batch: refused when it is INPUT, locked for the run, created 0600, read back on resume.

- **Not INPUT**: the same file (also through a symbolic or hard link, or as standard input), or a
  `.json` file inside an INPUT folder, is refused before anything is written.
- **One run at a time**: a lock file beside OUTPUT (`.<name>.lock`, `flock`) is held for the run;
  a second run on the same OUTPUT is refused at once, with the process id of the first.
- **Private**: OUTPUT holds health information; a new file is created with mode 0600 (a stricter
  umask is honoured), a replaced one keeps the mode it had.
- **Write errors** (a full disk, an I/O error) end the run with one line naming OUTPUT and the cause;
  the rows written so far stay, and a torn last row is cut by the next `--resume`.
- **Resume** reads OUTPUT back as rows, each with the position of its record in INPUT (`line` or
  `file`), whether it is an error row, and its bytes (to be copied when error rows are retried).
  Reading is streamed: memory does not grow with OUTPUT.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import json
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple

from reasoner.pipelines.records import STDIN
from reasoner.pipelines.rows import CSV_COLUMNS, FHIR_SOURCE, NQ_MARK, Format, csv_line

__all__ = ["OldRow", "OutputFile", "OutputRefused", "OutputWriteError", "Scan", "refuse_input"]

MAX_ROW_LINE = 64 << 20  # no line of a row this batch writes comes near it
_MARK = NQ_MARK.encode()
_HEADER = csv_line({c: c for c in CSV_COLUMNS}).encode()


class OutputRefused(Exception):
    """OUTPUT cannot be used for this run (it is INPUT, another run holds it, it does not come from INPUT)."""


class OutputWriteError(Exception):
    """Writing OUTPUT failed (a full disk, an I/O error, no permission)."""


def _cause(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def write_error(path: Path, exc: OSError) -> OutputWriteError:
    hint = "free some space" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "fix the cause"
    return OutputWriteError(f"cannot write {path}: {_cause(exc)} (the rows written are kept; "
                            f"{hint} and run again with --resume)")


# ---------------------------------------------------------------------------------------------
# Not INPUT
# ---------------------------------------------------------------------------------------------

def refuse_input(source: str | Path, output: Path, stdin: BinaryIO | None = None) -> None:
    """Raise OutputRefused when writing OUTPUT would overwrite (or feed back into) INPUT."""
    if str(source) == STDIN:
        try:
            fd = (stdin if stdin is not None else sys.stdin.buffer).fileno()
            same = _same(os.fstat(fd), output)
        except (OSError, ValueError, AttributeError):  # no file behind standard input
            same = False
        if same:
            raise OutputRefused(f"{output} is the input (standard input reads it): choose another OUTPUT")
        return
    path = Path(source)
    if path.is_dir():
        parent = output.absolute().parent
        if output.suffix == ".json" and parent.exists() and os.path.samefile(parent, path):
            raise OutputRefused(f"{output} is inside the input folder and would be read as a request: "
                                "choose another OUTPUT")
        return
    try:
        if _same(os.stat(path), output):
            raise OutputRefused(f"{output} is the input file {path} (the same file, perhaps through a link): "
                                "choose another OUTPUT")
    except OSError:
        return


def _same(info: os.stat_result, output: Path) -> bool:
    try:
        other = os.stat(output)
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and (info.st_dev, info.st_ino) == (other.st_dev, other.st_ino)


# ---------------------------------------------------------------------------------------------
# The file
# ---------------------------------------------------------------------------------------------

class Scan(NamedTuple):
    """What OUTPUT holds (after its torn tail): rows, error rows among them, where whole rows end."""

    rows: int
    errors: int
    end: int
    header: bool


class OldRow(NamedTuple):
    position: tuple[str, int | str] | None  # None: a row of an earlier release that did not say
    error: bool
    raw: bytes


class OutputFile:
    """OUTPUT for one run: lock it, prepare it (replace, or cut its torn tail), write rows to it."""

    def __init__(self, path: str | Path, fmt: Format) -> None:
        self.path = Path(path)
        self.fmt = Format(fmt)
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            info = None
        except OSError as exc:
            raise OutputWriteError(f"cannot write {self.path}: {_cause(exc)}") from None
        if info is not None and stat.S_ISDIR(info.st_mode):
            raise OutputWriteError(f"cannot write {self.path}: it is a folder")
        # /dev/null, /dev/full, a FIFO: written as a stream, never locked, replaced or read back
        self.regular = info is None or stat.S_ISREG(info.st_mode)
        self.lock_path = self.path.with_name(f".{self.path.name}.lock")
        self.temp_path = self.path.with_name(f".{self.path.name}.resume")

    # -- lock --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold OUTPUT's lock for the run; OutputRefused at once when another run holds it."""
        if not self.regular:
            yield
            return
        fd = self._acquire()
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.unlink(self.lock_path)  # still ours: unlinked before it is released
            os.close(fd)

    def _acquire(self) -> int:
        import fcntl

        for _ in range(20):  # the file may be unlinked between our open and our lock: open again
            try:
                fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                raise OutputWriteError(f"cannot write {self.path}: cannot create its lock file "
                                       f"{self.lock_path.name}: {_cause(exc)}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.read(fd, 32).decode("ascii", "replace").strip()
                os.close(fd)
                who = f" (process {holder})" if holder.isdigit() else ""
                raise OutputRefused(f"{self.path} is being written by another batch{who}: wait for it to end, "
                                    "or choose another OUTPUT") from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.lock_path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                return fd
            os.close(fd)
        raise OutputRefused(f"{self.path}: its lock file keeps changing; is another batch starting?")

    # -- opening -----------------------------------------------------------------------------

    def open_append(self, truncate: bool = False) -> int:
        """OUTPUT opened for appending (created 0600; emptied first when `truncate`)."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        if truncate and self.regular:
            flags |= os.O_TRUNC
        try:
            return os.open(self.path, flags, 0o600)
        except OSError as exc:
            raise OutputWriteError(f"cannot write {self.path}: {_cause(exc)}") from None

    def open_temp(self) -> int:
        """The file that replaces OUTPUT once its error rows are retried (0600, or OUTPUT's own mode)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.temp_path)  # left by a run that was killed: OUTPUT itself is whole
        try:
            fd = os.open(self.temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.fchmod(fd, stat.S_IMODE(os.stat(self.path).st_mode))
        except OSError as exc:
            raise OutputWriteError(f"cannot write {self.temp_path}: {_cause(exc)}") from None
        return fd

    def replace_with_temp(self, fd: int) -> None:
        try:
            os.fsync(fd)
            os.close(fd)
            os.replace(self.temp_path, self.path)
        except OSError as exc:
            raise OutputWriteError(f"cannot write {self.path}: {_cause(exc)}") from None

    def discard_temp(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.temp_path)

    # -- reading back ------------------------------------------------------------------------

    def scan(self) -> Scan:
        """Count OUTPUT's whole rows and error rows, and cut a torn last row (resume)."""
        if not self.regular:
            raise OutputRefused(f"{self.path} is not a regular file: it cannot be resumed")
        if not self.path.exists():
            return Scan(0, 0, 0, False)
        rows = errors = end = 0
        header = False
        try:
            with self.path.open("rb") as f:
                for row, row_end in _rows(f, self.fmt):
                    if row is None:
                        header = True
                    else:
                        rows += 1
                        errors += row.error
                    end = row_end
            if end < self.path.stat().st_size:
                os.truncate(self.path, end)
        except OSError as exc:
            raise OutputWriteError(f"cannot resume {self.path}: {_cause(exc)}") from None
        return Scan(rows, errors, end, header)

    def old_rows(self) -> Iterator[OldRow]:
        """OUTPUT's rows in order (after `scan`), the CSV header left out."""
        if not self.path.exists():
            return
        with self.path.open("rb") as f:
            for row, _end in _rows(f, self.fmt):
                if row is not None:
                    yield row


def _lines(f: BinaryIO) -> Iterator[bytes]:
    number = 0
    while line := f.readline(MAX_ROW_LINE + 1):
        number += 1
        if len(line) > MAX_ROW_LINE:
            raise OutputRefused(f"line {number} of OUTPUT is longer than any row a batch writes: "
                                "it is not a batch output; run without --resume to replace it")
        yield line


def _rows(f: BinaryIO, fmt: Format) -> Iterator[tuple[OldRow | None, int]]:
    """(row, offset where it ends) for every whole row; stops at a torn tail (the last row, cut by a crash).

    The CSV header is yielded as (None, end). A row that does not parse anywhere but at the end means
    OUTPUT is not a batch output of this format: OutputRefused."""
    offset = 0
    pending: list[bytes] = []  # lines of a row not yet closed (N-Quads, a quoted CSV cell)
    first = True
    size = 0
    for line in _lines(f):
        whole = line.endswith(b"\n")
        pending.append(line)
        size += len(line)
        if size > MAX_ROW_LINE:
            raise OutputRefused(f"OUTPUT holds a row longer than any a batch writes (after byte {offset}): "
                                "it is not a batch output; run without --resume to replace it")
        if not whole:
            break  # a torn last line: nothing can follow it
        raw = b"".join(pending) if len(pending) > 1 else line
        if fmt is Format.csv and first and raw == _HEADER:
            first = False
            pending, size = [], 0
            offset += len(raw)
            yield None, offset
            continue
        first = False
        row = _parse(raw, line, fmt)
        if row is _OPEN:
            continue
        if row is None:
            if f.read(1):  # not the last line: not ours
                raise OutputRefused(f"OUTPUT holds something that is not a {fmt.value} batch row (after byte "
                                    f"{offset}): run without --resume to replace it")
            break
        pending, size = [], 0
        offset += len(raw)
        yield row, offset


_OPEN = OldRow(None, False, b"")  # a row that goes on on the next line


def _parse(raw: bytes, line: bytes, fmt: Format) -> OldRow | None:
    if fmt in (Format.jsonl, Format.fhir):
        return _from_json(raw, raw)
    if fmt is Format.nq:
        if not line.startswith(_MARK):
            return _OPEN
        return _from_json(line[len(_MARK):], raw)
    if raw.count(b'"') % 2:  # a quoted cell with a line break in it goes on
        return _OPEN
    try:
        cells = next(csv.reader([raw.decode("utf-8")]))
    except (UnicodeDecodeError, csv.Error, StopIteration):
        return None
    if len(cells) != len(CSV_COLUMNS):
        return None
    row = dict(zip(CSV_COLUMNS, cells))
    where, _, at = row["source"].partition(" ")
    position: tuple[str, int | str] | None = None
    if where == "line" and at.isdigit():
        position = ("line", int(at))
    elif where == "file" and at:
        position = ("file", at)
    return OldRow(position, row["decision"] == "error", raw)


def _from_json(text: bytes, raw: bytes) -> OldRow | None:
    try:
        obj = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(obj, dict):
        return None
    if "resourceType" in obj:  # a FHIR row: a response Bundle, or an OperationOutcome for an error
        source = (obj.get("meta") or {}).get("source")
        if not (isinstance(source, str) and source.startswith(FHIR_SOURCE)):
            return OldRow(None, obj["resourceType"] == "OperationOutcome", raw)
        where, _, at = source[len(FHIR_SOURCE):].partition(":")
        return OldRow((where, int(at) if where == "line" and at.isdigit() else at),
                      obj["resourceType"] == "OperationOutcome", raw)
    position: tuple[str, int | str] | None = None
    if isinstance(obj.get("line"), int):
        position = ("line", obj["line"])
    elif isinstance(obj.get("file"), str):
        position = ("file", obj["file"])
    return OldRow(position, "error" in obj, raw)
