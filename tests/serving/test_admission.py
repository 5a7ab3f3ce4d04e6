"""max_concurrent_requests_per_instance and max_queue_wait_ms: excess waits, then 429."""

from __future__ import annotations

import threading
from collections import Counter

from tests.serving.harness import Client, in_process


def _concurrent(client: Client, count: int, body: dict) -> list:
    """`count` requests sent at once on already-open keep-alive connections (as a router sends them)."""
    answers: list = [None] * count
    barrier = threading.Barrier(count)

    def one(index: int) -> None:
        own = Client(client.port)
        own.get("/")
        barrier.wait()
        answers[index] = own.post("/score", json_body=body)
        own.close()

    threads = [threading.Thread(target=one, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_overload_answers_429_after_the_queue_wait() -> None:
    answers = in_process(
        "slow",
        lambda c: _concurrent(c, 4, {"sleep": 0.3}),
        max_concurrent_requests_per_instance=1,
        max_queue_wait_ms=100,
    )
    statuses = Counter(answer.status for answer in answers)
    assert statuses[200] >= 1 and statuses[429] >= 1
    assert set(statuses) <= {200, 429}
    rejected = next(answer for answer in answers if answer.status == 429)
    assert "max_concurrent_requests_per_instance" in rejected.message
    assert "max_queue_wait_ms=100" in rejected.message


def test_requests_within_the_queue_wait_are_all_served() -> None:
    answers = in_process(
        "slow",
        lambda c: _concurrent(c, 4, {"sleep": 0.01}),
        max_concurrent_requests_per_instance=1,
        max_queue_wait_ms=5000,
    )
    assert [answer.status for answer in answers] == [200] * 4


def _shared(workers: int, capacity: int) -> tuple[list, object]:
    import multiprocessing
    from multiprocessing.sharedctypes import RawArray

    from serving.scorer.admission import SharedSlots

    counts, lock = RawArray("i", workers), multiprocessing.get_context("fork").Lock()
    return [SharedSlots(counts, index, lock, capacity) for index in range(workers)], lock


def test_shared_slots_give_each_worker_its_share() -> None:
    (first, second), _ = _shared(2, 2)
    assert first.try_acquire() and not first.try_acquire()  # one busy worker cannot take both slots
    assert second.try_acquire() and not second.try_acquire()
    first.release()
    assert first.try_acquire()


def test_shared_slots_cap_the_instance_below_the_worker_count() -> None:
    (first, second, third), lock = _shared(3, 2)
    assert first.try_acquire() and second.try_acquire()
    assert not third.try_acquire()
    second.release()
    assert lock.acquire(False)  # another worker in the middle of its check: no slot now, no blocking
    assert not third.try_acquire()
    lock.release()
    assert third.try_acquire()


def test_shared_slots_with_more_capacity_than_workers() -> None:
    (only,), _ = _shared(1, 3)
    assert [only.try_acquire() for _ in range(4)] == [True, True, True, False]
