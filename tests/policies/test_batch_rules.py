"""Batch rules as plain functions: resources that violate each rule and resources that pass."""

from __future__ import annotations

from typing import Any

import pytest

from policies.adapters import UNKNOWN
from policies.batch_rules import (
    batch_compute_exists,
    batch_default_deployment_exists,
    batch_instances_within_cluster,
    batch_low_priority_in_production,
    batch_retry_settings_in_bounds,
    batch_settings_valid,
    production_error_threshold,
)


def cluster(name: str = "cpu", **kw: Any) -> dict[str, Any]:
    base = {
        "kind": "compute_cluster",
        "name": name,
        "size": "Standard_DS3_v2",
        "tier": "dedicated",
        "low_priority": False,
        "min_instances": 0,
        "max_instances": 4,
        "idle_s": 120,
        "public_ip": False,
        "target": "local",
        "stack": "dev",
        "urn": f"urn:{name}",
        "type": "mlendpoints:batch:ComputeCluster",
    }
    return base | kw


def batch_endpoint(name: str = "scoring", **kw: Any) -> dict[str, Any]:
    base = {
        "kind": "batch_endpoint",
        "name": name,
        "auth_mode": "aad_token",
        "public_network_access": None,
        "default_deployment": "nightly",
        "target": "local",
        "stack": "dev",
        "urn": f"urn:{name}",
        "type": "mlendpoints:batch:BatchEndpoint",
    }
    return base | kw


def batch_deployment(name: str = "nightly", **kw: Any) -> dict[str, Any]:
    base = {
        "kind": "batch_deployment",
        "name": name,
        "endpoint_name": "scoring",
        "compute": "cpu",
        "instance_count": 2,
        "cluster_max_instances": 4,
        "image": "mlendpoints/serving:0123456789abcdef01234567",
        "target": "local",
        "mini_batch_size": 10,
        "max_concurrency_per_instance": 1,
        "output_action": "append_row",
        "output_file_name": "predictions.csv",
        "max_retries": 3,
        "timeout_s": 30,
        "error_threshold": -1,
        "logging_level": "info",
        "stack": "dev",
        "urn": f"urn:{name}",
        "type": "mlendpoints:batch:BatchDeployment",
    }
    return base | kw


# batch-instances-within-cluster
def test_batch_instances_within_the_cluster_pass() -> None:
    assert batch_instances_within_cluster([cluster(), batch_deployment(instance_count=4)]) == []


def test_batch_instances_beyond_the_cluster_fail() -> None:
    found = batch_instances_within_cluster([cluster(max_instances=2), batch_deployment(instance_count=3)])
    assert found == [
        (
            "urn:nightly",
            "batch deployment 'scoring/nightly' asks for 3 instances (resources.instance_count) but compute "
            "cluster 'cpu' has at most 2 (max_instances), so no job can get them: lower instance_count or "
            "raise the cluster's max_instances",
        )
    ]


def test_batch_instances_are_checked_against_the_cluster_found_by_name() -> None:
    # The stack's cluster wins over the limit the component copied; other clusters do not count.
    resources = [
        cluster("big", max_instances=10),
        cluster(max_instances=2),
        batch_deployment(instance_count=3),
    ]
    [(_, msg)] = batch_instances_within_cluster(resources)
    assert "cluster 'cpu' has at most 2" in msg
    assert (
        batch_instances_within_cluster(
            [
                cluster("big", max_instances=10),
                batch_deployment(compute="big", instance_count=5, cluster_max_instances=2),
            ]
        )
        == []
    )


def test_batch_instances_fall_back_to_the_limit_the_component_passes() -> None:
    [(_, msg)] = batch_instances_within_cluster([batch_deployment(instance_count=5, cluster_max_instances=4)])
    assert "asks for 5 instances" in msg and "at most 4" in msg
    # A raw Azure deployment on a workspace cluster outside the stack: nothing to compare with.
    assert (
        batch_instances_within_cluster([batch_deployment(instance_count=5, cluster_max_instances=None)]) == []
    )


def test_batch_instances_with_unknowns_are_not_judged() -> None:
    assert (
        batch_instances_within_cluster([cluster(max_instances=UNKNOWN), batch_deployment(instance_count=9)])
        == []
    )
    assert (
        batch_instances_within_cluster([cluster(max_instances=1), batch_deployment(instance_count=UNKNOWN)])
        == []
    )
    assert (
        batch_instances_within_cluster(
            [cluster(max_instances=1), batch_deployment(compute=UNKNOWN, cluster_max_instances=None)]
        )
        == []
    )


# batch-compute-exists
def test_batch_compute_defined_in_the_stack_passes() -> None:
    assert batch_compute_exists([cluster(), batch_deployment()]) == []


def test_batch_compute_missing_from_the_stack_fails() -> None:
    found = batch_compute_exists([cluster(), cluster("gpu-a"), batch_deployment(compute="gpu")])
    assert found == [
        (
            "urn:nightly",
            "batch deployment 'scoring/nightly' runs on compute 'gpu', which is not a compute cluster "
            "of this stack (clusters: cpu, gpu-a); on the local target jobs run only on the stack's own "
            "clusters",
        )
    ]
    [(_, msg)] = batch_compute_exists([batch_deployment(target=None)])
    assert "(clusters: none)" in msg


def test_batch_compute_on_azure_may_be_a_workspace_cluster() -> None:
    assert batch_compute_exists([batch_deployment(compute="gpu", target="azure")]) == []
    assert batch_compute_exists([batch_deployment(compute="gpu", target="azure")], targets=("azure",)) != []


def test_batch_compute_with_unknown_cluster_names_is_not_judged() -> None:
    assert batch_compute_exists([cluster(UNKNOWN), batch_deployment(compute="gpu")]) == []
    assert batch_compute_exists([batch_deployment(compute=UNKNOWN)]) == []


# batch-default-deployment-exists
def test_batch_default_deployment_of_the_endpoint_passes() -> None:
    assert batch_default_deployment_exists([batch_endpoint(), batch_deployment()]) == []
    assert batch_default_deployment_exists([batch_endpoint(default_deployment=None)]) == []


def test_batch_default_deployment_not_of_the_endpoint_fails() -> None:
    other = batch_deployment("hourly", endpoint_name="other")
    found = batch_default_deployment_exists([batch_endpoint(), batch_deployment("daily"), other])
    assert found == [
        (
            "urn:scoring",
            "batch endpoint 'scoring' default deployment 'nightly' is not one of its deployments (daily); "
            "invocations that name no deployment would fail",
        )
    ]


def test_batch_default_deployment_with_unknowns_is_not_judged() -> None:
    assert batch_default_deployment_exists([batch_endpoint(default_deployment=UNKNOWN)]) == []
    assert batch_default_deployment_exists([batch_endpoint(), batch_deployment(UNKNOWN)]) == []
    assert batch_default_deployment_exists([batch_endpoint(), batch_deployment(endpoint_name=UNKNOWN)]) == []


# batch-low-priority-in-production
def test_low_priority_cluster_in_production_is_warned() -> None:
    low = cluster(tier="low_priority", low_priority=True)
    found = batch_low_priority_in_production([low, batch_deployment(stack="prod")])
    assert found == [
        (
            "urn:nightly",
            "batch deployment 'scoring/nightly' on production stack 'prod' runs on low-priority cluster "
            "'cpu': its nodes can be preempted at any time, and Azure cancels a job whose whole cluster is "
            "preempted; use tier: dedicated",
        )
    ]


def test_low_priority_outside_production_and_dedicated_in_production_pass() -> None:
    low = cluster(tier="low_priority", low_priority=True)
    assert batch_low_priority_in_production([low, batch_deployment(stack="dev")]) == []
    assert batch_low_priority_in_production([cluster(), batch_deployment(stack="prod")]) == []
    assert batch_low_priority_in_production([low, batch_deployment(stack="prod", compute="gpu")]) == []
    assert (
        batch_low_priority_in_production([cluster(low_priority=UNKNOWN), batch_deployment(stack="prod")])
        == []
    )
    assert (
        batch_low_priority_in_production([low, batch_deployment(stack="live")], production_pattern="live")
        != []
    )


# batch-settings-valid
def test_azure_default_batch_settings_are_valid() -> None:
    assert batch_settings_valid(batch_deployment()) == []
    assert batch_settings_valid(batch_deployment(error_threshold=0, max_retries=0, timeout_s=0.5)) == []


def test_batch_settings_azure_refuses_fail() -> None:
    bad = batch_deployment(
        instance_count=0,
        mini_batch_size=0,
        max_concurrency_per_instance=0,
        max_retries=-1,
        error_threshold=-2,
        timeout_s=0,
        output_action="append",
    )
    assert batch_settings_valid(bad) == [
        "batch deployment 'scoring/nightly' resources.instance_count is 0; it must be at least 1",
        "batch deployment 'scoring/nightly' mini_batch_size is 0; it must be at least 1",
        "batch deployment 'scoring/nightly' max_concurrency_per_instance is 0; it must be at least 1",
        "batch deployment 'scoring/nightly' retry_settings.max_retries is -1; it must be at least 0",
        "batch deployment 'scoring/nightly' error_threshold is -2; it must be at least -1 "
        "(-1 ignores every failure)",
        "batch deployment 'scoring/nightly' retry_settings.timeout is 0 s; it must be more than 0",
        "batch deployment 'scoring/nightly' output_action is 'append'; use one of append_row, summary_only",
    ]


def test_unknown_batch_settings_are_not_judged() -> None:
    unknown = {
        k: UNKNOWN for k in ("instance_count", "error_threshold", "timeout_s", "output_action", "max_retries")
    }
    assert batch_settings_valid(batch_deployment(**unknown)) == []
    assert batch_retry_settings_in_bounds(batch_deployment(**unknown)) == []
    assert production_error_threshold(batch_deployment(stack="prod", **unknown)) == []


# batch-retry-settings-in-bounds
@pytest.mark.parametrize("timeout", [1, 30, 86_400])
def test_batch_timeout_within_bounds_passes(timeout: float) -> None:
    assert batch_retry_settings_in_bounds(batch_deployment(timeout_s=timeout)) == []


@pytest.mark.parametrize(("timeout", "shown"), [(0.5, "0.5"), (86_401, "86401"), (604_800, "604800")])
def test_batch_timeout_out_of_bounds_is_warned(timeout: float, shown: str) -> None:
    assert batch_retry_settings_in_bounds(batch_deployment(timeout_s=timeout)) == [
        f"batch deployment 'scoring/nightly' retry_settings.timeout is {shown} s per mini-batch; "
        "keep it within 1 to 86400 s"
    ]


def test_batch_retries_beyond_bounds_are_warned_and_bounds_configurable() -> None:
    assert batch_retry_settings_in_bounds(batch_deployment(max_retries=50)) == [
        "batch deployment 'scoring/nightly' retry_settings.max_retries is 50; keep it at most 10 "
        "(each retry reruns the whole mini-batch)"
    ]
    assert batch_retry_settings_in_bounds(batch_deployment(max_retries=50), max_retries=50) == []
    assert batch_retry_settings_in_bounds(batch_deployment(timeout_s=10), min_timeout_s=60.0) != []


def test_invalid_timeout_is_left_to_the_mandatory_rule() -> None:
    assert batch_retry_settings_in_bounds(batch_deployment(timeout_s=0, max_retries=-1)) == []


# batch-error-threshold-in-production
def test_error_threshold_minus_one_is_warned_in_production() -> None:
    assert production_error_threshold(batch_deployment(stack="prod-eu")) == [
        "batch deployment 'scoring/nightly' has error_threshold -1 on production stack 'prod-eu': "
        "a job whose every file fails still succeeds, with no rows; set the number of failed files a job "
        "may tolerate (0 for none)"
    ]


def test_error_threshold_set_or_outside_production_passes() -> None:
    assert production_error_threshold(batch_deployment(stack="dev")) == []
    assert production_error_threshold(batch_deployment(stack="prod", error_threshold=0)) == []
    assert production_error_threshold(batch_deployment(stack="prod", error_threshold=100)) == []
