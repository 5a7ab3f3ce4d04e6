"""A batch endpoint's life on the real engine and Docker: up, invoke, output, failures, kills, scale to zero.

One stack for the module: a cluster of two small nodes that scales to zero after five idle seconds,
an endpoint with the example `linear` deployment and `lines`, whose driver does what each input
file says (fixtures/batch/code/driver.py).
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from components import environments
from components.azureml_yaml import load_yaml_file
from tests.integration.batch_client import BatchEndpointClient
from tests.integration.fixtures.tiny_endpoint import local_stack
from tests.integration.pulumi_stack import REPO, TempStack

pytestmark = pytest.mark.integration
ENDPOINT = "it-batch"
CLUSTER = "it-cluster"
DRIVER = Path(__file__).parent / "fixtures" / "batch" / "code"
EXAMPLE = REPO / "examples" / "batch"


def _serving(default: str) -> dict[str, Any]:
    return {
        "computes": [
            {
                "name": CLUSTER,
                "size": "Standard_DS1_v2",
                "min_instances": 0,
                "max_instances": 2,
                "idle_time_before_scale_down": 5,
                # Low priority: `mle batch preempt` may take its nodes away (the preemption test).
                "tier": "low_priority",
            }
        ],
        "endpoints": [{"name": ENDPOINT, "auth_mode": "aad_token", "defaults": {"deployment_name": default}}],
        "deployments": [
            {
                "file": str(EXAMPLE / "deployment.yml"),
                "endpoint_name": ENDPOINT,
                "compute": f"azureml:{CLUSTER}",
            },
            {
                "$schema": "https://azuremlschemas.azureedge.net/latest/modelBatchDeployment.schema.json",
                "name": "lines",
                "endpoint_name": ENDPOINT,
                "type": "model",
                "model": {"path": str(DRIVER)},
                "code_configuration": {"code": str(DRIVER), "scoring_script": "driver.py"},
                "environment": {"image": environments.DEFAULT_BASE_IMAGE},
                "compute": f"azureml:{CLUSTER}",
                "resources": {"instance_count": 2},
                "settings": {
                    "mini_batch_size": 2,
                    "max_concurrency_per_instance": 2,
                    "retry_settings": {"max_retries": 1, "timeout": 20},
                    "error_threshold": -1,
                },
            },
        ],
    }


@pytest.fixture(scope="module")
def stack() -> Iterator[TempStack]:
    created = TempStack.create(local_stack(_serving("lines")))
    try:
        created.up()
        yield created
    finally:
        created.destroy_and_remove()
    assert not docker.from_env().containers.list(
        all=True, filters={"label": f"io.mlendpoints.endpoint={ENDPOINT}"}
    )


@pytest.fixture(scope="module")
def client(stack: TempStack) -> BatchEndpointClient:
    return BatchEndpointClient.from_outputs(stack.outputs(show_secrets=True), ENDPOINT)


def _containers(role: str) -> list[Any]:
    # sparse: the list answer only. Without it docker-py inspects each listed container, and a node
    # the agent removes in between (scale-down, what some tests wait for) raises NotFound.
    return docker.from_env().containers.list(
        all=True,
        sparse=True,
        filters={"label": [f"io.mlendpoints.endpoint={ENDPOINT}", f"io.mlendpoints.role={role}"]},
    )


def _progress(job: dict[str, Any]) -> dict[str, Any]:
    return dict(job["properties"]["progress"])


def _running_nodes() -> list[Any]:
    return [n for n in _containers("node") if n.status == "running"]


def _wait_until_going(client: BatchEndpointClient, name: str, succeeded: int) -> None:
    """Until both of the cluster's nodes run and the job has `succeeded` mini-batches done."""
    deadline = time.monotonic() + 120
    while len(_running_nodes()) < 2 or _progress(client.job(name))["miniBatches"]["succeeded"] < succeeded:
        if time.monotonic() >= deadline:
            # What the nodes and the job were doing, to tell a slow start from a stuck one.
            nodes = {n.attrs["Names"][0].lstrip("/"): n.status for n in _containers("node")}
            job = client.job(name)["properties"]
            pytest.fail(
                f"the job did not get going in 120 s: nodes {nodes}, job {job['status']} {job['progress']}"
            )
        time.sleep(0.2)


def test_nothing_runs_at_rest_and_the_example_job_matches_its_driver(client: BatchEndpointClient) -> None:
    assert _containers("node") == []  # min_instances 0
    files = {p.name: p.read_text() for p in sorted((EXAMPLE / "data").glob("*.csv"))}
    job = client.wait(client.invoke(client.inputs(files), deployment="linear")["name"])
    assert job["properties"]["status"] == "Completed", job
    rows = client.output_lines(job)
    assert len(rows) == 8 * 25
    # The same driver called directly, in the deployment's own image, over the same files.
    spec = load_yaml_file(EXAMPLE / "deployment.yml")
    image = environments.image_tag(environments.plan_for_spec(spec.environment))
    script = (
        "import glob, os, sys; sys.path.insert(0, '/code'); import batch_driver as d; d.init(); "
        "out = d.run(sorted(glob.glob('/data/*.csv'))); "
        "sys.stdout.write(out.to_csv(sep=' ', header=False, index=False))"
    )
    direct = subprocess.run(
        [
            "docker", "run", "--rm", "--network", "none",
            "-v", f"{EXAMPLE / 'data'}:/data:ro", "-v", f"{EXAMPLE / 'code'}:/code:ro",
            "-v", f"{EXAMPLE / 'model'}:/models/model:ro", "-e", "AZUREML_MODEL_DIR=/models",
            image, "python", "-c", script,
        ],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert sorted(rows) == sorted(direct.stdout.splitlines())
    logs = client.job_folder(job["name"]) / "logs"
    assert "Completed" in (logs / "job_result.txt").read_text()
    assert (logs / "sys" / "job_report" / "processed_mini-batches.csv").is_file()


def test_failures_retries_timeouts_and_too_few_rows_are_reported_by_file(client: BatchEndpointClient) -> None:
    files = {f"ok-{i}.txt": "ok" for i in range(4)}
    files |= {"bad.txt": "fail", "late.txt": "slow 30", "short.txt": "short"}
    job = client.wait(
        client.invoke(client.inputs(files), miniBatchSize=1, retrySettings={"maxRetries": 1, "timeout": 2})[
            "name"
        ]
    )
    # error_threshold -1: every failure is tolerated, the job completes with what succeeded.
    assert job["properties"]["status"] == "Completed", job
    progress = _progress(job)
    assert progress["files"] == {"total": 7, "succeeded": 4, "failed": 3}
    assert progress["failedTries"] == 6  # each failing file: first try and one retry
    assert sorted(line.split()[0] for line in client.output_lines(job)) == sorted(
        f"ok-{i}.txt" for i in range(4)
    )
    errors = (client.job_folder(job["name"]) / "logs" / "job_error.txt").read_text()
    for name, why in (("bad.txt", "asked to fail"), ("late.txt", "timeout"), ("short.txt", "too_few_rows")):
        assert name in errors and why in errors, errors


def test_a_worker_out_of_memory_is_named_so_with_the_nodes_limit(client: BatchEndpointClient) -> None:
    # Standard_DS1_v2 nodes have 3.5 GiB: the driver's 5000 MiB cannot fit, the kernel kills the worker.
    files = {"hog.txt": "eat 5000", "fine.txt": "ok"}
    job = client.wait(
        client.invoke(client.inputs(files), miniBatchSize=1, retrySettings={"maxRetries": 0})["name"]
    )
    assert job["properties"]["status"] == "Completed", job  # error_threshold -1
    assert [line.split()[0] for line in client.output_lines(job)] == ["fine.txt"]
    errors = (client.job_folder(job["name"]) / "logs" / "job_error.txt").read_text()
    assert "hog.txt" in errors, errors
    assert "(the kernel's OOM killer: the node ran out of memory, its limit is 3584 MiB" in errors, errors


def test_error_threshold_fails_the_job(client: BatchEndpointClient) -> None:
    files = {f"ok-{i}.txt": "ok" for i in range(6)} | {"bad-1.txt": "fail", "bad-2.txt": "fail"}
    job = client.wait(
        client.invoke(
            client.inputs(files), miniBatchSize=1, errorThreshold=1, retrySettings={"maxRetries": 0}
        )["name"]
    )
    assert job["properties"]["status"] == "Failed", job
    message = job["properties"]["error"]["message"]
    assert "bad-1.txt" in message or "bad-2.txt" in message, message


def test_kills_of_a_worker_a_node_and_the_controller_lose_and_double_nothing(
    client: BatchEndpointClient,
) -> None:
    names = [f"file-{i:03d}.txt" for i in range(48)]
    job = client.invoke(client.inputs(dict.fromkeys(names, "slow 0.6")))
    engine = docker.from_env()
    _wait_until_going(client, job["name"], succeeded=2)
    first, second = _running_nodes()[:2]
    # A worker process dies: a child of the node's fork server (the fork server is the supervisor's).
    processes = first.top(ps_args="-eo pid,ppid,args")["Processes"]
    forked = {int(row[0]): int(row[1]) for row in processes if "multiprocessing.forkserver" in row[2]}
    workers = [pid for pid, parent in forked.items() if parent in forked]
    assert workers, processes
    os.kill(workers[0], signal.SIGKILL)
    time.sleep(1.0)
    second.kill()  # a whole node, as a preemption takes it
    time.sleep(1.0)
    engine.containers.get(f"{ENDPOINT}-controller").kill()  # the agent starts it again
    done = client.wait(job["name"])
    assert done["properties"]["status"] == "Completed", done
    counted = Counter(line.split()[0] for line in client.output_lines(done))
    assert counted == Counter(dict.fromkeys(names, 1))


def test_preempting_the_low_priority_cluster_mid_job_loses_and_doubles_nothing(
    stack: TempStack, client: BatchEndpointClient
) -> None:
    # 30 mini-batches of 3 s on 2 nodes x 2 workers: the job runs for ~23 s, so every worker holds a
    # mini-batch when the nodes are taken, however slow the preempt command is to start (it reads the
    # stack's outputs through pulumi first: seconds on a loaded machine).
    names = [f"pre-{i:03d}.txt" for i in range(60)]
    job = client.invoke(client.inputs(dict.fromkeys(names, "slow 1.5")))
    _wait_until_going(client, job["name"], succeeded=1)
    preempted = subprocess.run(
        [sys.executable, "-m", "components.endpoint_cli", "--stack", stack.name, "batch", "preempt",
         ENDPOINT, "--deployment", "lines"],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert preempted.returncode == 0, preempted.stderr
    taken = {line.split()[1] for line in preempted.stdout.splitlines() if line.startswith("preempted ")}
    assert len(taken) == 2, preempted.stdout  # every running node of the cluster
    done = client.wait(job["name"])
    assert done["properties"]["status"] == "Completed", done
    counted = Counter(line.split()[0] for line in client.output_lines(done))
    assert counted == Counter(dict.fromkeys(names, 1))
    report = client.job_folder(job["name"]) / "logs" / "sys" / "job_report" / "processed_mini-batches.csv"
    tries = list(csv.DictReader(report.read_text().splitlines()))
    lost = [row for row in tries if row["Status"] == "expired"]
    # The taken nodes' mini-batches were lost (not failed) and ran again on the nodes that replaced them.
    assert lost, tries
    for row in lost:
        assert row["Node"] in taken and row["Error Message"].startswith("lost: its node"), row
    succeeded = [row for row in tries if row["Status"] == "succeeded"]
    assert {row["Node"] for row in succeeded} - taken, "no new node finished the job"


def test_a_node_that_dies_while_idle_is_removed_without_waiting_for_a_job(
    client: BatchEndpointClient,
) -> None:
    job = client.wait(client.invoke(client.inputs({"a.txt": "ok", "b.txt": "ok"}))["name"])
    assert job["properties"]["status"] == "Completed"
    (victim, *_) = _running_nodes()
    victim.kill()  # as an engine restart leaves it: exited, and nodes have no restart policy
    deadline = time.monotonic() + 60
    while victim.id in {c.id for c in _containers("node")}:
        assert time.monotonic() < deadline, "the dead node's container is still there"
        time.sleep(0.5)


def test_idle_nodes_scale_down_to_zero(client: BatchEndpointClient) -> None:
    job = client.wait(client.invoke(client.inputs({"a.txt": "ok", "b.txt": "ok"}))["name"])
    assert job["properties"]["status"] == "Completed"
    deadline = time.monotonic() + 90
    while _running_nodes():
        assert time.monotonic() < deadline, [n.attrs["Names"] for n in _containers("node")]
        time.sleep(1)


def test_default_deployment_switches_in_place(stack: TempStack, client: BatchEndpointClient) -> None:
    controller = docker.from_env().containers.get(f"{ENDPOINT}-controller").id
    stack.reconfigure(local_stack(_serving("linear")))
    stack.up()
    assert stack.outputs()[f"{ENDPOINT}.default_deployment"] == "linear"
    assert docker.from_env().containers.get(f"{ENDPOINT}-controller").id == controller
    files = {"one.csv": (EXAMPLE / "data" / "part-00.csv").read_text()}
    job = client.wait(client.invoke(client.inputs(files))["name"])
    assert job["properties"]["deploymentName"] == "linear"
    assert job["properties"]["status"] == "Completed", job


def test_nodes_of_a_cluster_resized_by_up_are_replaced_and_the_next_job_runs_on_the_new_size(
    stack: TempStack, client: BatchEndpointClient
) -> None:
    # A job keeps the cluster's two nodes busy while `pulumi up` makes the cluster's nodes bigger.
    names = [f"long-{i:03d}.txt" for i in range(24)]
    first = client.invoke(client.inputs(dict.fromkeys(names, "slow 1")), deployment="lines")
    _wait_until_going(client, first["name"], succeeded=1)
    old = {n.attrs["Names"][0].lstrip("/") for n in _containers("node")}
    bigger = _serving("linear")
    bigger["computes"][0]["size"] = "Standard_DS2_v2"  # 7 GiB instead of 3.5
    stack.reconfigure(local_stack(bigger))
    stack.up()
    second = client.invoke(client.inputs({"x.txt": "limit", "y.txt": "limit"}), deployment="lines")
    done = client.wait(second["name"])
    assert done["properties"]["status"] == "Completed", done
    limits = {line.split()[0]: line.split()[3] for line in client.output_lines(done)}
    assert limits == {"x.txt": "7168", "y.txt": "7168"}, limits  # not an old node's 3584
    report = client.job_folder(second["name"]) / "logs" / "sys" / "job_report" / "processed_mini-batches.csv"
    assert not {row["Node"] for row in csv.DictReader(report.read_text().splitlines())} & old
    # The job that ran through the change lost and doubled nothing.
    finished = client.wait(first["name"])
    assert finished["properties"]["status"] == "Completed", finished
    counted = Counter(line.split()[0] for line in client.output_lines(finished))
    assert counted == Counter(dict.fromkeys(names, 1))
