"""Idle workers' lease requests wait in the controller for work (long polling), and are let go."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from serving.batch.controller.app import Controller
from serving.batch.controller.settings import ControllerSettings
from serving.batch.protocol import RetrySettings
from tests.serving.batch.controller.helpers import (
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
