"""Pure scheduling arithmetic: split, retries, error threshold, bundle sizes."""

from __future__ import annotations

import pytest

from serving.batch.controller.minibatches import (
    CARRIED_TARGET_S,
    after_failure,
    bundle_size,
    split,
    threshold_exceeded,
)


def test_split_keeps_order_and_makes_a_smaller_last_batch() -> None:
    files = [f"f{i}" for i in range(23)]
    batches = split(files, 10)
    assert [len(b) for b in batches] == [10, 10, 3]
    assert [f for b in batches for f in b] == files


@pytest.mark.parametrize(
    ("count", "size", "expected"), [(0, 5, 0), (1, 5, 1), (5, 5, 1), (6, 5, 2), (7, 1, 7)]
)
def test_split_counts(count: int, size: int, expected: int) -> None:
    assert len(split([str(i) for i in range(count)], size)) == expected


def test_split_refuses_a_zero_size() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        split(["a"], 0)


@pytest.mark.parametrize(
    ("failures", "max_retries", "state"),
    [(1, 0, "failed"), (1, 1, "pending"), (2, 1, "failed"), (3, 3, "pending"), (4, 3, "failed")],
)
def test_a_mini_batch_runs_at_most_one_plus_max_retries_times(
    failures: int, max_retries: int, state: str
) -> None:
    assert after_failure(failures, max_retries) == state


@pytest.mark.parametrize(
    ("failed", "threshold", "exceeded"),
    [(0, 0, False), (1, 0, True), (5, 5, False), (6, 5, True), (10**6, -1, False), (0, -1, False)],
)
def test_error_threshold_counts_failed_files_over_the_job(
    failed: int, threshold: int, exceeded: bool
) -> None:
    assert threshold_exceeded(failed, threshold) is exceeded


def _uniform(asked: int, pace_s: float | None, pending: int, workers: int, **kwargs: float) -> int:
    """bundle_size for `pending` mini-batches that all cost `pace_s`."""
    costs = None if pace_s is None else [pace_s] * min(pending, max(asked, 1))
    return bundle_size(asked, costs, (pace_s or 0.0) * pending, workers, **kwargs)


@pytest.mark.parametrize(
    ("asked", "pace_s", "pending", "workers", "expected"),
    [
        (64, None, 500, 4, 1),  # pace unknown: one at a time
        (1, 0.001, 500, 4, 1),  # the node turned bundles off
        (128, 0.0025, 500, 4, 125),  # by time 200, a share of 500 over 4 workers: 125
        (64, 0.0025, 5000, 4, 64),  # the node's limit
        (64, 0.072, 100, 2, 6),  # 0.5 s of 72 ms mini-batches
        (64, 0.072, 7, 2, 3),  # the job's end: a share of 7 over 2 workers is 3
        (64, 0.072, 3, 4, 1),  # fewer pending than workers: one each
        (64, 3.0, 500, 1, 1),  # mini-batches longer than the target: one at a time
        (128, 0.002, 7, 4, 5),  # the job's end: a share of 1, but a bundle carries 10 ms of work
        (128, 0.0035, 3, 4, 3),  # 10 ms of 3.5 ms mini-batches is 3 (the store hands what is pending)
        (2, 0.002, 7, 4, 2),  # ... and never more than the node asked for
    ],
)
def test_bundle_size(asked: int, pace_s: float | None, pending: int, workers: int, expected: int) -> None:
    assert _uniform(asked, pace_s, pending, workers) == expected


def test_a_bundle_fills_the_target_it_is_given() -> None:
    # A job's first bundles go by its deployment's last pace with a smaller target (CARRIED_TARGET_S).
    assert _uniform(128, 0.004, 500, 4, target_s=CARRIED_TARGET_S) == 25
    assert _uniform(128, 0.004, 500, 4) == 125


def test_a_share_is_counted_in_work_not_in_mini_batches() -> None:
    # The heart-classifier job's end: 9 mini-batches of 11 ms, then 25 of 0.3 ms. Counted, a share of
    # 34 over 4 workers is 8, all of them expensive (88 ms, while the whole rest is 107 ms of work);
    # in work the share is 27 ms: two of them.
    costs = [0.011] * 9 + [0.0003] * 25
    assert bundle_size(128, costs, sum(costs), 4) == 2
    # A run of cheap ones goes together up to the floor of 10 ms of work, not one per round trip.
    cheap = [0.0003] * 25
    assert bundle_size(128, cheap, sum(cheap), 4) == 25
    assert bundle_size(128, [0.0003] * 40, 0.0003 * 40, 4) == 34  # 34 x 0.3 ms reaches 10 ms
