"""Idle workers' lease requests wait in the controller for work (long polling), and are let go."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from serving.batch.controller.app import Controller
from serving.batch.controller.settings import ControllerSettings
from serving.batch.protocol import NODE_SECRET_HEADER, RetrySettings
from tests.serving.batch.controller.helpers import (
    NODE_SECRET,
    Answer,
    config,
    deployment,
    invoke_body,
    node_client,
    public_client,
    write_inputs,
)


def _ask(controller: Controller, node: str, wait_s: float, answers: list[Answer]) -> threading.Thread:
    def ask() -> None:
        body = {"node": node, "deployment": "blue", "process": 0, "wait_s": wait_s}
        answers.append(node_client(controller.internal_port).request("POST", "/internal/lease", body))

    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    return thread


def _until_waiting(controller: Controller, thread: threading.Thread, count: int = 1) -> None:
    """Until `count` requests wait in the controller; a request answered at once fails the test."""
    while controller.scheduler.work.waiting < count:
        assert thread.is_alive(), "the lease request was answered instead of waiting for work"
        time.sleep(0.01)


def test_a_waiting_request_gets_the_first_bundle_of_a_job_submitted_meanwhile(
    controller: Controller, root: Path
) -> None:
    write_inputs(root, 3)
    answers: list[Answer] = []
    thread = _ask(controller, "n1", 20, answers)
    _until_waiting(controller, thread)
    job = public_client(controller.public_port).request("POST", "/jobs", invoke_body()).json()["name"]
    thread.join()
    (answer,) = answers
    assert answer.status == 200, answer.body
    (lease,) = answer.json()["leases"]
    assert (lease["job"], lease["minibatch"]) == (job, 0)


def test_with_no_work_the_request_is_answered_empty_after_its_wait(controller: Controller) -> None:
    answers: list[Answer] = []
    thread = _ask(controller, "n1", 0.3, answers)
    _until_waiting(controller, thread)
    thread.join()
    assert [a.status for a in answers] == [204]


def _lease_then_hang_up(port: int, node: str) -> socket.socket:
    """A lease request waiting for work from a node that will go away: the caller closes the socket."""
    body = json.dumps({"node": node, "deployment": "blue", "process": 0, "wait_s": 20}).encode()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(
        b"POST /internal/lease HTTP/1.1\r\nHost: controller\r\nContent-Type: application/json\r\n"
        + f"{NODE_SECRET_HEADER}: {NODE_SECRET}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    return sock


def test_a_request_whose_node_went_away_while_it_waited_is_handed_nothing(
    controller: Controller, root: Path
) -> None:
    write_inputs(root, 3)
    gone = _lease_then_hang_up(controller.internal_port, "gone")
    while controller.scheduler.waiting_nodes("blue") < 1:
        time.sleep(0.01)
    gone.close()  # the node stopped (scaled down, killed) while its request waited in the controller
    deadline = time.monotonic() + 5
    while controller.scheduler.waiting_nodes("blue") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert controller.scheduler.waiting_nodes("blue") == 0  # a closed request is no waiting node
    answers: list[Answer] = []
    thread = _ask(controller, "live", 20, answers)
    _until_waiting(controller, thread)
    # instance_count 1: had "gone" taken the first bundle, the job would wait for that lease to expire.
    job = public_client(controller.public_port).request("POST", "/jobs", invoke_body()).json()["name"]
    thread.join(10)
    (answer,) = answers
    assert answer.status == 200, answer.body
    assert [(lease["job"], lease["minibatch"]) for lease in answer.json()["leases"]][:1] == [(job, 0)]
    assert {attempt.node for attempt in controller.store.attempts(job)} == {"live"}


def test_a_failed_try_wakes_a_waiting_worker_of_another_node(controller: Controller, root: Path) -> None:
    write_inputs(root, 1)
    public_client(controller.public_port).request("POST", "/jobs", invoke_body(instance_count=2))
    first = node_client(controller.internal_port).request(
        "POST", "/internal/lease", {"node": "n1", "deployment": "blue", "process": 0}
    )
    (lease,) = first.json()["leases"]
    answers: list[Answer] = []
    thread = _ask(controller, "n2", 20, answers)
    _until_waiting(controller, thread)
    failed = {"token": lease["token"], "node": "n1", "process": 0, "outcome": "failed",
              "failure": "exception", "error": "boom"}  # fmt: skip
    report = node_client(controller.internal_port).request(
        "POST", "/internal/complete", {"completions": [failed]}
    )
    assert report.json()["accepted"] == [True]
    thread.join()
    (again,) = answers[0].json()["leases"]
    assert (again["minibatch"], again["attempt"]) == (0, 1)


def test_stopping_the_controller_lets_waiting_requests_go(
    make_settings: Callable[..., ControllerSettings],
) -> None:
    controller = Controller(
        make_settings(config(deployment(retry_settings=RetrySettings(max_retries=1, timeout=30))))
    )
    controller.start()
    answers: list[Answer] = []
    thread = _ask(controller, "n1", 30, answers)
    try:
        _until_waiting(controller, thread)
    finally:
        controller.stop()
    thread.join(10)
    assert not thread.is_alive(), "a request waiting for work held the controller's stop"
    assert [a.status for a in answers] == [204]
