"""kill -9 of the controller mid-job: it resumes on the same state and every row lands exactly once."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serving.batch.controller.helpers import (
    KEY,
    NODE_SECRET,
    SECONDARY,
    TOKEN_SECRET,
    Client,
    FakeNode,
    config,
    invoke_body,
    public_client,
    rows_for,
    write_config,
    write_inputs,
)

REPO = Path(__file__).resolve().parents[4]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ControllerProcess:
    """`python -m serving.batch.controller` on fixed ports and a fixed state folder."""

    def __init__(self, tmp_path: Path, root: Path) -> None:
        self.public_port, self.internal_port = _free_port(), _free_port()
        write_config(tmp_path / "controller.json", config())
        secrets = tmp_path / "secrets.json"
        secrets.write_text(
            f'{{"primary_key": "{KEY}", "secondary_key": "{SECONDARY}", "token_secret": "{TOKEN_SECRET}"}}'
        )
        self.env = {
            **os.environ,
            "MLE_BATCH_CONFIG": str(tmp_path / "controller.json"),
            "MLE_BATCH_STATE_DIR": str(tmp_path / "state"),
            "MLE_BATCH_DATASTORES_ROOT": str(root),
            "MLE_BATCH_HOST": "127.0.0.1",
            "MLE_BATCH_PORT": str(self.public_port),
            "MLE_BATCH_INTERNAL_HOST": "127.0.0.1",
            "MLE_BATCH_INTERNAL_PORT": str(self.internal_port),
            "MLE_BATCH_NODE_SECRET": NODE_SECRET,
            "MLE_BATCH_SECRETS_FILE": str(secrets),
            "MLE_BATCH_TICK_INTERVAL_S": "0.05",
            # Leases whose answer was lost in a kill come back after this: shorter than the default
            # keeps the test quick, long enough for a loaded machine to restart within it.
            "MLE_BATCH_LEASE_EXPIRY_S": "3.0",
        }
        self.log = tmp_path / "controller.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "serving.batch.controller"],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=log,
            )
        health = Client(self.public_port)
        deadline = time.monotonic() + 30
        while True:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if health.request("GET", "/").status == 200:
                    return
            except OSError:
                pass
            assert time.monotonic() < deadline, "controller did not come up: " + self.log.read_text()
            time.sleep(0.02)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.kills += 1

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.fixture
def controller_process(tmp_path: Path, root: Path) -> Iterator[ControllerProcess]:
    process = ControllerProcess(tmp_path, root)
    process.start()
    yield process
    process.stop()


class PatientNode(FakeNode):
    """A node that rides out a controller restart: it re-sends a request until it gets an answer."""

    def _retry(self, call: Any, *args: Any) -> Any:
        while True:
            try:
                return call(*args)
            except (OSError, AssertionError):
                time.sleep(0.02)

    def patient_step(self) -> bool:
        lease = self._retry(self.lease)
        if lease is None:
            return False
        self._parts[lease["token"]] = lease["part_path"]
        self.done.append(lease)
        message = self.work(lease)
        self._retry(self.complete, message)
        return True


def _status(client: Client, name: str) -> str:
    while True:
        try:
            status: str = client.request("GET", f"/jobs/{name}").json()["properties"]["status"]
            return status
        except OSError:
            time.sleep(0.02)


def test_kill_9_mid_job_resumes_and_commits_every_mini_batch_once(
    controller_process: ControllerProcess, root: Path
) -> None:
    inputs = write_inputs(root, 60)
    client = public_client(controller_process.public_port)
    answer = client.request("POST", "/jobs", invoke_body(mini_batch_size=2, instance_count=2))
    assert answer.status == 200, answer.body
    name = answer.json()["name"]
    node = PatientNode(controller_process.internal_port, name="node-a")

    # 1. Some mini-batches done, then killed while the node holds a lease it has not reported yet.
    for _ in range(5):
        assert node.patient_step()
    held = node.lease()
    assert held is not None
    finished = node.work(held)
    controller_process.kill()
    controller_process.start()
    # The lease survived the restart (it has LEASE_EXPIRY_S from the restart): its completion counts.
    assert node.complete(finished) is True

    # 2. Killed right after a completion was accepted: the node, unsure, sends it again -> same answer.
    again = node.lease()
    assert again is not None
    message = node.work(again)
    assert node.complete(message) is True
    controller_process.kill()
    controller_process.start()
    assert node.complete(message) is True

    # 3. Killed while two nodes work at full speed (requests cut mid-flight, answers lost).
    nodes = [PatientNode(controller_process.internal_port, name=f"node-{i}", process=i) for i in range(2)]
    stop = threading.Event()

    def work(n: PatientNode) -> None:
        while not stop.is_set():
            if not n.patient_step():
                time.sleep(0.01)

    threads = [threading.Thread(target=work, args=(n,), daemon=True) for n in nodes]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 60
        while len(nodes[0].done) + len(nodes[1].done) < 6:
            assert time.monotonic() < deadline and all(t.is_alive() for t in threads)
            time.sleep(0.005)
        controller_process.kill()
        controller_process.start()
        while _status(client, name) not in ("Completed", "Failed"):
            assert time.monotonic() < deadline, "the job did not finish after the restart"
            time.sleep(0.02)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)

    job = client.request("GET", f"/jobs/{name}").json()
    assert job["properties"]["status"] == "Completed", job["properties"]["error"]
    assert job["properties"]["progress"]["rows"] == 60
    output = root / "workspaceblobstore" / "azureml" / name / "score" / "predictions.csv"
    lines = output.read_text().splitlines()
    expected = rows_for([str(p) for p in inputs])
    assert len(lines) == len(set(lines)) == 60  # nothing doubled
    assert lines == expected  # nothing lost, in mini-batch order
    assert controller_process.kills == 3
    # The parts go right after the end is recorded (finalize's last step), so a moment after "Completed".
    parts = root / "workspaceblobstore" / "azureml" / name / ".parts"
    deadline = time.monotonic() + 30
    while parts.exists():
        assert time.monotonic() < deadline, f"{parts} was not removed after the job completed"
        time.sleep(0.02)
