"""Edge shapes on the real engine: an endpoint with no deployment yet, and the longest names Azure allows."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import docker
import pytest

from tests.integration.fixtures.tiny_endpoint import tiny_serving
from tests.integration.pulumi_stack import TempStack

pytestmark = pytest.mark.integration
EMPTY = "it-empty"
# 32 characters each, Azure's longest: the instance's container name must still be a DNS label,
# because the router finds instances by name.
LONG_ENDPOINT = "it-long-endpoint-name-0123456789"
LONG_DEPLOYMENT = "blue-deployment-with-a-long-name"


def _post(uri: str, key: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        uri,
        data=b'{"data": [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]]}',
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_empty_endpoint_and_longest_names() -> None:
    assert len(LONG_ENDPOINT) == 32 and len(LONG_DEPLOYMENT) == 32
    serving = tiny_serving(LONG_ENDPOINT)
    serving["endpoints"][0]["traffic"] = {LONG_DEPLOYMENT: 100}
    serving["deployments"][0]["name"] = LONG_DEPLOYMENT
    # Azure ML lets an endpoint exist before its first deployment.
    serving["endpoints"].append({"name": EMPTY, "auth_mode": "key"})
    stack = TempStack.create(
        {
            "mlendpoints:target": "local",
            "mlendpoints:serving": serving,
            "mlendpoints:quota": {"total_cores": 8, "total_memory_gb": 32},
        }
    )
    try:
        stack.up()
        out = stack.outputs(show_secrets=True)

        status, body = _post(out[f"{LONG_ENDPOINT}.scoring_uri"], out[f"{LONG_ENDPOINT}.primary_key"])
        assert status == 200 and body["model"] == "blue", body
        [instance] = docker.from_env().containers.list(
            filters={"label": f"io.mlendpoints.deployment={LONG_DEPLOYMENT}"}
        )
        assert len(instance.name) <= 63

        assert out[f"{EMPTY}.deployments"] == {}
        status, body = _post(out[f"{EMPTY}.scoring_uri"], out[f"{EMPTY}.primary_key"])
        assert status == 503 and "traffic" in body["message"], body
        assert stack.preview("--expect-no-changes")["_returncode"] == 0
    finally:
        stack.destroy_and_remove()
    client = docker.from_env()
    for name in (EMPTY, LONG_ENDPOINT):
        assert not client.containers.list(all=True, filters={"label": f"io.mlendpoints.endpoint={name}"})
