"""What the node's threads share: stop flag and deadline, tokens in progress, process numbers."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable


class Waker:
    """A pipe another thread writes to so a thread blocked in wait()/select() wakes up at once."""

    def __init__(self) -> None:
        self.fd, self.write_fd = os.pipe()
        os.set_blocking(self.fd, False)
        os.set_blocking(self.write_fd, False)

    def poke(self) -> None:
        with contextlib.suppress(BlockingIOError):  # a poke already pending is enough
            os.write(self.write_fd, b"x")

    def drain(self) -> None:
        try:
            while os.read(self.fd, 512):
                pass
        except BlockingIOError:
            pass

    def close(self) -> None:
        for fd in (self.fd, self.write_fd):
            with contextlib.suppress(OSError):
                os.close(fd)


class NodeState:
    """Thread-safe; every method is short and never blocks on I/O."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self._stop_deadline: float | None = None
        self._next_process = 0
        # token -> callback that asks the owning slot to abandon it
        self._in_progress: dict[str, Callable[[str], None]] = {}
        self._busy = 0
        self._last_work = time.monotonic()
        self._wakers: list[Waker] = []

    # ---------------------------------------------------------------- stopping

    def stop(self, grace_s: float) -> None:
        with self._lock:
            if self._stop_deadline is None:
                self._stop_deadline = time.monotonic() + grace_s
            wakers = list(self._wakers)
        self.stopping.set()
        for waker in wakers:
            waker.poke()

    def past_stop_deadline(self) -> bool:
        deadline = self._stop_deadline
        return deadline is not None and time.monotonic() >= deadline

    def seconds_to_stop_deadline(self) -> float | None:
        deadline = self._stop_deadline
        return None if deadline is None else max(0.0, deadline - time.monotonic())

    def add_waker(self, waker: Waker) -> None:
        with self._lock:
            self._wakers.append(waker)

    # ---------------------------------------------------------------- workers and tokens

    def next_process_number(self) -> int:
        """processNNN numbers: every new worker process on this node gets the next one."""
        with self._lock:
            number = self._next_process
            self._next_process += 1
            return number

    def track(self, token: str, abandon: Callable[[str], None]) -> None:
        """Idempotent: a lease a slot keeps for its next worker is tracked once."""
        with self._lock:
            if token not in self._in_progress:
                self._busy += 1
            self._in_progress[token] = abandon
            self._last_work = time.monotonic()

    def untrack(self, token: str) -> None:
        with self._lock:
            if self._in_progress.pop(token, None) is not None:
                self._busy -= 1
            self._last_work = time.monotonic()

    def tokens(self) -> list[str]:
        with self._lock:
            return sorted(self._in_progress)

    def abandon(self, token: str) -> bool:
        with self._lock:
            abandon = self._in_progress.get(token)
        if abandon is None:
            return False
        abandon(token)
        return True

    def idle_for(self) -> float:
        """Seconds since the last lease ended, 0 while any is in progress."""
        with self._lock:
            return 0.0 if self._busy else time.monotonic() - self._last_work
