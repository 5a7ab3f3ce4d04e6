"""Call the user's run() inline under a SIGALRM deadline: a timeout neither blocks nor poisons the worker."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from serving.scorer.errors import RunFailed, RunTimeout
from serving.scorer.script import describe_exception, format_traceback

log = logging.getLogger("mlendpoints.scorer")

# After the deadline the alarm repeats at this period, so a run() that swallows the first exception
# is interrupted again instead of holding the worker forever.
_REPEAT_S = 0.05


class RunDeadline(BaseException):
    """Raised inside run() by the alarm; a BaseException so user code's `except Exception` lets it pass."""


class RunInvoker:
    """One per worker; `invoke` returns (output, elapsed_ms) or raises RunFailed / RunTimeout."""

    def __init__(
        self,
        run: Callable[..., Any],
        timeout_ms: int,
        app_root: str,
        on_start: Callable[[float], None] | None = None,
        on_end: Callable[[], None] | None = None,
    ) -> None:
        self._run = run
        self._timeout_ms = timeout_ms
        self._app_root = app_root
        self._on_start = on_start
        self._on_end = on_end
        self._armed = False
        self._expired = False
        self._alarm = False

    def install(self) -> bool:
        """Take over SIGALRM; only possible on the main thread (as on Azure ML, timeouts need it)."""
        if threading.current_thread() is not threading.main_thread():
            log.warning("scorer is not on the main thread: request_timeout_ms cannot be enforced")
            return False
        signal.signal(signal.SIGALRM, self._on_alarm)
        self._alarm = True
        return True

    def invoke(self, arguments: dict[str, Any]) -> tuple[Any, float]:
        self._expired = False
        start = time.perf_counter()
        if self._on_start is not None:
            self._on_start(start)
        try:
            try:
                self._arm()
                output = self._run(**arguments)
            finally:
                self._disarm()
                if self._on_end is not None:
                    self._on_end()
        except RunDeadline:
            raise self._timeout(start) from None
        except KeyboardInterrupt:
            raise
        except BaseException as ex:
            if self._expired:
                raise self._timeout(start) from None
            elapsed = (time.perf_counter() - start) * 1000
            log.error("run() raised an exception:\n%s", format_traceback(ex))
            raise RunFailed(
                "An unexpected error occurred in scoring script: "
                f"{describe_exception(ex, self._app_root)}. Check the logs for more info.",
                elapsed,
            ) from None
        if self._expired:
            raise self._timeout(start)
        return output, (time.perf_counter() - start) * 1000

    def _arm(self) -> None:
        self._armed = True
        if self._alarm:
            signal.setitimer(signal.ITIMER_REAL, self._timeout_ms / 1000, _REPEAT_S)

    def _disarm(self) -> None:
        self._armed = False
        if self._alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)

    def _on_alarm(self, signum: int, frame: FrameType | None) -> None:
        if self._armed:
            self._expired = True
            raise RunDeadline()

    def _timeout(self, start: float) -> RunTimeout:
        elapsed = (time.perf_counter() - start) * 1000
        log.error("run() timed out after %.0f ms (request_timeout_ms=%d)", elapsed, self._timeout_ms)
        return RunTimeout(
            f"Scoring timeout after {self._timeout_ms} ms: run() did not return within request_timeout_ms; "
            "the request was abandoned and the worker serves the next one.",
            elapsed,
        )
