"""Pipeline steps from templates: one container per job and step, the cluster's limit, the socket API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from serving.agent.node_api import serve
from serving.agent.nodes import NodeError, NodeManager
from serving.agent.steps import StepManager
from tests.serving.agent.test_nodes import FakeEngine, call

LOG = "/mnt/azureml/datastores/workspaceblobstore/azureml/job-1/logs/steps/prepare.txt"


@pytest.fixture
def engine() -> FakeEngine:
    fake = FakeEngine()
    exit_codes: dict[str, int] = {}
    fake.exit_codes = exit_codes  # type: ignore[attr-defined]
    fake.api = type(
        "Api",
        (),
        {
            "containers": lambda _self, all, filters: fake.containers_list(filters),
            "inspect_container": lambda _self, name: {"State": {"ExitCode": exit_codes.get(name, 0)}},
        },
    )()
    return fake


def templates(tmp_path: Path, max_instances: int = 2) -> Path:
    container = {
        "name": "template",
        "image": "mlendpoints/serving:step",
        "network": "none",
        "env": {"MLE_STEP_CODE": "/mnt/azureml/code"},
        "labels": {"io.mlendpoints.managed": "true"},
        "mounts": {"/mnt/azureml/code": "/host/src"},
    }
    node = {**container, "command": ["python", "-m", "serving.batch.node"]}
    path = tmp_path / "nodes.json"
    path.write_text(
        json.dumps(
            {
                "endpoint": "shop",
                "deployments": {
                    "blue": {"cluster": "cpu", "max_instances": max_instances, "container": node}
                },
                "steps": {
                    "pipe/prepare": {
                        "cluster": "cpu",
                        "max_instances": max_instances,
                        "container": container,
                    },
                    "pipe/score": {"cluster": "cpu", "max_instances": max_instances, "container": container},
                },
            }
        )
    )
    return path


def test_a_step_runs_once_per_job_from_its_template_with_the_command_given(
    engine: FakeEngine, tmp_path: Path
) -> None:
    steps = StepManager("shop", templates(tmp_path), engine)
    name = steps.run("pipe", "prepare", "job-1", "python prepare.py --out /x", LOG)
    assert steps.run("pipe", "prepare", "job-1", "python prepare.py --out /x", LOG) == name  # again: the same
    kwargs = engine.created[name]
    assert kwargs["image"] == "mlendpoints/serving:step" and kwargs["restart_policy"] == {"Name": "no"}
    shell = 'exec >>"$MLE_STEP_LOG" 2>&1; cd "$MLE_STEP_CODE" || exit 1\npython prepare.py --out /x'
    assert kwargs["command"] == ["/bin/sh", "-c", shell]
    assert kwargs["environment"]["MLE_STEP_LOG"] == LOG
    labels = kwargs["labels"]
    assert (labels["io.mlendpoints.job"], labels["io.mlendpoints.step"], labels["io.mlendpoints.role"]) == (
        "job-1", "prepare", "step",
    )  # fmt: skip
    (run,) = steps.steps("job-1")
    assert (run.step, run.status, run.exit_code) == ("prepare", "running", None)
    engine.state[name] = "exited"
    engine.exit_codes[name] = 3  # type: ignore[attr-defined]
    assert steps.steps("job-1")[0].exit_code == 3 and steps.steps("job-2") == []


def test_steps_and_nodes_share_the_cluster_s_max_instances(engine: FakeEngine, tmp_path: Path) -> None:
    path = templates(tmp_path, max_instances=2)
    steps, nodes = StepManager("shop", path, engine), NodeManager("shop", path, engine)
    steps.run("pipe", "prepare", "job-1", "true", LOG)
    assert len(nodes.ensure("blue", 5)) == 1  # one step runs: one node more fits
    with pytest.raises(NodeError, match="cluster cpu runs 2 of its max_instances 2") as caught:
        steps.run("pipe", "score", "job-1", "true", LOG)
    assert caught.value.status == 409


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("pipe", "nope", "job-1", "true", LOG),
            r"no step 'nope' of pipeline deployment 'pipe' \(steps: pipe/",
        ),
        (("pipe", "prepare", "job-1", " ", LOG), "the command must be 1 to"),
        (("pipe", "prepare", "job-1", "true", "/etc/passwd"), "the step's log must be a file under"),
        (("pipe", "prepare", "job-1", "true", "/mnt/azureml/datastores/../../etc/x"), "must be a file under"),
    ],
)
def test_refusals(engine: FakeEngine, tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    with pytest.raises(NodeError, match=message):
        StepManager("shop", templates(tmp_path), engine).run(*args)


def test_socket_api(engine: FakeEngine, tmp_path: Path) -> None:
    sock = tmp_path / "run" / "agent.sock"
    server = serve(NodeManager("shop", templates(tmp_path), engine), sock)
    try:
        body: dict[str, Any] = {"deployment": "pipe", "step": "prepare", "job": "job-1", "command": "true"}
        assert call(sock, "POST", "/steps", body)[0] == 400  # no log
        status, started = call(sock, "POST", "/steps", {**body, "log": LOG})
        assert status == 200
        status, listed = call(sock, "GET", "/steps?job=job-1")
        assert [s["name"] for s in listed["steps"]] == [started["name"]]
        assert call(sock, "GET", "/steps?job=other")[1] == {"steps": []}
        assert call(sock, "DELETE", f"/steps/{started['name']}") == (204, None)
    finally:
        server.shutdown()
        server.server_close()
