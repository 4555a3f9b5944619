"""The records of a batch: JSON Lines (a file or standard input) or a folder of `.json` files, read lazily.

No record is held whole beyond the contract's size limit (`reasoner.flow.check.MAX_REQUEST_BYTES`): a
longer line is read past in pieces and becomes a record that carries its problem instead of its
bytes, so `/dev/zero` or a 300 MB line costs no more memory than a valid request.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple

from reasoner.flow.check import MAX_REQUEST_BYTES, TOO_LARGE

__all__ = ["STDIN", "BatchInputError", "Record", "display_name", "read_records"]

STDIN = "-"
SKIP_PIECE = 1 << 16  # bytes read at a time past the end of an overlong line


class BatchInputError(OSError):
    """The input as a whole cannot be read (missing, not a file or folder, no permission)."""


class Record(NamedTuple):
    """One request as read: where it came from (`line` number or `file` name) and its raw bytes.

    `problem` is why it could not be read (too long, an unreadable file): the record becomes an error
    row with that reason. A tuple, so that sending it to a worker process costs little.
    """

    where: str  # "line" or "file"
    at: int | str
    data: bytes
    problem: str = ""

    @property
    def source(self) -> dict[str, int | str]:
        return {self.where: self.at}

    @property
    def position(self) -> tuple[str, int | str]:
        """What a row of OUTPUT records of its record, and resume matches (never the caller's id)."""
        return (self.where, self.at)


def display_name(name: str) -> str:
    """A file name as rows show it: bytes that are not UTF-8 (os.fsdecode's surrogates) escaped."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def read_records(source: str | Path, stdin: BinaryIO | None = None) -> Iterator[Record]:
    """The records of a JSON Lines file, a folder of .json files, or `-` (standard input), lazily.

    Raises BatchInputError at once when the input cannot be read at all.
    """
    if str(source) == STDIN:
        stream = stdin if stdin is not None else sys.stdin.buffer
        return _lines(stream, close=False)
    path = Path(source)
    if path.is_dir():
        try:
            files = sorted(p for p in path.iterdir() if p.suffix == ".json" and p.is_file())
        except OSError as exc:
            raise BatchInputError(f"cannot read the folder {path}: {exc.strerror or exc}") from None
        return _files(files)
    try:
        stream = path.open("rb")
    except OSError as exc:
        raise BatchInputError(f"cannot read {path}: {exc.strerror or exc}") from None
    return _lines(stream, close=True)


def _lines(stream: BinaryIO, close: bool) -> Iterator[Record]:
    """Non-blank lines, numbered from 1 as a text editor does; the newline is not part of a record."""
    number = 0
    try:
        while True:
            line = _read(stream, number)
            if not line:
                return
            number += 1
            if line.endswith(b"\n"):
                line = line[:-1]
            elif len(line) > MAX_REQUEST_BYTES:  # no newline within the limit: read past the rest
                _skip_line(stream, number)
                yield Record("line", number, b"", TOO_LARGE)
                continue
            if line.strip():
                yield Record("line", number, line)
    finally:
        if close:
            stream.close()


def _read(stream: BinaryIO, number: int, size: int = MAX_REQUEST_BYTES + 1) -> bytes:
    try:
        return stream.readline(size)
    except OSError as exc:
        raise BatchInputError(f"cannot read the input after line {number}: {exc.strerror or exc}") from None


def _skip_line(stream: BinaryIO, number: int) -> None:
    while True:
        piece = _read(stream, number, SKIP_PIECE)
        if not piece or piece.endswith(b"\n"):
            return


def _files(files: list[Path]) -> Iterator[Record]:
    for path in files:
        name = display_name(path.name)
        try:
            with path.open("rb") as f:
                data = f.read(MAX_REQUEST_BYTES + 1)
        except OSError as exc:  # one unreadable file is one error row, not a failed batch
            yield Record("file", name, b"", f"cannot read the file: {exc.strerror or type(exc).__name__}")
            continue
        if len(data) > MAX_REQUEST_BYTES:
            yield Record("file", name, b"", TOO_LARGE)
        else:
            yield Record("file", name, data)
