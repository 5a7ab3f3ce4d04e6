"""ComputeCluster, BatchEndpoint and BatchDeployment: the resource graph and files they register (mocks).

Nothing talks to Docker: the dynamic providers are only registered. The mocks answer for the
generated keys and the controller's published port.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.batch import BatchEndpoint, BatchEndpointArgs, ComputeCluster, ComputeClusterArgs
from components.specs import ModelBatchDeploymentSpec
from components.stack_config import load_stack_config
from components.targets.endpoint_keys import SECRET_OUTPUTS
from components.targets.local import batch_plan
from components.targets.local import plan as local_plan
from components.targets.local.target import LocalTarget
from components.targets.serving_layout import CODE_MOUNT
from serving.agent.nodes import NodeTemplates
from serving.batch import protocol
from tests.pulumi_mocks import RecordingMocks

ROOT = Path(__file__).resolve().parents[2]
DYNAMIC = "pulumi-python:dynamic:Resource"
HOST = (8, 32 * 1024)
EXAMPLE = {
    "computes": ["examples/batch/cluster.yml"],
    "endpoints": ["examples/batch/endpoint.yml"],
    "deployments": ["examples/batch/deployment.yml"],
}
TOKEN_SECRET = f"token_secret-{'k' * 32}"


@pytest.fixture
def mocks(pulumi_mocks: RecordingMocks, monkeypatch: pytest.MonkeyPatch) -> RecordingMocks:
    monkeypatch.setattr(local_plan, "host_resources", lambda: HOST)
    register = pulumi_mocks.new_resource

    def new_resource(args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        id_, state = register(args)
        if "publish" in state:
            state["ports"] = {str(protocol.PUBLIC_PORT): 8632}
        if "rotation" in state:
            state.update({name: f"{name}-{'k' * 32}" for name in SECRET_OUTPUTS})
        return id_, state

    monkeypatch.setattr(pulumi_mocks, "new_resource", new_resource)
    return pulumi_mocks


def build(tmp: Path, serving: dict[str, Any] = EXAMPLE) -> BatchEndpoint:
    stack = load_stack_config(serving, base_dir=ROOT, target="local")
    clusters = {spec.name: spec for spec in stack.computes}
    for spec in stack.computes:
        ComputeCluster(spec.name, ComputeClusterArgs(spec))
    [group] = stack.batch
    models = tuple(d for d in group.deployments if isinstance(d, ModelBatchDeploymentSpec))
    datastores = {"workspaceblobstore": str(tmp / "ds"), "lake": str(tmp / "lake")}
    args = BatchEndpointArgs(group.endpoint, models, clusters, LocalTarget(tmp / "state", 8632), datastores)
    return BatchEndpoint(group.endpoint.name, args)


def inputs(mocks: RecordingMocks, name: str) -> dict[str, Any]:
    return mocks.named(name).inputs


# How mocks see a secret value: the engine's secret signature around it.
_SECRET_SIG = "4dabf18193072939515e22adb298388d"


def revealed(value: Any) -> Any:
    """The value inside a secret (and a note that it was one)."""
    assert isinstance(value, dict) and _SECRET_SIG in value, f"not a secret: {str(value)[:80]}"
    return value["value"]


@pulumi.runtime.test
def test_nothing_of_a_deployment_runs_at_rest(mocks: RecordingMocks, tmp_path: Path) -> pulumi.Output:
    endpoint = build(tmp_path)

    def check(values: list[Any]) -> None:
        assert values[0] == "http://127.0.0.1:8632/jobs"
        assert values[1] == {"linear": "Succeeded"}
        containers = sorted(
            r.name for r in mocks.of_type(DYNAMIC) if "image" in r.inputs and "network" in r.inputs
        )
        # The controller and the agent: nodes are the agent's to start when a job needs them.
        assert containers == ["mle-batch-agent", "mle-batch-controller"]
        types = {r.name: r.type_ for r in mocks.resources}
        assert types["cpu-cluster"] == "mlendpoints:batch:ComputeCluster"
        assert types["mle-batch"] == "mlendpoints:batch:BatchEndpoint"
        assert types["mle-batch-linear"] == "mlendpoints:batch:BatchDeployment"
        cluster = inputs(mocks, "cpu-cluster")
        assert (cluster["size"], cluster["min_instances"], cluster["max_instances"]) == (
            "Standard_DS2_v2",
            0,
            2,
        )

    return pulumi.Output.all(
        endpoint.invoke_uri, endpoint.deployment_states, endpoint.provisioning_state
    ).apply(check)


@pulumi.runtime.test
def test_controller_config_and_secrets(mocks: RecordingMocks, tmp_path: Path) -> pulumi.Output:
    endpoint = build(tmp_path)

    def check(_: Any) -> None:
        files = inputs(mocks, "mle-batch-config")
        config = protocol.ControllerConfig.model_validate(files["files"][batch_plan.CONFIG_FILE])
        assert config.default_deployment == "linear"
        linear = config.deployments["linear"]
        assert (linear.settings.mini_batch_size, linear.settings.instance_count) == (2, 2)
        assert (
            linear.cluster.name,
            linear.cluster.max_instances,
            linear.cluster.idle_time_before_scale_down,
        ) == (
            "cpu-cluster",
            2,
            60,
        )
        # What its nodes are made from, so that a new image or size changes the config too.
        written = revealed(inputs(mocks, "mle-batch-node-templates")["secret_files"])
        template = json.loads(json.dumps(written[batch_plan.NODE_TEMPLATES_FILE]["deployments"]["linear"]))
        template["container"]["env"]["MLE_BATCH_NODE_SECRET"] = ""  # filled in for the agent only
        assert linear.template == batch_plan.template_version(template) != ""
        assert config.datastores == {
            "lake": f"{protocol.DATASTORES_ROOT}/lake",
            "workspaceblobstore": f"{protocol.DATASTORES_ROOT}/workspaceblobstore",
        }
        # Keys only: the controller's secrets file is the router's format.
        assert set(revealed(files["secret_files"])[batch_plan.SECRETS_FILE]) == set(SECRET_OUTPUTS)
        controller = inputs(mocks, "mle-batch-controller")
        # The node secret makes the controller's environment a secret as a whole (encrypted in state).
        secret = revealed(controller["env"])["MLE_BATCH_NODE_SECRET"]
        assert secret == batch_plan.node_secret(TOKEN_SECRET, "mle-batch")
        assert controller["writable_mounts"][f"{protocol.DATASTORES_ROOT}/lake"] == str(tmp_path / "lake")
        assert controller["publish"] == {"8080": 8632}

    return endpoint.provisioning_state.apply(check)


@pulumi.runtime.test
def test_node_templates(mocks: RecordingMocks, tmp_path: Path) -> pulumi.Output:
    endpoint = build(tmp_path)

    def check(_: Any) -> None:
        # A secret: the templates carry the node secret.
        written = revealed(inputs(mocks, "mle-batch-node-templates")["secret_files"])[
            batch_plan.NODE_TEMPLATES_FILE
        ]
        templates = NodeTemplates.model_validate(written)
        linear = templates.deployments["linear"]
        container = linear.container
        # Qualified by project and stack: another stack's cpu-cluster is another cluster.
        assert (linear.cluster, linear.max_instances) == ("mlendpoints-unit/cpu-cluster", 2)
        assert container["image"] == inputs(mocks, "mle-batch-linear")["image"]
        assert container["network"] == "mle-mle-batch"
        # Standard_DS2_v2: 2 cores, 7 GiB (capped by the host: half its memory at most).
        assert (container["nano_cpus"], container["mem_limit_mb"]) == (2 * 10**9, 7 * 1024)
        env = container["env"]
        assert env["MLE_BATCH_CONTROLLER_URL"] == "http://mle-batch-controller:8081"
        assert env["MLE_BATCH_NODE_SECRET"] == batch_plan.node_secret(TOKEN_SECRET, "mle-batch")
        assert (env["MLE_BATCH_PROCESSES"], env["AZUREML_ENTRY_SCRIPT"]) == ("2", "batch_driver.py")
        assert container["mounts"][CODE_MOUNT] == str(ROOT / "examples/batch/code")
        # What `mle batch preempt` goes by: the example cluster is dedicated.
        assert container["labels"][batch_plan.TIER_LABEL] == "dedicated"
        assert container["writable_mounts"] == {
            f"{protocol.DATASTORES_ROOT}/lake": str(tmp_path / "lake"),
            f"{protocol.DATASTORES_ROOT}/workspaceblobstore": str(tmp_path / "ds"),
        }
        agent = inputs(mocks, "mle-batch-agent")
        assert agent["owns"] == [
            {"io.mlendpoints.endpoint": "mle-batch", "io.mlendpoints.role": role} for role in ("node", "step")
        ]
        assert agent["env"]["MLE_AGENT_NODE_SOCKET"] == batch_plan.AGENT_SOCKET
        # The secret is in no plain input of the agent.
        assert batch_plan.node_secret(TOKEN_SECRET, "mle-batch") not in json.dumps(agent)

    return endpoint.provisioning_state.apply(check)


def test_node_secret_is_bound_to_the_endpoint() -> None:
    assert batch_plan.node_secret("s", "a") != batch_plan.node_secret("s", "b")
    assert batch_plan.node_secret("s", "a") != batch_plan.node_secret("t", "a")
    assert batch_plan.node_secret("s", "a") == batch_plan.node_secret("s", "a")
