"""The scorer's log flusher: prompt while requests come and go, nearly asleep without them."""

from __future__ import annotations

import asyncio
import time

from serving.scorer.server import _housekeeping


def _flushes_at_rest_and_after_activity(idle_s: float) -> tuple[int, float]:
    """(flushes in 0.5 s at rest, seconds from a request coming in to the next flush)."""

    async def main() -> tuple[int, float]:
        flushed: list[float] = []
        activity = asyncio.Event()
        task = asyncio.ensure_future(
            _housekeeping(set(), 60.0, activity, lambda: flushed.append(time.monotonic()), 0.01, idle_s)
        )
        try:
            await asyncio.sleep(0.5)
            at_rest = len(flushed)
            came = time.monotonic()
            activity.set()  # what a connection does as a request comes in
            while not [t for t in flushed if t > came]:
                await asyncio.sleep(0.005)
            return at_rest, min(t for t in flushed if t > came) - came
        finally:
            task.cancel()

    return asyncio.run(main())


def test_with_no_request_the_flusher_wakes_once_per_idle_period_only() -> None:
    # A 0.01 s flush period would have woken ~50 times in 0.5 s (what it did before, at 0.1 s).
    at_rest, _ = _flushes_at_rest_and_after_activity(idle_s=30.0)
    assert at_rest == 0


def test_a_request_wakes_the_flusher_at_once() -> None:
    _, after = _flushes_at_rest_and_after_activity(idle_s=30.0)
    assert after < 30.0  # woken by the request, not by the idle period


def test_at_rest_what_a_background_thread_printed_still_goes_out_each_idle_period() -> None:
    at_rest, _ = _flushes_at_rest_and_after_activity(idle_s=0.1)
    assert at_rest >= 2
