"""A pipeline component deployment on the real engine and Docker: registered components and model,
steps as containers in dependency order, outputs passed on, a failing step, nothing left running."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.integration.batch_client import BatchEndpointClient
from tests.integration.fixtures.tiny_endpoint import local_stack
from tests.integration.pulumi_stack import TempStack

pytestmark = pytest.mark.integration
ENDPOINT = "it-pipe"
CLUSTER = "it-pipe-cluster"
PIPELINE = Path(__file__).parent / "fixtures" / "pipeline"
MODEL = Path(__file__).resolve().parents[1] / "components" / "fixtures" / "assets" / "model"


def _serving() -> dict[str, Any]:
    return {
        "components": [str(PIPELINE / "prepare.yml")],
        "models": [{"name": "it-model", "version": 1, "path": str(MODEL)}],
        "computes": [{"name": CLUSTER, "size": "Standard_DS1_v2", "min_instances": 0, "max_instances": 2}],
        "endpoints": [
            {"name": ENDPOINT, "auth_mode": "aad_token", "defaults": {"deployment_name": "prep-score"}}
        ],
        "deployments": [
            {
                "$schema": "https://azuremlschemas.azureedge.net/latest/pipelineComponentBatchDeployment.schema.json",
                "name": "prep-score",
                "endpoint_name": ENDPOINT,
                "type": "pipeline",
                "component": str(PIPELINE / "pipeline.yml"),
                "settings": {"default_compute": f"azureml:{CLUSTER}", "continue_on_step_failure": False},
            }
        ],
    }


@pytest.fixture(scope="module")
def client() -> Iterator[BatchEndpointClient]:
    stack = TempStack.create(local_stack(_serving()))
    try:
        stack.up()
        outputs = stack.outputs(show_secrets=True)
        assert outputs[f"{ENDPOINT}.deployments"] == {"prep-score": "Succeeded"}
        yield BatchEndpointClient.from_outputs(outputs, ENDPOINT)
    finally:
        stack.destroy_and_remove()
    assert not docker.from_env().containers.list(
        all=True, filters={"label": f"io.mlendpoints.endpoint={ENDPOINT}"}
    )


def _invoke(client: BatchEndpointClient, **literals: str) -> dict[str, Any]:
    uri = client.inputs({"a.csv": "x,1\ny,2\n", "b.csv": "z,3\n"})
    inputs: dict[str, Any] = {"input_data": {"JobInputType": "UriFolder", "Uri": uri}}
    inputs |= {name: {"JobInputType": "Literal", "Value": value} for name, value in literals.items()}
    status, job = client.request("POST", "", {"properties": {"InputData": inputs}})
    assert status == 200, job
    return client.wait(job["name"])


def _step_containers() -> list[Any]:
    return docker.from_env().containers.list(
        all=True, filters={"label": [f"io.mlendpoints.endpoint={ENDPOINT}", "io.mlendpoints.role=step"]}
    )


def test_the_steps_run_in_order_in_their_containers_and_leave_the_pipeline_output(
    client: BatchEndpointClient,
) -> None:
    job = _invoke(client, score_mode="replace")
    props = job["properties"]
    assert props["status"] == "Completed", (props["error"], props["steps"])
    assert {name: step["status"] for name, step in props["steps"].items()} == {
        "prepare_job": "completed", "score_job": "completed",
    }  # fmt: skip
    assert props["steps"]["prepare_job"]["endTime"] <= props["steps"]["score_job"]["startTime"]
    scores = client.host_path(props["outputData"]["scores"]["uri"]) / "scores-replace.csv"
    model = (MODEL / "model.txt").read_text().splitlines()[0]
    assert scores.read_text().splitlines() == [
        f"a.csv,X,1,{model}",
        f"a.csv,Y,2,{model}",
        f"b.csv,Z,3,{model}",
    ]
    logs = client.job_folder(job["name"]) / "logs" / "steps"
    assert (logs / "prepare_job" / "std_log.txt").read_text() == "prepared 2 files in /mnt/azureml/code\n"
    assert (logs / "score_job" / "std_log.txt").read_text() == "scored 3 rows; from the component\n"
    assert _step_containers() == []  # each removed once its exit code was read


def test_a_failing_step_fails_the_job_and_the_next_step_never_runs(client: BatchEndpointClient) -> None:
    props = _invoke(client, fail="true")["properties"]
    assert props["status"] == "Failed"
    prepare, score = props["steps"]["prepare_job"], props["steps"]["score_job"]
    assert (prepare["status"], prepare["exitCode"], score["status"]) == ("failed", 4, "skipped")
    message = props["error"]["message"]
    assert "step prepare_job: its command exited with code 4" in message and "not run: score_job" in message
    log = client.host_path(props["logsUri"]) / "steps"
    assert (log / "prepare_job" / "std_log.txt").read_text() == "prepare was asked to fail\n"
