"""State the supervisor shares with its forked workers: slot counters, run start times, readiness."""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass
from multiprocessing.sharedctypes import RawArray
from typing import Any

from serving.scorer.admission import SharedSlots

STARTING, READY, FAILED = 0, 1, 2


@dataclass(frozen=True)
class SharedState:
    worker_count: int
    capacity: int
    slot_counts: Any  # RawArray('i'): slots each worker holds
    run_started: Any  # RawArray('d'): monotonic start of the run() in progress, 0 when idle
    states: Any  # RawArray('b'): STARTING / READY / FAILED per worker
    lock: Any

    @classmethod
    def create(cls, worker_count: int, capacity: int) -> SharedState:
        return cls(
            worker_count=worker_count,
            capacity=capacity,
            slot_counts=RawArray("i", worker_count),
            run_started=RawArray("d", worker_count),
            states=RawArray("b", worker_count),
            lock=multiprocessing.get_context("fork").Lock(),
        )

    def slots(self, index: int) -> SharedSlots:
        return SharedSlots(self.slot_counts, index, self.lock, self.capacity)

    def reset(self, index: int) -> None:
        """Forget what a dead worker held, before its replacement starts."""
        self.slot_counts[index] = 0
        self.run_started[index] = 0.0
        self.states[index] = STARTING

    def all_starting(self) -> bool:
        return all(state == STARTING for state in self.states)
