"""Azure ML's safe-rollout sample (../shared/conformance), YAML unchanged but for our scripts, run locally."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.conformance_scripts import ABSENT, ENDPOINTS, code_override
from tests.integration.pulumi_stack import TempStack

pytestmark = [pytest.mark.integration, pytest.mark.conformance]
CONFORMANCE = ENDPOINTS / "online"
SAMPLE = CONFORMANCE / "managed" / "sample"
# What Azure ML's own inference server answers for model-1's sample-request.json.
AZURE_ANSWER = [11055.977245525679, 4503.079536107787]


def _post(uri: str, key: str, deployment: str | None, body: bytes) -> Any:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    if deployment:
        headers["azureml-model-deployment"] = deployment
    request = urllib.request.Request(uri, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=60) as resp:
        return json.loads(resp.read())


def _deployment(name: str) -> dict[str, Any]:
    """The file as published; ../shared holds no scripts, so ours come in as the stack config's override."""
    path = SAMPLE / name
    return {"file": str(path), **code_override(path)}


def _registered_assets() -> dict[str, Any]:
    """What the sample's README registers before deploying the `-with-registered-assets` files:
    `az ml model create -n my-model -v 1 -p ../../model-1/model` (and v2 from model-2), and
    `az ml environment create -n my-env -v 1 --conda-file ../../model-1/environment/conda.yaml
    --image mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest`, as stack config entries."""
    model = {"name": "my-model", "path": str(CONFORMANCE / "model-1" / "model"), "version": 1}
    return {
        "models": [model, {**model, "version": 2, "path": str(CONFORMANCE / "model-2" / "model")}],
        "environments": [
            {
                "name": "my-env",
                "version": 1,
                "conda_file": str(CONFORMANCE / "model-1" / "environment" / "conda.yaml"),
                "image": "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest",
            }
        ],
    }


@pytest.mark.skipif(not SAMPLE.is_dir(), reason=ABSENT)
@pytest.mark.parametrize("variant", ["", "-with-registered-assets"])
def test_safe_rollout_pair_answers_like_azure(variant: str) -> None:
    serving: dict[str, Any] = {
        # The files as published; only the traffic split of the walkthrough's second step and (in
        # _deployment) our scripts are added.
        "endpoints": [{"file": str(SAMPLE / "endpoint.yml"), "traffic": {"blue": 90, "green": 10}}],
        "deployments": [
            _deployment(f"blue-deployment{variant}.yml"),
            _deployment(f"green-deployment{variant}.yml"),
        ],
    }
    if variant:
        serving.update(_registered_assets())
    config = {
        "mlendpoints:target": "local",
        "mlendpoints:serving": serving,
        "mlendpoints:quota": {"total_cores": 16, "total_memory_gb": 64},
    }
    stack = TempStack.create(config)
    try:
        stack.up()
        out = stack.outputs(show_secrets=True)
        uri, key = out["my-endpoint.scoring_uri"], out["my-endpoint.primary_key"]
        body = Path(CONFORMANCE / "model-1" / "sample-request.json").read_bytes()
        assert _post(uri, key, "blue", body) == pytest.approx(AZURE_ANSWER)
        assert _post(uri, key, "green", body) == [0.5, 0.5]
        answers = [_post(uri, key, None, body) for _ in range(50)]
        blue = sum(1 for a in answers if a == pytest.approx(AZURE_ANSWER))
        green = sum(1 for a in answers if a == [0.5, 0.5])
        assert blue + green == len(answers)
        assert blue >= 35, (blue, green)  # 90 % expected; 35 of 50 is far outside chance otherwise
    finally:
        stack.destroy_and_remove()
    leftovers = docker.from_env().containers.list(
        all=True, filters={"label": "io.mlendpoints.endpoint=my-endpoint"}
    )
    assert leftovers == []
