"""Edge shapes on the real engine: an endpoint with no deployment yet, and the longest names Azure allows."""

from __future__ import annotations

import docker
import pytest

from tests.integration.fixtures.tiny_endpoint import local_stack, tiny_serving
from tests.integration.pulumi_stack import TempStack
from tests.integration.scoring import post_score

pytestmark = pytest.mark.integration
EMPTY = "it-empty"
# 32 characters each, Azure's longest: the instance's container name must still be a DNS label,
# because the router finds instances by name.
LONG_ENDPOINT = "it-long-endpoint-name-0123456789"
LONG_DEPLOYMENT = "blue-deployment-with-a-long-name"


def test_empty_endpoint_and_longest_names() -> None:
    assert len(LONG_ENDPOINT) == 32 and len(LONG_DEPLOYMENT) == 32
    serving = tiny_serving(LONG_ENDPOINT)
    serving["endpoints"][0]["traffic"] = {LONG_DEPLOYMENT: 100}
    serving["deployments"][0]["name"] = LONG_DEPLOYMENT
    # Azure ML lets an endpoint exist before its first deployment.
    serving["endpoints"].append({"name": EMPTY, "auth_mode": "key"})
    stack = TempStack.create(local_stack(serving))
    try:
        stack.up()
        out = stack.outputs(show_secrets=True)

        status, body = post_score(out[f"{LONG_ENDPOINT}.scoring_uri"], out[f"{LONG_ENDPOINT}.primary_key"])
        assert status == 200 and body["model"] == "blue", body
        [instance] = docker.from_env().containers.list(
            filters={"label": f"io.mlendpoints.deployment={LONG_DEPLOYMENT}"}
        )
        assert len(instance.name) <= 63

        assert out[f"{EMPTY}.deployments"] == {}
        status, body = post_score(out[f"{EMPTY}.scoring_uri"], out[f"{EMPTY}.primary_key"])
        assert status == 503 and "traffic" in body["message"], body
        assert stack.preview("--expect-no-changes")["_returncode"] == 0
    finally:
        stack.destroy_and_remove()
    client = docker.from_env()
    for name in (EMPTY, LONG_ENDPOINT):
        assert not client.containers.list(all=True, filters={"label": f"io.mlendpoints.endpoint={name}"})
