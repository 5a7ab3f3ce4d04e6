"""Wiring: `create_app(settings)` builds the controller (store, config, scheduler, both HTTP apps)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from serving.batch.controller.agent import Agent, UnixSocketAgent
from serving.batch.controller.api import InternalApp, PublicApp
from serving.batch.controller.config import ConfigWatcher
from serving.batch.controller.scheduler import Scheduler
from serving.batch.controller.server import _Server, serve
from serving.batch.controller.settings import ControllerSettings
from serving.batch.controller.store import Store

STORE_FILE = "jobs.sqlite3"


class Controller:
    """The controller of one batch endpoint; `start()` binds both ports and starts the scheduler."""

    def __init__(
        self, settings: ControllerSettings, agent: Agent | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings
        self.watcher = ConfigWatcher(settings)
        self.store = Store(settings.state_dir / STORE_FILE)
        if agent is None and settings.agent_socket is not None:
            agent = UnixSocketAgent(settings.agent_socket)
        self.scheduler = Scheduler(self.store, self.watcher, settings, agent, clock)
        self.public = PublicApp(self.store, self.watcher, self.scheduler, settings, clock)
        self.internal = InternalApp(self.scheduler, settings)
        self.stopping = threading.Event()
        self._servers: list[_Server] = []
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.scheduler.start()
        self._servers = [
            serve(self.public, self.settings.host, self.settings.port, "public-api"),
            serve(self.internal, self.settings.internal_host, self.settings.internal_port, "node-api"),
        ]
        self._thread = threading.Thread(
            target=self.scheduler.run, args=(self.stopping,), name="scheduler", daemon=True
        )
        self._thread.start()

    @property
    def public_port(self) -> int:
        return int(self._servers[0].server_address[1])

    @property
    def internal_port(self) -> int:
        return int(self._servers[1].server_address[1])

    def stop(self) -> None:
        self.stopping.set()
        self.scheduler.hurry()
        self.scheduler.work.close()  # lease requests waiting for work answer now, before the store closes
        for server in self._servers:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.store.close()


def create_app(settings: ControllerSettings, agent: Agent | None = None) -> Controller:
    return Controller(settings, agent)
