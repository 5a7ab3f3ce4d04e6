"""append_row's merge: accepted part files, in mini-batch order, into the output file, exactly once."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from serving.batch.controller.errors import MergeError

_CHUNK = 1 << 20


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be opened
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def merge_parts(parts: Sequence[tuple[int, str]], target: Path) -> int:
    """Concatenate `(mini-batch, part file)` in the given order into `target`; returns bytes written.

    The result is written to a temporary file and renamed over `target`, so a merge that is killed
    leaves either no output or the complete one, and running it again gives the same file: the merge
    is idempotent as long as the parts are kept until it is recorded as done. A part that does not
    end with a newline gets one, so rows of two mini-batches never run together.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.merging")
    written = 0
    with open(temporary, "wb") as out:
        for index, part in parts:
            try:
                source = open(part, "rb")  # noqa: SIM115  (closed right below)
            except OSError as exc:
                raise MergeError(
                    f"the accepted rows of mini-batch {index} ({part}) cannot be read: {exc.strerror}"
                ) from None
            with source:
                last = b""
                while chunk := source.read(_CHUNK):
                    out.write(chunk)
                    written += len(chunk)
                    last = chunk[-1:]
                if last not in (b"", b"\n"):
                    out.write(b"\n")
                    written += 1
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, target)
    _fsync_dir(target.parent)
    return written


def remove_parts(folder: Path) -> None:
    """Delete a job's part files (after its merge is recorded, or when it is canceled)."""
    shutil.rmtree(folder, ignore_errors=True)
