"""A bounded load on an endpoint from a background thread, recording when requests failed."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from tests.integration.scoring import post_score


@dataclass
class Load:
    """POSTs one request after another until stopped (or `max_requests`); keeps (time, ok) of each."""

    uri: str
    key: str
    deployment: str | None = None
    max_requests: int = 50_000
    results: list[tuple[float, bool]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Load:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=60)

    def _run(self) -> None:
        while not self._stop.is_set() and len(self.results) < self.max_requests:
            try:
                status, _ = post_score(self.uri, self.key, self.deployment)
                ok = status == 200
            except (OSError, ValueError):
                ok = False
            self.results.append((time.monotonic(), ok))

    def recovery_after(self, moment: float, deadline_s: float = 60.0, settle: int = 20) -> tuple[float, int]:
        """(seconds from `moment` until serving again, requests failed meanwhile).

        Serving again: `settle` successes in a row with no failure after them, looked at no earlier
        than three seconds after `moment` (so failures that come a little late are counted too).
        AssertionError when that does not happen within `deadline_s`.
        """
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            after = [(at, ok) for at, ok in list(self.results) if at > moment]
            last_failure = max((i for i, (_, ok) in enumerate(after) if not ok), default=-1)
            tail = after[last_failure + 1 :]
            if time.monotonic() > moment + 3 and len(tail) >= settle:
                back = tail[0][0] - moment if last_failure >= 0 else 0.0
                return back, sum(1 for _, ok in after if not ok)
            time.sleep(0.05)
        raise AssertionError(f"not serving again within {deadline_s:.0f} s")
