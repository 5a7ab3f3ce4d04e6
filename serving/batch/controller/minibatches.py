"""Pure scheduling arithmetic: mini-batch split, retries, error threshold."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, TypeVar

_T = TypeVar("_T")


def split(files: Sequence[_T], size: int) -> list[list[_T]]:
    """Consecutive mini-batches of `size` files (or of their sizes) in input order; the last one may be
    smaller."""
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
    asked: int,
    costs: Sequence[float] | None,
    pending_cost: float,
    workers: int,
    target_s: float = BUNDLE_TARGET_S,
) -> int:
    """How many consecutive mini-batches to lease to one worker at once.

    `costs` are the estimated run() seconds of the next pending mini-batches in order (at least the
    first `asked`; None while neither the job nor its deployment's last job has a pace: one at a time),
    `pending_cost` the estimate for all pending ones (pace.CostModel). A bundle fills `target_s`, but
    never more than a worker's share of the pending work (`workers` = instance_count x processes per
    node) unless that share is below BUNDLE_FLOOR_S, so bundles shrink towards a job's end and no
    worker is left with a long one while the others idle. That is guided self-scheduling
    (Polychronopoulos & Kuck, 1987) counted in estimated seconds rather than mini-batches; a half
    share (factoring) made 70 % more round trips on short mini-batches and measured 4 % slower on the
    bench's heart-classifier job (bench/README.md); BUNDLE_TARGET_S bounds what a share can cost.
    """
    if costs is None or asked <= 1:
        return 1
    share = pending_cost / max(1, workers)
    by_time = fair = floor = 0
    total = 0.0
    for count, cost in enumerate(costs[:asked], 1):
        total += max(cost, 1e-6)
        if total <= target_s * (1 + 1e-9):  # 0.5 s of 5 ms mini-batches must be 100, not 99
            by_time = count
        if total <= share * (1 + 1e-9):
            fair = count
        if not floor and total >= BUNDLE_FLOOR_S * (1 - 1e-9):
            floor = count
    if not floor:  # all of them are less work than the floor: the store hands what is pending
        floor = min(asked, len(costs))
    return max(1, min(by_time, max(fair, floor)))
