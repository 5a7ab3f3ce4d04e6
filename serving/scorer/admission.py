"""max_concurrent_requests_per_instance: slots shared by all workers, a bounded wait, then 429."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

# While requests wait for a slot held by another worker, this worker polls at this period.
_POLL_S = 0.001


class Slots(Protocol):
    def try_acquire(self) -> bool: ...

    def release(self) -> None: ...


class LocalSlots:
    """Slots for a single process (in-process serving and tests)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0

    def try_acquire(self) -> bool:
        if self.used < self.capacity:
            self.used += 1
            return True
        return False

    def release(self) -> None:
        self.used -= 1


class SharedSlots:
    """One counter per worker in shared memory; a worker only writes its own counter.

    A connection belongs to the worker that accepted it, so admitted requests queue on that worker. Capping
    each worker at its share (ceil(capacity / workers)) keeps one busy worker from holding every slot while
    another worker, with requests waiting, sits idle.
    """

    def __init__(self, counts: Any, index: int, lock: Any, capacity: int) -> None:
        self._counts = counts
        self._index = index
        self._lock = lock
        self.capacity = capacity
        self.share = -(-capacity // len(counts))
        # When every worker's share fits (the usual WORKER_COUNT == max concurrency), the instance-wide
        # count can never exceed the capacity: no cross-process check at all.
        self._independent = self.share * len(counts) <= capacity

    def try_acquire(self) -> bool:
        counts = self._counts
        index = self._index
        if counts[index] >= self.share:
            return False
        if self._independent:
            counts[index] += 1
            return True
        # Never block the event loop on another worker (it may be descheduled while holding the lock):
        # a busy lock counts as "no slot yet" and the queue polls again shortly.
        if not self._lock.acquire(False):
            return False
        try:
            if sum(counts) < self.capacity:
                counts[index] += 1
                return True
            return False
        finally:
            self._lock.release()

    def release(self) -> None:
        self._counts[self._index] -= 1


class Job(Protocol):
    deadline: float

    @property
    def abandoned(self) -> bool: ...


class RunQueue:
    """Runs admitted jobs one per loop iteration, serving I/O in between; rejects jobs that waited long."""

    def __init__(
        self,
        slots: Slots,
        max_wait_ms: int,
        execute: Callable[[Any], None],
        reject: Callable[[Any, float], None],
    ) -> None:
        self._slots = slots
        self._max_wait_s = max_wait_ms / 1000
        self._execute = execute
        self._reject = reject
        self._ready: deque[Any] = deque()
        self._waiting: deque[Any] = deque()
        self._scheduled = False
        self._timer: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self._ready) + len(self._waiting)

    def submit(self, job: Any) -> None:
        job.deadline = time.monotonic() + self._max_wait_s
        if not self._waiting and self._slots.try_acquire():
            self._ready.append(job)
        else:
            self._waiting.append(job)
        self._schedule()

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            asyncio.get_running_loop().call_soon(self._step)

    def _step(self) -> None:
        self._scheduled = False
        self._timer = None
        self._admit()
        if self._ready:
            job = self._ready.popleft()
            try:
                if not job.abandoned:
                    self._execute(job)
            finally:
                self._slots.release()
            self._admit()
        if self._ready:
            self._schedule()
        elif self._waiting:
            self._timer = asyncio.get_running_loop().call_later(_POLL_S, self._step)

    def _admit(self) -> None:
        now = time.monotonic()
        waiting = self._waiting
        while waiting:
            job = waiting[0]
            if job.abandoned:
                waiting.popleft()
            elif job.deadline <= now:
                waiting.popleft()
                self._reject(job, (now - job.deadline) * 1000 + self._max_wait_s * 1000)
            elif self._slots.try_acquire():
                waiting.popleft()
                self._ready.append(job)
            else:
                break
