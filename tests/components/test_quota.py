"""Quota math against Azure's documented examples, and QuotaCheck under Pulumi mocks."""

# ruff: noqa: RUF001 - the quota messages print a real multiplication sign

from __future__ import annotations

import pulumi
import pytest

from components.errors import SpecError
from components.quota import (
    ClusterDemand,
    DeploymentDemand,
    PreviousShape,
    QuotaCheck,
    QuotaCheckArgs,
    QuotaDemands,
    QuotaLimits,
    WorkloadDemand,
    check_quota,
    demands_from_stack,
    reserved_instances,
    totals,
)
from components.specs import AmlComputeSpec, OnlineDeploymentSpec, OnlineEndpointSpec
from components.stack_config import OnlineEndpointGroup, StackSpec
from tests.pulumi_mocks import RecordingMocks

DSV2 = "standardDSv2Family"


def demands(*deployments: DeploymentDemand, clusters: tuple[ClusterDemand, ...] = ()) -> QuotaDemands:
    return QuotaDemands(deployments=deployments, clusters=clusters)


def ds3(name: str = "blue", count: int = 10, **kw: object) -> DeploymentDemand:
    return DeploymentDemand(name=name, instance_type="Standard_DS3_v2", instance_count=count, **kw)


# https://learn.microsoft.com/azure/machine-learning/how-to-manage-quotas#virtual-machine-quota-allocation-for-deployment
# "if you request 10 instances of a Standard_DS3_v2 VM (that comes with four cores) in a deployment,
# you should have a quota for 48 cores (12 instances * 4 cores) available."
def test_documented_example_needs_48_cores() -> None:
    assert totals(demands(ds3()))["cores_by_family"] == {DSV2: 48}


def test_message_shows_the_arithmetic() -> None:
    [violation] = check_quota(demands(ds3()), QuotaLimits(family_cores={DSV2: 40}))
    assert violation.message == "needs 48 cores of standardDSv2Family: ceil(1.2×10)=12 × 4; available 40"
    assert (violation.required, violation.available, violation.scope) == (48, 40, f"family:{DSV2}")


def test_exactly_enough_quota_fits() -> None:
    assert check_quota(demands(ds3()), QuotaLimits(family_cores={DSV2: 48})) == []


@pytest.mark.parametrize(("count", "reserved"), [(0, 0), (1, 2), (3, 4), (4, 5), (5, 6), (10, 12), (25, 30)])
def test_reserve_rounds_up_in_exact_integers(count: int, reserved: int) -> None:
    assert reserved_instances(count) == reserved


# The "Skip 20% Reservation" column of the managed online endpoints SKU list marks A100/H100/ND sizes:
# https://learn.microsoft.com/azure/machine-learning/reference-managed-online-endpoints-vm-sku-list
def test_exempt_sku_skips_the_reserve() -> None:
    gpu = DeploymentDemand(name="llm", instance_type="Standard_NC24ads_A100_v4", instance_count=2)
    [violation] = check_quota(demands(gpu), QuotaLimits(family_cores={"standardNCADSA100v4Family": 24}))
    assert violation.message == "needs 48 cores of standardNCADSA100v4Family: 2 × 24; available 24"


def test_sku_names_are_case_insensitive() -> None:
    upper = DeploymentDemand(name="blue", instance_type="STANDARD_DS3_V2", instance_count=10)
    assert totals(demands(upper))["cores_by_family"] == {DSV2: 48}


def test_deployments_of_one_family_add_up_and_each_shows_its_share() -> None:
    [violation] = check_quota(demands(ds3("blue", 10), ds3("green", 2)), QuotaLimits(family_cores={DSV2: 50}))
    assert violation.message == (
        "needs 60 cores of standardDSv2Family: ceil(1.2×10)=12 × 4 [blue] + ceil(1.2×2)=3 × 4 [green]; "
        "available 50"
    )


def test_families_are_checked_separately() -> None:
    fsv2 = DeploymentDemand(name="green", instance_type="Standard_F4s_v2", instance_count=3)
    limits = QuotaLimits(family_cores={DSV2: 48, "standardFSv2Family": 8})
    [violation] = check_quota(demands(ds3(), fsv2), limits)
    assert violation.message == "needs 16 cores of standardFSv2Family: ceil(1.2×3)=4 × 4; available 8"


def test_update_counts_old_and_new_instances_together() -> None:
    updating = ds3("blue", 3, previous=PreviousShape(instance_type="Standard_DS2_v2", instance_count=3))
    assert totals(demands(updating))["cores_by_family"] == {DSV2: 4 * 4 + 4 * 2}
    [violation] = check_quota(demands(updating), QuotaLimits(family_cores={DSV2: 16}))
    assert violation.message == (
        "needs 24 cores of standardDSv2Family: ceil(1.2×3)=4 × 4 [blue] "
        "+ ceil(1.2×3)=4 × 2 [blue (previous)]; available 16"
    )


def test_compute_cluster_counts_max_instances_in_the_same_family() -> None:
    cluster = ClusterDemand(name="cpu-cluster", size="Standard_DS3_v2", max_instances=4)
    assert totals(demands(ds3(), clusters=(cluster,)))["cores_by_family"] == {DSV2: 48 + 16}
    [violation] = check_quota(demands(clusters=(cluster,)), QuotaLimits(family_cores={DSV2: 8}))
    assert violation.message == "needs 16 cores of standardDSv2Family: max 4 × 4; available 8"


def test_low_priority_cluster_uses_its_own_quota() -> None:
    cluster = ClusterDemand(name="spot", size="Standard_DS3_v2", max_instances=4, low_priority=True)
    limits = QuotaLimits(family_cores={DSV2: 0}, low_priority_cores=10)
    [violation] = check_quota(demands(clusters=(cluster,)), limits)
    assert violation.message == "needs 16 low-priority cores: max 4 × 4; available 10"
    assert totals(demands(clusters=(cluster,)))["low_priority_cores"] == 16


def test_total_cores_limit() -> None:
    [violation] = check_quota(demands(ds3()), QuotaLimits(total_cores=32))
    assert violation.message == "needs 48 cores in total: ceil(1.2×10)=12 × 4; available 32"


def test_local_and_kubernetes_have_no_reserve_and_check_memory() -> None:
    local = ds3("blue", 2, target="local")
    limits = QuotaLimits(total_cores=8, total_memory_gb=16)
    [violation] = check_quota(demands(local), limits)
    assert violation.message == "needs 28 GB of memory: 2 × 14; available 16"
    assert totals(demands(local))["total_cores"] == 8


def test_workloads_count_their_own_limits() -> None:
    workload = WorkloadDemand(name="router", cores=1.5, memory_gb=0.5)
    found = check_quota(QuotaDemands(workloads=(workload,)), QuotaLimits(total_cores=1))
    assert [v.message for v in found] == ["needs 1.5 cores in total: 1.5; available 1"]


def test_unlisted_family_is_not_checked() -> None:
    assert check_quota(demands(ds3()), QuotaLimits(family_cores={"standardFSv2Family": 0})) == []


def test_unknown_instance_type_names_the_field_and_suggests_sizes() -> None:
    typo = DeploymentDemand(name="blue", instance_type="Standard_DS3_v9", instance_count=1)
    with pytest.raises(SpecError) as err:
        check_quota(demands(typo), QuotaLimits())
    assert "blue.instance_type" in str(err.value)
    assert "Standard_DS3_v2" in str(err.value)


def _stack() -> StackSpec:
    image = {"image": "python:3.11@sha256:" + "a" * 64}
    blue = {
        "name": "blue",
        "endpoint_name": "churn",
        "instance_type": "Standard_DS3_v2",
        "instance_count": 10,
    }
    green = {
        "name": "green",
        "endpoint_name": "churn",
        "kind": "kubernetes",
        "instance_type": "Standard_DS3_v2",
        "scale_settings": {"type": "target_utilization", "min_instances": 1, "max_instances": 4},
    }
    deployments = tuple(
        OnlineDeploymentSpec.model_validate(d | {"environment": image}) for d in (blue, green)
    )
    group = OnlineEndpointGroup(endpoint=OnlineEndpointSpec(name="churn"), deployments=deployments)
    spot = AmlComputeSpec(name="spot", size="Standard_F4s_v2", max_instances=3, tier="low_priority")
    return StackSpec(online=(group,), computes=(AmlComputeSpec(name="cpu", max_instances=4), spot))


def test_demands_from_a_validated_stack_on_azure() -> None:
    previous = {"churn/blue": PreviousShape(instance_type="Standard_DS2_v2", instance_count=2)}
    found = demands_from_stack(_stack(), "azure", previous)
    # The kubernetes-kind deployment runs on an attached cluster, outside the VM-family quota.
    assert [(d.name, d.instance_count, d.previous) for d in found.deployments] == [
        ("churn/blue", 10, previous["churn/blue"])
    ]
    assert [(c.name, c.max_instances, c.low_priority) for c in found.clusters] == [
        ("cpu", 4, False),
        ("spot", 3, True),
    ]
    assert totals(found) == {
        "cores_by_family": {DSV2: 48 + 3 * 2 + 16},
        "total_cores": 70,
        "total_memory_gb": 12 * 14 + 3 * 7 + 4 * 14,
        "low_priority_cores": 12,
    }


def test_demands_from_a_stack_on_kubernetes_count_autoscale_maximum() -> None:
    found = demands_from_stack(_stack(), "kubernetes")
    assert [(d.name, d.instance_count) for d in found.deployments] == [("churn/blue", 10), ("churn/green", 4)]
    # Off Azure a low-priority node takes cores like any other: the spot cluster counts (3 nodes of 4 cores).
    assert totals(found)["cores_by_family"] == {DSV2: 40 + 16 + 16, "standardFSv2Family": 12}
    assert totals(found)["low_priority_cores"] == 0


def _after_check(check: QuotaCheck) -> pulumi.CustomResource:
    # Stands in for an endpoint component that the lead wires to depend on the check.
    return pulumi.CustomResource("test:index:Endpoint", "ep", {}, pulumi.ResourceOptions(depends_on=[check]))


def test_quota_check_fails_before_anything_registers(pulumi_mocks: RecordingMocks) -> None:
    args = QuotaCheckArgs(demands=demands(ds3()), limits=QuotaLimits(family_cores={DSV2: 40}))
    with pytest.raises(SpecError) as err:
        _after_check(QuotaCheck("quota", args))
    assert "needs 48 cores of standardDSv2Family: ceil(1.2×10)=12 × 4; available 40" in str(err.value)
    assert str(err.value).startswith("quota: ")
    assert pulumi_mocks.resources == []


@pulumi.runtime.test
def test_quota_check_that_fits_registers_its_totals(pulumi_mocks: RecordingMocks) -> pulumi.Output:
    args = QuotaCheckArgs(demands=demands(ds3()), limits=QuotaLimits(family_cores={DSV2: 48}))
    check = QuotaCheck("quota", args)
    endpoint = _after_check(check)

    def verify(values: list) -> None:
        cores, total, _, _ = values
        assert cores == {DSV2: 48}
        assert total == 48
        # Mocks register concurrently, so only presence (not order) is observable here.
        assert {r.type_ for r in pulumi_mocks.resources} == {
            "mlendpoints:quota:QuotaCheck",
            "test:index:Endpoint",
        }
        [registered] = pulumi_mocks.of_type("mlendpoints:quota:QuotaCheck")
        assert registered.inputs["limits"]["family_cores"] == {DSV2: 48}

    # Waiting on both registrations makes sure they reached the mocks before verify runs.
    return pulumi.Output.all(check.cores_by_family, check.total_cores, check.urn, endpoint.id).apply(verify)
