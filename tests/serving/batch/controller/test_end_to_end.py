"""In-process end to end: invoke over HTTP with a key, fake nodes lease and complete, rows exactly once."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from serving.batch.controller.app import Controller
from tests.serving.batch.controller.helpers import (
    FakeNode,
    config,
    deployment,
    invoke_body,
    public_client,
    rows_for,
    run_nodes,
    write_config,
    write_inputs,
)


def _wait_for(
    client: Any, name: str, statuses: tuple[str, ...] = ("Completed", "Failed", "Canceled")
) -> dict[str, Any]:
    while True:
        job: dict[str, Any] = client.request("GET", f"/jobs/{name}").json()
        if job["properties"]["status"] in statuses:
            return job
        time.sleep(0.01)


def test_a_job_runs_on_several_nodes_and_every_row_lands_once(controller: Controller, root: Path) -> None:
    inputs = write_inputs(root, 200)
    client = public_client(controller.public_port)
    answer = client.request("POST", "/jobs", invoke_body(mini_batch_size=7, instance_count=3))
    assert answer.status == 200, answer.body
    name = answer.json()["name"]
    seen: set[tuple[str, int]] = set()

    # One node fails the first try of every fourth mini-batch; retries land elsewhere or again.
    def flaky(lease: dict[str, Any]) -> tuple[str, str] | None:
        if lease["minibatch"] % 4 == 0 and lease["attempt"] == 0:
            return ("exception", "RuntimeError: flaky")
        seen.add((lease["job"], lease["minibatch"]))
        return None

    nodes = [
        FakeNode(controller.internal_port, name=f"node-{i}", process=i, fail=flaky, max_minibatches=4)
        for i in range(3)
    ]
    run_nodes(nodes, until=lambda: _status(client, name) in ("Completed", "Failed"))
    job = _wait_for(client, name)
    props = job["properties"]
    assert props["status"] == "Completed", props["error"]
    assert props["progress"]["miniBatches"] == {
        "total": 29, "succeeded": 29, "failed": 0, "running": 0, "pending": 0, "canceled": 0,
    }  # fmt: skip
    assert props["progress"]["rows"] == 200 and props["progress"]["failedTries"] == 8
    output = root / "workspaceblobstore" / "azureml" / name / "score" / "predictions.csv"
    lines = output.read_text().splitlines()
    assert sorted(lines) == sorted(rows_for([str(p) for p in inputs]))  # every row exactly once
    assert lines == rows_for([str(p) for p in inputs])  # and, merged in mini-batch order, in input order
    assert (
        props["outputFileUri"]
        == f"azureml://datastores/workspaceblobstore/paths/azureml/{name}/score/predictions.csv"
    )
    assert props["startTime"] and props["endTime"]
    logs = root / "workspaceblobstore" / "azureml" / name / "logs"
    report = (logs / "sys" / "job_report" / "processed_mini-batches.csv").read_text().splitlines()
    assert len(report) == 1 + 29 + 8
    # Once the job's pace was known, nodes took bundles (up to a worker's share of what was pending).
    sizes = [size for node in nodes for size in node.bundles]
    assert sizes[:3] == [1, 1, 1] or 1 in sizes  # one at a time before the pace is known
    assert max(sizes) > 1 and max(sizes) <= 4


def _status(client: Any, name: str) -> str:
    status: str = client.request("GET", f"/jobs/{name}").json()["properties"]["status"]
    return status


def test_summary_only_counts_and_writes_no_file(controller: Controller, root: Path) -> None:
    cfg = config(deployment("blue", output_action="summary_only"))
    write_config(controller.settings.config, cfg)
    controller.watcher.poll()
    write_inputs(root, 5)
    client = public_client(controller.public_port)
    name = client.request("POST", "/jobs", invoke_body()).json()["name"]
    run_nodes([FakeNode(controller.internal_port)], until=lambda: _status(client, name) == "Completed")
    assert not (root / "workspaceblobstore" / "azureml" / name / "score" / "predictions.csv").exists()
    assert _wait_for(client, name)["properties"]["outputFileUri"] is None


def test_scheduler_overhead_per_mini_batch(controller: Controller, root: Path) -> None:
    """Lease + complete round trips on loopback, as one worker does them; printed, not asserted."""
    count = 400
    write_inputs(root, count)
    client = public_client(controller.public_port)
    name = client.request("POST", "/jobs", invoke_body(mini_batch_size=1)).json()["name"]
    node = FakeNode(controller.internal_port)
    lease_s = complete_s = 0.0
    for _ in range(count):
        started = time.perf_counter()
        lease = node.lease()
        leased = time.perf_counter()
        assert lease is not None
        message = node.work(lease)  # the fake driver's own work is not scheduler overhead
        before_complete = time.perf_counter()
        assert node.complete(message)
        done = time.perf_counter()
        lease_s += leased - started
        complete_s += done - before_complete
    lease_ms, complete_ms = lease_s / count * 1000, complete_s / count * 1000
    print(
        f"\nscheduler overhead: {lease_ms + complete_ms:.2f} ms per mini-batch (lease {lease_ms:.2f} ms + "
        f"complete {complete_ms:.2f} ms; {count} mini-batches, one worker, loopback; goal <= 5 ms)"
    )
    assert _wait_for(client, name)["properties"]["progress"]["rows"] == count
