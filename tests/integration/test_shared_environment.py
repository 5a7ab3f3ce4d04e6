"""Deployments that share an environment, on an empty wheel cache with no image: one `pulumi up`.

On a fresh machine, two deployments of one environment used to build the same image tag at the
same moment into one wheel folder, and one of them failed (torn or missing wheels).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest

from components import environments
from tests.integration.fixtures.tiny_endpoint import local_stack
from tests.integration.pulumi_stack import TempStack
from tests.integration.scoring import post_score

pytestmark = pytest.mark.integration
ENDPOINT = "it-shared"
PLAIN = Path(__file__).parent / "fixtures" / "plain"
# A tiny package of its own, so the image is one no other test builds.
REQUIREMENT = "six==1.16.0"


def _deployment(name: str, conda: Path) -> dict[str, Any]:
    return {
        "name": name,
        "endpoint_name": ENDPOINT,
        "code_configuration": {"code": str(PLAIN), "scoring_script": "score.py"},
        "environment": {"image": environments.DEFAULT_BASE_IMAGE, "conda_file": str(conda)},
        "instance_type": "Standard_DS1_v2",
        "instance_count": 1,
    }


@pytest.mark.parametrize("deployments", [2, 3])
def test_shared_environment_builds_once_on_a_fresh_cache(tmp_path: Path, deployments: int) -> None:
    conda = tmp_path / "conda.yaml"
    conda.write_text(f"dependencies:\n  - python=3.11\n  - pip:\n      - {REQUIREMENT}\n")
    tag = environments.image_tag(environments.plan_environment(conda_file=conda))
    client = docker.from_env()
    with contextlib.suppress(docker.errors.ImageNotFound):
        client.images.remove(tag)  # no image: it must be built during this `pulumi up`
    names = ["blue", "green", "teal"][:deployments]
    serving = {
        "endpoints": [{"name": ENDPOINT, "auth_mode": "key", "traffic": {names[0]: 100}}],
        "deployments": [_deployment(name, conda) for name in names],
    }
    cache = tmp_path / "cache"  # an empty wheel cache, private to this test
    stack = TempStack.create(local_stack(serving), env={"MLENDPOINTS_CACHE": str(cache)})
    try:
        stack.up()
        out = stack.outputs(show_secrets=True)
        for name in names:
            status, body = post_score(out[f"{ENDPOINT}.scoring_uri"], out[f"{ENDPOINT}.primary_key"], name)
            assert status == 200, body
        assert client.images.get(tag)
        assert any(cache.joinpath("wheels").glob("six-1.16.0-*.whl"))
    finally:
        stack.destroy_and_remove()
