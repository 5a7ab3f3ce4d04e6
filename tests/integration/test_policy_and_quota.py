"""The real `pulumi preview --policy-pack policies` and the QuotaCheck, on throwaway stacks."""

from __future__ import annotations

import json
from pathlib import Path

import docker
import pytest

from tests.integration.fixtures.tiny_endpoint import local_stack, tiny_serving
from tests.integration.pulumi_stack import REPO, TempStack

pytestmark = pytest.mark.integration
POLICIES = str(REPO / "policies")


def _config(endpoint: str, **serving_kwargs: int | str) -> dict[str, object]:
    return local_stack(tiny_serving(endpoint, **serving_kwargs))  # type: ignore[arg-type]


def test_clean_stack_passes_the_pack() -> None:
    stack = TempStack.create(_config("it-clean"))
    try:
        result = stack.run("preview", "--stack", stack.name, "--policy-pack", POLICIES, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "mlendpoints@v0.1.0" in result.stdout
        assert "mandatory" not in result.stdout
    finally:
        stack.destroy_and_remove()


def test_violating_stack_fails_preview_naming_the_rules(tmp_path: Path) -> None:
    # A production stack (by name) with one instance, on a stack the pack is told is private.
    stack = TempStack.create(_config("it-prod", instance_count=1), prefix="prod-it")
    config = tmp_path / "policy-config.json"
    config.write_text(json.dumps({"no-public-network-access": {"private": True}}))
    try:
        result = stack.run(
            "preview",
            "--stack",
            stack.name,
            "--policy-pack",
            POLICIES,
            "--policy-pack-config",
            str(config),
            check=False,
        )
        out = result.stdout + result.stderr
        assert result.returncode != 0, out
        assert "production-min-instances" in out
        assert "no-public-network-access" in out
        assert "mandatory" in out
    finally:
        stack.destroy_and_remove()


def test_quota_that_does_not_fit_stops_before_anything_exists() -> None:
    config = _config("it-quota", instance_count=10, instance_type="Standard_DS3_v2")
    config["mlendpoints:quota"] = {"total_cores": 8}
    stack = TempStack.create(config)
    try:
        result = stack.run("up", "--stack", stack.name, "--yes", "--skip-preview", check=False)
        out = result.stdout + result.stderr
        assert result.returncode != 0, out
        # Local/k8s quota counts instances x cores: 10 x 4 = 40 of 8.
        assert "needs 40 cores" in out and "available 8" in out, out
        assert "Traceback" not in out
        exported = json.loads(stack.run("stack", "export", "--stack", stack.name).stdout)
        types = [r["type"] for r in exported["deployment"].get("resources", [])]
        assert types in ([], ["pulumi:pulumi:Stack"]), f"nothing may be created, found {types}"
        client = docker.from_env()
        assert not client.containers.list(all=True, filters={"label": "io.mlendpoints.endpoint=it-quota"})
        assert not client.networks.list(filters={"label": "io.mlendpoints.endpoint=it-quota"})
    finally:
        stack.destroy_and_remove()


def _batch_serving(instance_count: int) -> dict[str, object]:
    """The example batch endpoint, its deployment asking for `instance_count` nodes of a 2-node cluster."""
    return {
        "computes": ["examples/batch/cluster.yml"],
        "endpoints": [{"file": "examples/batch/endpoint.yml", "name": "it-batch-policy"}],
        "deployments": [
            {
                "file": "examples/batch/deployment.yml",
                "endpoint_name": "it-batch-policy",
                "resources": {"instance_count": instance_count},
            }
        ],
    }


@pytest.mark.parametrize(("instance_count", "violates"), [(2, False), (3, True)])
def test_the_pack_reviews_batch_components_with_their_real_props(instance_count: int, violates: bool) -> None:
    # Stack policies see a component's outputs only: the batch rules need the props there.
    stack = TempStack.create(local_stack(_batch_serving(instance_count)))
    try:
        result = stack.run("preview", "--stack", stack.name, "--policy-pack", POLICIES, check=False)
        out = result.stdout + result.stderr
        assert (result.returncode != 0) is violates, out
        assert ("batch-instances-within-cluster" in out) is violates, out
        # Rules that read the deployments of the endpoint (none would be a false alarm).
        assert "batch-default-deployment-exists" not in out, out
    finally:
        stack.destroy_and_remove()
