"""The healing loop: wake on engine events or every sweep interval, heal what is down."""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time

from serving.agent.engine import Engine
from serving.agent.healing import BackoffPolicy, HealHistory, next_due, plan
from serving.agent.settings import AgentSettings

log = logging.getLogger("serving.agent")


class Keeper:
    """Keeps one endpoint's router and scorer instances running."""

    def __init__(self, settings: AgentSettings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        policy = BackoffPolicy(settings.backoff_first_s, settings.backoff_max_s, settings.backoff_reset_s)
        self.history = HealHistory(policy)
        self.stop = threading.Event()
        self.wake: queue.Queue[str] = queue.Queue()
        self.next_due: float | None = None  # monotonic time a heal in back-off becomes due

    def sweep(self) -> int:
        """One pass over the endpoint's containers; the number of containers healed."""
        now = time.monotonic()
        healed = 0
        containers = self.engine.containers()
        for action in plan(containers, self.history, now):
            self.history.record(action.container.name, now)
            if self.engine.apply(action):
                healed += 1
                log.warning("%sed %s (%s)", action.verb, action.container.name, action.reason)
        self.next_due = next_due(containers, self.history, now)
        return healed

    def wait_s(self, now: float) -> float:
        """Until the next sweep: the sweep interval, or sooner when a heal's back-off ends."""
        if self.next_due is None:
            return self.settings.sweep_interval_s
        return max(0.0, min(self.settings.sweep_interval_s, self.next_due - now))

    def run(self) -> None:
        watcher = threading.Thread(target=self.engine.watch, args=(self.wake, self.stop), daemon=True)
        watcher.start()
        log.info("agent looking after endpoint %s", self.settings.endpoint)
        while not self.stop.is_set():
            try:
                self.sweep()
            except Exception as exc:  # the engine may be restarting: keep trying, never exit
                log.error("sweep failed: %s", exc)
            with contextlib.suppress(queue.Empty):
                self.wake.get(timeout=self.wait_s(time.monotonic()))
                # Let a burst of events (kill, die, stop) settle into one sweep.
                time.sleep(0.05)
                while not self.wake.empty():
                    self.wake.get_nowait()
