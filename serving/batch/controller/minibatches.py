"""Pure scheduling arithmetic: mini-batch split, retries, error threshold."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal


def split(files: Sequence[str], size: int) -> list[list[str]]:
    """Consecutive mini-batches of `size` files in input order; the last one may be smaller."""
    if size < 1:
        raise ValueError(f"mini-batch size must be at least 1, got {size}")
    return [list(files[start : start + size]) for start in range(0, len(files), size)]


def after_failure(failures: int, max_retries: int) -> Literal["pending", "failed"]:
    """A mini-batch that failed `failures` times: tried again while retries remain, else failed.

    `max_retries` counts retries after the first try, so a mini-batch runs at most 1 + max_retries times.
    """
    return "pending" if failures <= max_retries else "failed"


def threshold_exceeded(failed_files: int, error_threshold: int) -> bool:
    """Azure's error_threshold: the job fails once more files than this failed; -1 tolerates all."""
    return error_threshold != -1 and failed_files > error_threshold
