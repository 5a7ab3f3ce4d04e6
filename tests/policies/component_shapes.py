"""Our batch components, run under Pulumi mocks, give the exact props the policy pack receives for them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi

from components.batch import BatchEndpoint, BatchEndpointArgs, ComputeCluster, ComputeClusterArgs
from components.specs import ModelBatchDeploymentSpec
from components.stack_config import load_stack_config
from components.targets.endpoint_keys import SECRET_OUTPUTS
from components.targets.local.target import LocalTarget
from serving.batch import protocol
from tests.pulumi_mocks import RecordingMocks, set_mocks

ROOT = Path(__file__).resolve().parents[2]
CLUSTER, ENDPOINT, DEPLOYMENT = (
    "mlendpoints:batch:ComputeCluster",
    "mlendpoints:batch:BatchEndpoint",
    "mlendpoints:batch:BatchDeployment",
)
# The local stack's batch example: cluster cpu-cluster (Standard_DS2_v2, max 2), endpoint mle-batch
# (default deployment linear), deployment linear (2 instances).
EXAMPLE = {
    "computes": "examples/batch/cluster.yml",
    "endpoints": "examples/batch/endpoint.yml",
    "deployments": "examples/batch/deployment.yml",
}


@dataclass
class _Mocks(RecordingMocks):
    """Also answers for the provider outputs the components compute with (keys, the controller's port)."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        id_, state = super().new_resource(args)
        if "publish" in state:  # a DockerContainer with published ports: the engine picks host ports
            state["ports"] = {str(protocol.PUBLIC_PORT): 49300}
        if "rotation" in state:  # EndpointKeys: the provider generates these
            state.update({name: f"{name}-{'k' * 32}" for name in SECRET_OUTPUTS})
        return id_, state


def example(**overrides: dict[str, Any]) -> dict[str, Any]:
    """The example's serving config, with keys of `computes`/`endpoints`/`deployments` replaced (az --set)."""
    return {key: [{"file": path, **overrides.get(key, {})}] for key, path in EXAMPLE.items()}


def batch_component_props(state_dir: Path, serving: dict[str, Any] | None = None) -> list[tuple[str, dict]]:
    """(type, props) of each batch component the stack program registers for `serving`, in order."""
    mocks = _Mocks()
    set_mocks(mocks, project="mlendpoints", stack="unit")
    stack = load_stack_config(serving or example(), base_dir=ROOT, target="local")

    @pulumi.runtime.test
    def run() -> pulumi.Output:
        # As stacks/__main__.py builds them: clusters first, then each endpoint with its deployments.
        clusters = {spec.name: spec for spec in stack.computes}
        waits: list[Any] = [ComputeCluster(s.name, ComputeClusterArgs(s)).urn for s in stack.computes]
        for group in stack.batch:
            models = tuple(d for d in group.deployments if isinstance(d, ModelBatchDeploymentSpec))
            target = LocalTarget(state_dir=state_dir, router_port=0)
            args = BatchEndpointArgs(group.endpoint, models, clusters, target)
            waits.append(BatchEndpoint(group.endpoint.name, args).provisioning_state)
        return pulumi.Output.all(*waits)

    run()
    return [(r.type_, r.inputs) for r in mocks.resources if r.type_ in (CLUSTER, ENDPOINT, DEPLOYMENT)]
