"""A Kubernetes-style deployment YAML (`type: kubernetes`, requests/limits, target_utilization) on the
local target: it loads, runs min_instances containers, and its limits show in `docker inspect`."""

from __future__ import annotations

import copy

import docker
import pytest

from tests.integration.fixtures.tiny_endpoint import local_stack, tiny_serving
from tests.integration.pulumi_stack import TempStack

pytestmark = pytest.mark.integration
ENDPOINT = "it-resources"
SCHEMA = "https://azuremlschemas.azureedge.net/latest/{}.schema.json"


def test_resources_limits_become_the_containers_cpu_and_memory() -> None:
    serving = copy.deepcopy(tiny_serving(ENDPOINT))
    serving["endpoints"][0]["$schema"] = SCHEMA.format("kubernetesOnlineEndpoint")
    deployment = serving["deployments"][0]
    deployment.update(
        {
            "$schema": SCHEMA.format("kubernetesOnlineDeployment"),
            "type": "kubernetes",  # as Azure's Kubernetes deployment files write it
            "instance_type": "defaultinstancetype",
            "instance_count": None,
            "scale_settings": {
                "type": "target_utilization",
                "min_instances": 2,
                "max_instances": 3,
                "target_utilization_percentage": 70,
            },
            "resources": {
                "requests": {"cpu": "250m", "memory": "200Mi"},
                "limits": {"cpu": "0.5", "memory": "300Mi"},
            },
        }
    )
    stack = TempStack.create(local_stack(serving))
    try:
        stack.up()
        client = docker.from_env()
        found = client.containers.list(filters={"label": f"io.mlendpoints.endpoint={ENDPOINT}"})
        scorers = [c for c in found if c.labels.get("io.mlendpoints.deployment") == "blue"]
        assert len(scorers) == 2, [c.name for c in found]  # min_instances: the local target has no autoscaler
        for container in scorers:
            host = container.attrs["HostConfig"]
            assert (host["NanoCpus"], host["Memory"]) == (500_000_000, 300 * 2**20)
    finally:
        stack.destroy_and_remove()
