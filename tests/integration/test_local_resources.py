"""A Kubernetes deployment's `resources` size its containers on the local target (real engine and Docker)."""

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
            "instance_type": "defaultinstancetype",
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
        assert scorers, [c.name for c in found]
        for container in scorers:
            host = container.attrs["HostConfig"]
            assert (host["NanoCpus"], host["Memory"]) == (500_000_000, 300 * 2**20)
    finally:
        stack.destroy_and_remove()
