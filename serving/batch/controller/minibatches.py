"""Pure scheduling arithmetic: mini-batch split, retries, error threshold."""

from __future__ import annotations

import math
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


# How long a bundle of mini-batches should keep a worker busy: long enough that the lease and report
# round trips, their SQLite transactions and the disk flush are a small share of it, short enough that
# a worker lost mid-bundle redoes little and progress moves often.
BUNDLE_TARGET_S = 0.5
# A job's first bundles, before its own pace is known, go by the pace of its deployment's last job (the
# same driver, often similar files) but fill only this much: a job whose mini-batches are far slower
# than the last one's hands out at most this estimate's worth per worker before its own pace takes over.
CARRIED_TARGET_S = 0.1
# The least work a bundle carries near a job's end. Each round trip (a report, a lease, two SQLite
# transactions, a disk flush) costs the controller and the node about a millisecond of CPU each on
# 2 busy cores; handing out single 2 ms mini-batches at a job's tail made a third of the heart-classifier
# job's round trips for almost none of its work. The price: the workers' last bundles may end up to
# this much apart.
BUNDLE_FLOOR_S = 0.01


def bundle_size(
    asked: int, pace_s: float | None, pending: int, workers: int, target_s: float = BUNDLE_TARGET_S
) -> int:
    """How many consecutive mini-batches to lease to one worker at once.

    `pace_s` is the job's recent run() time per mini-batch (None when neither it nor its deployment's
    last job has one yet): one at a time until a pace is known, then as many as fill `target_s`, but
    never more than a worker's share of what is pending (`workers` = instance_count x processes per
    node) unless that share is below BUNDLE_FLOOR_S of work, so bundles shrink towards a job's end and
    no worker is left with a long one while the others idle. That is guided self-scheduling
    (Polychronopoulos & Kuck, 1987); a half share (factoring) made 70 % more round trips on short
    mini-batches and measured 4 % slower on the bench's heart-classifier job (bench/README.md);
    BUNDLE_TARGET_S bounds what a share can cost at the end.
    """
    if pace_s is None or asked <= 1:
        return 1
    pace_s = max(pace_s, 1e-6)
    by_time = int(target_s / pace_s + 1e-9)  # 0.5 / 0.05 must be 10, not 9.99
    floor = math.ceil(BUNDLE_FLOOR_S / pace_s - 1e-9)
    fair = max(pending // max(1, workers), floor)
    return max(1, min(asked, by_time, fair))
