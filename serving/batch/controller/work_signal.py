"""Long polling for idle workers: their lease requests wait in the controller until work may be there.

Without it an idle worker polls with a growing pause (up to a second), so a new job started on one
worker and reached the others only at their next poll: on a 3 s job, the first 0.8 s ran on one worker
of four. A waiting request is woken by whatever can create pending work (a job submitted, a failed
try going back to pending, an expired lease) and re-checks the store at least every RECHECK_S for
what nobody signals (a job's node limit freeing up, a config change).
"""

from __future__ import annotations

import threading

RECHECK_S = 1.0


class WorkSignal:
    """A generation counter under a condition: `notify()` wakes every waiting lease request."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._generation = 0
        self._closed = False
        self._waiting = 0

    @property
    def generation(self) -> int:
        with self._cond:
            return self._generation

    @property
    def waiting(self) -> int:
        """Lease requests waiting now."""
        with self._cond:
            return self._waiting

    @property
    def closed(self) -> bool:
        with self._cond:
            return self._closed

    def notify(self) -> None:
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    def close(self) -> None:
        """The controller stops: waiting requests return at once (and answer no work)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def wait(self, seen: int, timeout_s: float) -> None:
        """Until something was signalled after generation `seen`, the signal closes, or the timeout."""
        with self._cond:
            self._waiting += 1
            try:
                self._cond.wait_for(lambda: self._generation != seen or self._closed, timeout_s)
            finally:
                self._waiting -= 1
