"""Status polls of a running job reuse its counts for a moment; any other job is counted afresh."""

from __future__ import annotations

from pathlib import Path

from serving.batch.controller.counts_cache import CountsCache
from serving.batch.controller.scheduler import part_path
from serving.batch.controller.store import Store
from serving.batch.protocol import Completion, LeaseRequest
from tests.serving.batch.controller.test_store import _spec, always


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _finish_one(store: Store) -> None:
    (lease,) = store.lease(LeaseRequest(node="n1", deployment="blue", process=0), 1.0, part_path)
    done = Completion(token=lease.token, node="n1", process=0, outcome="succeeded", rows=1)
    assert store.complete(done, 1.0, always) is True


def test_a_running_job_s_counts_are_reused_for_max_age_then_counted_again(tmp_path: Path) -> None:
    store, clock = Store(tmp_path / "jobs.sqlite3"), Clock()
    cache = CountsCache(store, max_age_s=1.0, clock=clock)
    store.create_job(_spec(), [["a"], ["b"], ["c"]], now=0)
    _finish_one(store)  # the job is Running now
    assert cache.counts(store.job("job-1")).minibatches["succeeded"] == 1
    _finish_one(store)
    clock.now += 0.9
    assert cache.counts(store.job("job-1")).minibatches["succeeded"] == 1  # within max age: as before
    clock.now += 0.2
    assert cache.counts(store.job("job-1")).minibatches["succeeded"] == 2


def test_a_job_that_is_no_longer_running_is_always_counted_afresh(tmp_path: Path) -> None:
    store, clock = Store(tmp_path / "jobs.sqlite3"), Clock()
    cache = CountsCache(store, max_age_s=60.0, clock=clock)
    store.create_job(_spec(), [["a"], ["b"]], now=0)
    _finish_one(store)
    assert cache.counts(store.job("job-1")).minibatches["succeeded"] == 1
    _finish_one(store)
    assert store.settle() == ["job-1"]  # nothing left to run: Finalizing
    counts = cache.counts(store.job("job-1"))
    assert store.job("job-1").status == "Finalizing" and counts.minibatches["succeeded"] == 2
