"""append_row's merge: accepted rows (part files or ranges of them), in mini-batch order, into the output
file, exactly once."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from serving.batch.controller.errors import MergeError
from serving.batch.controller.store_rows import AcceptedPart

_CHUNK = 1 << 20


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be opened
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def merge_parts(parts: Sequence[AcceptedPart], target: Path) -> int:
    """Concatenate the accepted rows, in the given (mini-batch) order, into `target`; returns bytes written.

    The result is written to a temporary file and renamed over `target`, so a merge that is killed
    leaves either no output or the complete one, and running it again gives the same file: the merge
    is idempotent as long as the parts are kept until it is recorded as done. Rows that do not end
    with a newline get one, so rows of two mini-batches never run together. A bundle's mini-batches
    are consecutive ranges of one file, so each file is opened once.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.merging")
    written = 0
    with open(temporary, "wb") as out, _Sources() as sources:
        for part in parts:
            try:
                source = sources.open(part.path)
                source.seek(part.offset)
                last = b""
                left = part.length
                while left is None or left > 0:
                    chunk = source.read(_CHUNK if left is None else min(_CHUNK, left))
                    if not chunk:
                        break
                    out.write(chunk)
                    written += len(chunk)
                    last = chunk[-1:]
                    if left is not None:
                        left -= len(chunk)
            except OSError as exc:
                raise MergeError(
                    f"the accepted rows of mini-batch {part.minibatch} ({part.path}) cannot be read: "
                    f"{exc.strerror}"
                ) from None
            if left:
                raise MergeError(
                    f"the accepted rows of mini-batch {part.minibatch} ({part.path}, bytes {part.offset}+"
                    f"{part.length}) are cut short: the file ends first"
                )
            if last not in (b"", b"\n"):
                out.write(b"\n")
                written += 1
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, target)
    _fsync_dir(target.parent)
    return written


class _Sources:
    """The part file being read, kept open while consecutive parts come from it."""

    def __init__(self) -> None:
        self._path: str | None = None
        self._file: BinaryIO | None = None

    def open(self, path: str) -> BinaryIO:
        if self._file is None or self._path != path:
            self.close()
            self._file = open(path, "rb")  # noqa: SIM115  (closed by close())
            self._path = path
        return self._file

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> _Sources:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def remove_parts(folder: Path) -> None:
    """Delete a job's part files (after its merge is recorded, or when it is canceled)."""
    shutil.rmtree(folder, ignore_errors=True)
