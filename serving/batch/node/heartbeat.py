"""Every HEARTBEAT_INTERVAL_S: tell the controller which tokens are in progress; abandon what it lists."""

from __future__ import annotations

import logging
import threading
import time

from serving.batch.node.client import ControllerClient
from serving.batch.node.settings import NodeSettings
from serving.batch.node.state import NodeState
from serving.batch.protocol import HEARTBEAT_INTERVAL_S, Heartbeat

log = logging.getLogger("mlendpoints.batch.node")

# Log an outage once, then every this many failed beats, not every two seconds.
_LOG_EVERY = 15


class HeartbeatThread(threading.Thread):
    def __init__(self, settings: NodeSettings, state: NodeState) -> None:
        super().__init__(name="heartbeat", daemon=True)
        self.settings = settings
        self.state = state
        self.finished = threading.Event()
        # A beat must not hang past the next one: the controller takes leases back after a few missed.
        self.client = ControllerClient(
            settings.controller_url,
            settings.node_secret.get_secret_value(),
            min(settings.http_timeout_s, HEARTBEAT_INTERVAL_S),
        )

    def run(self) -> None:
        failures = 0
        next_beat = time.monotonic()
        try:
            while not self.finished.is_set():
                tokens = self.state.tokens()
                try:
                    answer = self.client.heartbeat(Heartbeat(node=self.settings.node_name, tokens=tokens))
                except Exception as error:  # unreachable, refusing, or a bug: the next beat tries again
                    if failures % _LOG_EVERY == 0:
                        log.warning("heartbeat with %d token(s) failed: %s", len(tokens), error)
                    failures += 1
                else:
                    if failures:
                        log.info("controller reachable again after %d failed heartbeat(s)", failures)
                    failures = 0
                    for token in answer.abandon:
                        if self.state.abandon(token):
                            log.info("controller abandoned %s", token)
                next_beat += HEARTBEAT_INTERVAL_S
                now = time.monotonic()
                if next_beat < now:  # a slow beat: keep the rhythm from now on, no burst to catch up
                    next_beat = now + HEARTBEAT_INTERVAL_S
                self.finished.wait(next_beat - now)
        finally:
            self.client.close()
