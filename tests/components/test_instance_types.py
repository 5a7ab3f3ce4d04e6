"""Instance types of Kubernetes computes: declared in stack config (defaultinstancetype built in)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

from components.errors import SpecError, SpecWarning
from components.instance_types import parse_instance_types
from components.quota import demands_from_stack
from components.stack_config import load_stack_config
from components.targets.local import plan as local_plan

GOOD = Path(__file__).parent / "fixtures" / "good"


def _stack(instance_type: str, types: Any = None) -> Any:
    deployment = {"file": "k8s-deployment.yml", "resources": None, "instance_type": instance_type}
    config = {"endpoints": ["k8s-endpoint.yml"], "deployments": [deployment]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SpecWarning)
        return load_stack_config(config, GOOD, target="local", instance_types=types)


def test_defaultinstancetype_is_azures_definition() -> None:
    types, problems = parse_instance_types(None)
    assert problems == []
    default = types["defaultinstancetype"]
    assert default.requests is not None and (default.requests.cpu, default.requests.memory) == ("100m", "2Gi")
    assert default.limits is not None and (default.limits.cpu, default.limits.memory) == ("2", "2Gi")
    spec = _stack("defaultinstancetype").online_endpoint("fixture-k8s").deployment("canary")
    assert spec.resources == default
    # Its limits size the local container (capped by this 1-core host) and count in the quota.
    assert local_plan.deployment_limits(spec, 1, 8192)[:2] == (int(1e9), 2048)
    assert [
        (w.cores, w.memory_gb) for w in demands_from_stack(_stack("defaultinstancetype"), "local").workloads
    ] == [(10, 10)]  # max_instances 5 x 2 cores, 5 x 2 GiB


def test_declared_instance_types_size_deployments_that_name_them() -> None:
    types = {
        "gpu-small": {"resources": {"requests": {"cpu": "500m"}, "limits": {"cpu": "1500m", "memory": "3Gi"}}}
    }
    spec = _stack("gpu-small", types).online_endpoint("fixture-k8s").deployment("canary")
    assert spec.resources is not None and spec.resources.limits is not None
    assert (spec.resources.limits.cpu, spec.resources.limits.memory) == ("1500m", "3Gi")
    # A deployment with its own `resources` keeps them.
    own = load_stack_config(
        {
            "endpoints": ["k8s-endpoint.yml"],
            "deployments": [{"file": "k8s-deployment.yml", "instance_type": "gpu-small"}],
        },
        GOOD,
        instance_types=types,
    )
    kept = own.online_endpoint("fixture-k8s").deployment("canary")
    assert (
        kept.resources is not None and kept.resources.limits is not None and kept.resources.limits.cpu == "1"
    )
    assert kept.resources.requests is not None and kept.resources.requests.cpu == "500m"


def test_an_undeclared_instance_type_warns_and_runs_the_default_size() -> None:
    deployment = {"file": "k8s-deployment.yml", "resources": None, "instance_type": "bigone"}
    with pytest.warns(SpecWarning) as caught:
        load_stack_config(
            {"endpoints": ["k8s-endpoint.yml"], "deployments": [deployment]}, GOOD, target="local"
        )
    assert any("'bigone' is a Kubernetes instance type, not a VM size" in str(w.message) for w in caught)


def test_bad_declarations_name_their_field() -> None:
    types = {"tiny": {"resources": {"limits": {"cpu": "a lot"}}}, "odd": {"size": 3}}
    with pytest.raises(SpecError) as caught:
        _stack("tiny", types)
    found = [str(problem) for problem in caught.value.problems]
    assert "stack config: instance_types.odd: must be {resources: {requests: ..., limits: ...}}" in found
    assert any(p.startswith("stack config: instance_types.tiny.resources.limits.cpu: ") for p in found), found
    with pytest.warns(SpecWarning, match="nodeSelector: not applied"):
        parse_instance_types(
            {"labelled": {"resources": {"limits": {"cpu": "1"}}, "nodeSelector": {"pool": "a"}}}
        )
