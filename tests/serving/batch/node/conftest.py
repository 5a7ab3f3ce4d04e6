"""Fixtures: a fake controller and real `python -m serving.batch.node` processes talking to it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.serving.batch.node.fake_controller import SECRET, WAIT_S, FakeController, running_controller

DRIVERS = Path(__file__).parent / "drivers"
REPO = Path(__file__).resolve().parents[4]
NODE = "node-1"


@dataclass
class NodeRun:
    process: subprocess.Popen[bytes]
    log_path: Path
    state: Path

    @property
    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def lines(self, name: str) -> list[str]:
        """Lines the driver recorded in DRIVER_STATE/<name> (init.log, run.log, sleeping.pid)."""
        path = self.state / name
        return path.read_text(encoding="utf-8").splitlines() if path.exists() else []

    def wait_for_lines(self, name: str, count: int) -> list[str]:
        deadline = time.monotonic() + WAIT_S
        while len(lines := self.lines(name)) < count:
            assert self.process.poll() is None, f"node exited early:\n{self.output}"
            assert time.monotonic() < deadline, f"timed out waiting for {count} line(s) in {name}"
            time.sleep(0.02)
        return lines

    def stop(self, signum: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            return self.process.wait(WAIT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"node did not stop after {signum}:\n{self.output}") from None


@pytest.fixture
def controller(tmp_path: Path) -> Iterator[FakeController]:
    with running_controller(tmp_path) as fake:
        yield fake


@pytest.fixture
def start_node(tmp_path: Path, controller: FakeController) -> Iterator[Callable[..., NodeRun]]:
    runs: list[NodeRun] = []

    def start(driver: str = "driver.py", processes: int = 1, **env: str) -> NodeRun:
        state = tmp_path / f"state-{len(runs)}"
        state.mkdir()
        model_dir = tmp_path / "model"
        model_dir.mkdir(exist_ok=True)
        log_path = tmp_path / f"node-{len(runs)}.log"
        environment = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "MLE_BATCH_CONTROLLER_URL": controller.url,
            "MLE_BATCH_NODE_SECRET": SECRET,
            "MLE_BATCH_NODE_NAME": NODE,
            "MLE_BATCH_DEPLOYMENT": "blue",
            "MLE_BATCH_PROCESSES": str(processes),
            "MLE_BATCH_LEASE_POLL_MAX_S": "0.2",
            "MLE_BATCH_GRACEFUL_TIMEOUT_S": "2",
            "MLE_BATCH_LOG_LEVEL": "DEBUG",
            "AML_APP_ROOT": str(DRIVERS),
            "AZUREML_ENTRY_SCRIPT": driver,
            "AZUREML_MODEL_DIR": str(model_dir),
            "DRIVER_STATE": str(state),
            **env,
        }
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "serving.batch.node"],
                cwd=REPO,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        run = NodeRun(process=process, log_path=log_path, state=state)
        runs.append(run)
        return run

    yield start
    for run in runs:
        with contextlib.suppress(AssertionError):
            run.stop()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0): it is dead for our purposes.
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        return handle.read().split(") ")[-1][:1] != "Z"
    return True


def wait_dead(pid: int) -> None:
    deadline = time.monotonic() + WAIT_S
    while pid_alive(pid):
        assert time.monotonic() < deadline, f"process {pid} is still alive"
        time.sleep(0.02)
