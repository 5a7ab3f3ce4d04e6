"""Follow nginx's request log file across rotations, returning whole lines only."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO


class LogTail:
    """Reads what nginx appended since the last call; picks up the new file after a rotation."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: BinaryIO | None = None
        self._inode: int | None = None
        self._partial = b""

    def _open(self) -> None:
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            return
        self._file, self._inode = handle, os.fstat(handle.fileno()).st_ino

    def read(self) -> str:
        """Whole lines appended since the last call ("" when none)."""
        if self._file is None:
            self._open()
            if self._file is None:
                return ""
        chunks = [self._partial, self._file.read()]
        try:
            rotated = os.stat(self.path).st_ino != self._inode
        except FileNotFoundError:
            rotated = False
        if rotated:
            # nginx flushes its buffers before it reopens, so the old file is complete by now.
            chunks.append(self._file.read())
            self._file.close()
            self._file = None
            self._open()
            if self._file is not None:
                chunks.append(self._file.read())
        data = b"".join(chunks)
        cut = data.rfind(b"\n") + 1
        self._partial = data[cut:]
        return data[:cut].decode("utf-8", "replace")

    def size(self) -> int:
        """Bytes in the file being followed (0 when it does not exist yet)."""
        return os.fstat(self._file.fileno()).st_size if self._file is not None else 0

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
