"""An idle worker's lease request waits in the controller (long polling); a bound one never does."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

from tests.serving.batch.node.conftest import NodeRun
from tests.serving.batch.node.fake_controller import FakeController

Start = Callable[..., NodeRun]


def _files(tmp_path: Path, *names: str) -> list[str]:
    paths = []
    for name in names:
        path = tmp_path / "inputs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("1\n")
        paths.append(str(path))
    return paths


def test_a_held_request_gets_the_job_and_the_bound_worker_asks_without_waiting(
    tmp_path: Path, controller: FakeController, start_node: Start
) -> None:
    controller.hold = True
    start_node(MLE_BATCH_LEASE_WAIT_S="20")
    controller.wait_until(lambda: controller.holding == 1, what="a held lease request")
    lease = controller.add("job-held", _files(tmp_path, "a.csv"))
    assert controller.completion(lease.token).outcome == "succeeded"
    assert controller.handed_by[lease.token] == "lease"  # the held request took it
    first = controller.lease_requests[0]
    assert first.job is None and first.wait_s == 20
    # The worker, now bound to job-held, asks for more of it with its report, without waiting.
    (report,) = controller.reports
    assert report.next_lease is not None
    assert report.next_lease.job == "job-held" and report.next_lease.wait_s == 0


def test_sigterm_ends_a_held_lease_request_at_once(controller: FakeController, start_node: Start) -> None:
    controller.hold = True
    node = start_node(MLE_BATCH_LEASE_WAIT_S="30", MLE_BATCH_GRACEFUL_TIMEOUT_S="0.5")
    controller.wait_until(lambda: controller.holding == 1, what="a held lease request")
    assert node.stop(signal.SIGTERM) == 0
    # Without the interrupt the slot would still be waiting when the node gives up joining it.
    assert "did not stop in time" not in node.output
    assert "interrupted (the node is stopping)" in node.output


def test_without_long_polling_an_idle_worker_polls_with_a_pause(
    controller: FakeController, start_node: Start
) -> None:
    node = start_node(MLE_BATCH_LEASE_WAIT_S="0", MLE_BATCH_LEASE_POLL_MAX_S="0.2")
    controller.wait_until(lambda: len(controller.lease_requests) >= 3, what="three lease requests")
    time.sleep(1.0)
    # Backing off from 0.1 s to 0.2 s, one second holds a handful of requests; a loop without a
    # pause sends thousands.
    assert len(controller.lease_requests) < 20
    assert all(request.wait_s == 0 for request in controller.lease_requests)
    assert node.stop(signal.SIGTERM) == 0
