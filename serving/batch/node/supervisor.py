"""The node's main process: one slot thread per worker process, a heartbeat thread, SIGTERM handling."""

from __future__ import annotations

import logging
import os
import select
import signal
from types import FrameType

from serving.batch.node.heartbeat import HeartbeatThread
from serving.batch.node.process import start_fork_server
from serving.batch.node.settings import NodeSettings
from serving.batch.node.slot import Slot
from serving.batch.node.state import NodeState, Waker

log = logging.getLogger("mlendpoints.batch.node")

_TICK_S = 0.5
# After the grace period: killing workers and reaping them takes a moment more.
_JOIN_MARGIN_S = 10.0


class Node:
    """Keeps `processes` workers busy until SIGTERM (or idle exit); never exits because of the controller."""

    def __init__(self, settings: NodeSettings) -> None:
        self.settings = settings
        self.state = NodeState()
        self.slots = [Slot(index, settings, self.state, os.getpid()) for index in range(settings.processes)]
        self.heartbeat = HeartbeatThread(settings, self.state)
        self._signal: int | None = None

    def run(self) -> int:
        # The handler only records the signal: taking the state's locks inside a handler could deadlock
        # with the main thread holding them. The wakeup fd makes the main loop notice at once.
        waker = Waker()
        previous_fd = signal.set_wakeup_fd(waker.write_fd)
        previous = {
            signum: signal.signal(signum, self._on_signal) for signum in (signal.SIGTERM, signal.SIGINT)
        }
        log.info(
            "batch node %s for deployment %s: %d worker process(es), controller %s",
            self.settings.node_name,
            self.settings.deployment,
            self.settings.processes,
            self.settings.controller_url,
        )
        try:
            start_fork_server()
            self.heartbeat.start()
            for slot in self.slots:
                slot.start()
            while not self.state.stopping.is_set():
                if select.select([waker.fd], [], [], _TICK_S)[0]:
                    waker.drain()
                if self._signal is not None:
                    self._stop_on(self._signal)
                self._check_idle()
            self._drain()
        finally:
            signal.set_wakeup_fd(previous_fd)
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            waker.close()
        log.info("batch node %s stopped", self.settings.node_name)
        return 0

    def _on_signal(self, signum: int, _: FrameType | None) -> None:
        self._signal = signum

    def _stop_on(self, signum: int) -> None:
        if not self.state.stopping.is_set():
            log.info(
                "%s: no new leases; in-flight run() calls get %.1f s to finish",
                signal.Signals(signum).name,
                self.settings.graceful_timeout_s,
            )
        self._stop()

    def _check_idle(self) -> None:
        limit = self.settings.idle_exit_s
        if limit is not None and self.state.idle_for() >= limit:
            log.info("no work for %.0f s (MLE_BATCH_IDLE_EXIT_S): stopping", limit)
            self._stop()

    def _stop(self) -> None:
        self.state.stop(self.settings.graceful_timeout_s)
        for slot in self.slots:
            slot.stop_waiting()

    def _drain(self) -> None:
        """Slots finish or abandon their leases (the controller re-queues what is not completed)."""
        for slot in self.slots:
            slot.join(self.settings.graceful_timeout_s + _JOIN_MARGIN_S)
            if slot.is_alive():
                log.error("%s did not stop in time; its worker dies with the node", slot.name)
        self.heartbeat.finished.set()
        self.heartbeat.join(_TICK_S * 2)
