"""Fixtures that start real routers (python -m serving.router, real nginx) before little backends."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serving.router.backend import Backend, free_port
from tests.serving.router.client import call

PRIMARY = "primary-key-0123456789"
SECONDARY = "secondary-key-9876543210"
TOKEN_SECRET = "token-secret-0123456789abcdef0123456789"
REPO = Path(__file__).resolve().parents[3]


def _require_nginx() -> None:
    # Not a skip: `make test` installs nginx (scripts/bootstrap), so a missing one is a broken setup.
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        raise AssertionError("nginx is not installed: run the tests with `make test` (bootstrap installs it)")


needs_nginx = pytest.mark.usefixtures("nginx_present")


@pytest.fixture
def nginx_present() -> None:
    _require_nginx()


class RouterProcess:
    """One running router; `write_config` rewrites its config file (it reloads on its own)."""

    def __init__(self, tmp: Path, config: dict[str, Any], env: dict[str, str]) -> None:
        self.dir = tmp
        self.config_path = tmp / "router.json"
        self.port = free_port()
        self.metrics_port = free_port()
        self.write_config(config)
        self.stdout = (tmp / "stdout.log").open("wb")
        self.stderr = (tmp / "stderr.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "serving.router"],
            cwd=REPO,
            env={
                **os.environ,
                "MLE_ROUTER_CONFIG": str(self.config_path),
                "MLE_ROUTER_HOST": "127.0.0.1",
                "MLE_ROUTER_PORT": str(self.port),
                "MLE_ROUTER_METRICS_PORT": str(self.metrics_port),
                "MLE_ROUTER_POLL_INTERVAL_S": "0.1",
                "MLE_ROUTER_SHUTDOWN_TIMEOUT_S": "10",
                **env,
            },
            stdout=self.stdout,
            stderr=self.stderr,
            start_new_session=True,
        )

    def write_config(self, config: dict[str, Any]) -> None:
        """Atomic replace, the way the deploy side must write it."""
        staging = self.config_path.with_suffix(".tmp")
        staging.write_text(json.dumps(config))
        os.replace(staging, self.config_path)

    def wait_ready(self, timeout_s: float = 30.0) -> RouterProcess:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"router exited with {self.proc.returncode}: {self.messages()}")
            try:
                if call(self.port, "/", method="GET", body=None, timeout=1).status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"router did not come up: {self.messages()}")

    def messages(self) -> str:
        return (self.dir / "stderr.log").read_text()

    def request_log(self) -> list[dict[str, Any]]:
        text = (self.dir / "stdout.log").read_text()
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.stdout.close()
        self.stderr.close()
        return self.proc.returncode


def wait_until(condition: Callable[[], bool], timeout_s: float = 20.0, what: str = "condition") -> None:
    """Poll for an eventually-true state (a reload, a flushed log); the timeout only bounds the test."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def backends() -> Iterator[Callable[[str], Backend]]:
    started: list[Backend] = []

    def make(name: str) -> Backend:
        backend = Backend(name).start()
        started.append(backend)
        return backend

    yield make
    for backend in started:
        backend.close()


@pytest.fixture
def start_router(tmp_path: Path) -> Iterator[Callable[..., RouterProcess]]:
    running: list[RouterProcess] = []

    def start(config: dict[str, Any], env: dict[str, str] | None = None, wait: bool = True) -> RouterProcess:
        secrets = {"MLE_ROUTER_PRIMARY_KEY": PRIMARY, "MLE_ROUTER_SECONDARY_KEY": SECONDARY}
        directory = tmp_path / f"router{len(running)}"
        directory.mkdir()
        router = RouterProcess(directory, config, {**secrets, **(env or {})})
        running.append(router)
        return router.wait_ready() if wait else router

    yield start
    for router in running:
        router.stop()


def endpoint(deployments: dict[str, list[Backend]], traffic: dict[str, int], **extra: Any) -> dict[str, Any]:
    """A router config for backends; `extra` sets other top-level fields (mirror_traffic, auth_mode)."""
    routes = {
        name: {"instances": [b.address for b in group], "max_fails": 1, "fail_timeout_s": 1}
        for name, group in deployments.items()
    }
    return {"endpoint": "test-endpoint", "deployments": routes, "traffic": traffic, **extra}


def key(value: str = PRIMARY) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}
