"""Every rule as a plain function: inputs that violate it and inputs that pass."""

# ruff: noqa: RUF001, RUF003 - the quota messages print a real multiplication sign

from __future__ import annotations

from typing import Any

import pytest

from components.quota import QuotaLimits
from policies import rules
from policies.adapters import UNKNOWN
from tests.policies.test_batch_rules import batch_deployment, batch_endpoint, cluster


def endpoint(name: str = "churn", **kw: Any) -> dict[str, Any]:
    base = {
        "kind": "online_endpoint",
        "name": name,
        "auth_mode": "key",
        "traffic": {"blue": 100},
        "mirror_traffic": {},
        "public_network_access": "disabled",
        "stack": "dev",
        "urn": f"urn:{name}",
        "type": "mlendpoints:online:OnlineEndpoint",
    }
    return base | kw


def deployment(name: str = "blue", **kw: Any) -> dict[str, Any]:
    base = {
        "kind": "online_deployment",
        "name": name,
        "endpoint_name": "churn",
        "instance_type": "Standard_DS3_v2",
        "instance_count": 3,
        "image": "scorer@sha256:" + "0" * 64,
        "request_timeout_ms": 5000,
        "probes": {"liveness": None, "readiness": None},
        "target": None,
        "previous_instance_type": None,
        "previous_instance_count": None,
        "stack": "dev",
        "urn": f"urn:{name}",
        "type": "mlendpoints:online:OnlineDeployment",
    }
    return base | kw


def probe(**kw: Any) -> dict[str, Any]:
    base = {
        "initial_delay_s": 10,
        "period_s": 10,
        "timeout_s": 2,
        "failure_threshold": 30,
        "success_threshold": 1,
    }
    return base | kw


# traffic-sums-to-100
def test_traffic_summing_to_100_passes() -> None:
    assert rules.traffic_sums_to_100(endpoint(traffic={"blue": 90, "green": 10})) == []


def test_traffic_not_summing_to_100_fails() -> None:
    [msg] = rules.traffic_sums_to_100(endpoint(traffic={"blue": 80, "green": 10}))
    assert msg == "endpoint 'churn' sends 90% of its traffic (blue=80, green=10); it must be 100%"


def test_traffic_with_out_of_range_weights_fails_even_at_100() -> None:
    [msg] = rules.traffic_sums_to_100(endpoint(traffic={"blue": 150, "green": -50}))
    assert "weights must be 0 to 100, not blue=150, green=-50" in msg


def test_empty_traffic_is_allowed_unless_configured_otherwise() -> None:
    assert rules.traffic_sums_to_100(endpoint(traffic={})) == []
    assert rules.traffic_sums_to_100(endpoint(traffic={}), allow_empty=False) != []


def test_unknown_traffic_is_skipped() -> None:
    assert rules.traffic_sums_to_100(endpoint(traffic=UNKNOWN)) == []
    assert rules.traffic_sums_to_100(endpoint(traffic={"blue": UNKNOWN})) == []


# names-only-existing-deployments
def test_traffic_naming_existing_deployments_passes() -> None:
    stack = [
        endpoint(traffic={"blue": 100}, mirror_traffic={"green": 10}),
        deployment("blue"),
        deployment("green"),
    ]
    assert rules.names_only_existing_deployments(stack) == []


def test_traffic_naming_missing_deployment_fails_on_the_endpoint() -> None:
    other = deployment("green", endpoint_name="other")
    stack = [
        endpoint(traffic={"blue": 50, "green": 50}, mirror_traffic={"shadow": 5}),
        deployment("blue"),
        other,
    ]
    assert rules.names_only_existing_deployments(stack) == [
        ("urn:churn", "endpoint 'churn' traffic names 'green', which is not one of its deployments (blue)"),
        (
            "urn:churn",
            "endpoint 'churn' mirror_traffic names 'shadow', which is not one of its deployments (blue)",
        ),
    ]


def test_unknown_endpoint_names_are_skipped() -> None:
    assert (
        rules.names_only_existing_deployments([endpoint(name=UNKNOWN), deployment(endpoint_name=UNKNOWN)])
        == []
    )


def test_deployment_of_a_not_yet_known_endpoint_still_counts_by_name() -> None:
    # Raw provider stacks often pass endpoint.name (an output) as the deployment's endpoint name.
    stack = [endpoint(traffic={"blue": 100}), deployment("blue", endpoint_name=UNKNOWN)]
    assert rules.names_only_existing_deployments(stack) == []
    stack = [endpoint(traffic={"red": 100}), deployment("blue", endpoint_name=UNKNOWN)]
    assert len(rules.names_only_existing_deployments(stack)) == 1


def test_deployment_with_unknown_name_silences_its_endpoint() -> None:
    stack = [endpoint(traffic={"blue": 100}), deployment(UNKNOWN)]
    assert rules.names_only_existing_deployments(stack) == []


# mirror-at-most-50
def test_mirror_within_limits_passes() -> None:
    assert rules.mirror_at_most_50(endpoint(traffic={"blue": 100}, mirror_traffic={"green": 50})) == []


def test_mirror_above_50_fails() -> None:
    [msg] = rules.mirror_at_most_50(endpoint(mirror_traffic={"green": 60}))
    assert msg == "endpoint 'churn' mirrors 60% to 'green'; the most allowed is 50%"


def test_mirror_to_deployment_taking_all_live_traffic_fails() -> None:
    [msg] = rules.mirror_at_most_50(endpoint(traffic={"blue": 100}, mirror_traffic={"blue": 10}))
    assert msg == "endpoint 'churn' mirrors to 'blue', which already takes 100% of live traffic"


def test_mirror_to_two_deployments_fails() -> None:
    found = rules.mirror_at_most_50(endpoint(mirror_traffic={"green": 10, "red": 10}))
    assert found == ["endpoint 'churn' mirrors to 2 deployments; Azure allows one"]


# auth-enabled
@pytest.mark.parametrize("mode", ["key", "aml_token", "aad_token"])
def test_auth_modes_pass(mode: str) -> None:
    assert rules.auth_enabled(endpoint(auth_mode=mode)) == []


@pytest.mark.parametrize(("mode", "shown"), [(None, "no auth_mode"), ("none", "auth_mode 'none'")])
def test_anonymous_endpoint_fails(mode: str | None, shown: str) -> None:
    [msg] = rules.auth_enabled(endpoint(auth_mode=mode))
    assert msg == f"endpoint 'churn' has {shown}; use one of key, aml_token, aad_token"


# valid-names
@pytest.mark.parametrize("name", ["abc", "churn-v2", "A" + "b" * 31])
def test_valid_azure_names_pass(name: str) -> None:
    assert rules.valid_names(endpoint(name=name)) == []


@pytest.mark.parametrize("name", ["ab", "1churn", "churn_v2", "a" * 33, "-churn", "churn.v2"])
def test_invalid_azure_names_fail(name: str) -> None:
    [msg] = rules.valid_names(deployment(name=name))
    assert msg.startswith(f"online deployment name '{name}' is invalid")


def test_cluster_names_follow_amlcompute_rules() -> None:
    cluster = {"kind": "compute_cluster", "name": "cpu"}
    assert rules.valid_names(cluster) == []
    assert rules.valid_names(cluster | {"name": "a-cluster-name-too-long"}) != []


# production-min-instances / min-instances
def test_production_stack_needs_three_instances() -> None:
    [msg] = rules.production_min_instances(deployment(instance_count=2, stack="prod"))
    assert msg == "deployment 'blue' runs 2 instance(s) on stack 'prod'; use at least 3"
    assert rules.production_min_instances(deployment(instance_count=3, stack="production-eu")) == []


def test_non_production_stack_is_not_held_to_the_production_rule() -> None:
    assert rules.production_min_instances(deployment(instance_count=1, stack="dev")) == []
    assert rules.production_min_instances(deployment(instance_count=1, stack="productive")) == []


def test_advisory_rule_covers_other_stacks_only() -> None:
    assert rules.nonproduction_min_instances(deployment(instance_count=1, stack="dev")) != []
    assert rules.nonproduction_min_instances(deployment(instance_count=1, stack="prod")) == []
    assert rules.nonproduction_min_instances(deployment(instance_count=3, stack="dev")) == []


def test_production_pattern_and_threshold_are_configurable() -> None:
    found = rules.production_min_instances(
        deployment(instance_count=4, stack="live"), min_instances=5, production_pattern="live"
    )
    assert found == ["deployment 'blue' runs 4 instance(s) on stack 'live'; use at least 5"]


# images-pinned
@pytest.mark.parametrize(
    "ref",
    [
        "scorer@sha256:" + "a" * 64,
        "sha256:" + "b" * 64,
        "registry:5000/team/scorer:3f2a9c1",
        "azureml:sklearn-env:3",
        "/subscriptions/s/resourceGroups/g/providers/Microsoft.MachineLearningServices/workspaces/w/environments/e/versions/2",
    ],
)
def test_pinned_images_pass(ref: str) -> None:
    assert rules.images_pinned({"kind": "image", "image": ref}) == []


@pytest.mark.parametrize(
    ("ref", "why"),
    [
        ("scorer:latest", "uses the moving tag 'latest'"),
        ("registry:5000/scorer", "has no tag"),
        ("azureml:sklearn-env@latest", "follows a label"),
        ("azureml://registries/azureml/environments/sklearn-1.5/labels/latest", "follows a label"),
    ],
)
def test_unpinned_images_fail(ref: str, why: str) -> None:
    [msg] = rules.images_pinned(deployment(image=ref))
    assert why in msg


def test_images_of_kubernetes_containers_are_checked() -> None:
    workload = {"kind": "k8s_workload", "name": "w", "containers": [{"image": "a:1"}, {"image": "busybox"}]}
    assert rules.images_pinned(workload) == [
        "image 'busybox' has no tag (Docker reads it as latest); pin a digest or a content tag"
    ]


def test_tag_pattern_can_require_content_tags() -> None:
    image = {"kind": "image", "image": "scorer:v1"}
    assert rules.images_pinned(image, tag_pattern="[0-9a-f]{7,64}") != []
    assert (
        rules.images_pinned({"kind": "image", "image": "scorer:3f2a9c1"}, tag_pattern="[0-9a-f]{7,64}") == []
    )


# request-timeout-in-bounds
def test_request_timeout_within_bounds_passes() -> None:
    assert rules.request_timeout_in_bounds(deployment(request_timeout_ms=180_000)) == []
    assert rules.request_timeout_in_bounds(deployment(request_timeout_ms=None)) == []


@pytest.mark.parametrize("timeout", [500, 180_001])
def test_request_timeout_out_of_bounds_fails(timeout: int) -> None:
    [msg] = rules.request_timeout_in_bounds(deployment(request_timeout_ms=timeout))
    assert msg == f"deployment 'blue' request timeout is {timeout} ms; keep it within 1000 to 180000 ms"


# probe-settings-in-bounds
def test_azure_default_probes_pass() -> None:
    assert (
        rules.probe_settings_in_bounds(deployment(probes={"liveness": probe(), "readiness": probe()})) == []
    )


def test_probe_out_of_bounds_fails() -> None:
    found = rules.probe_settings_in_bounds(deployment(probes={"readiness": probe(period_s=0, timeout_s=20)}))
    assert found == [
        "deployment 'blue' readiness probe period_s is 0; keep it within 1 to 300",
        "deployment 'blue' readiness probe timeout_s 20 exceeds its period_s 0",
    ]


def test_liveness_success_threshold_must_be_one() -> None:
    [msg] = rules.probe_settings_in_bounds(deployment(probes={"liveness": probe(success_threshold=2)}))
    assert "liveness probe success_threshold must be 1" in msg


def test_probes_of_kubernetes_containers_are_checked() -> None:
    workload = {
        "kind": "k8s_workload",
        "name": "w",
        "containers": [{"name": "c", "probes": {"liveness": probe(initial_delay_s=900)}}],
    }
    assert rules.probe_settings_in_bounds(workload) == [
        "container 'c' of 'w' liveness probe initial_delay_s is 900; keep it within 0 to 600"
    ]


# k8s-resource-limits
def test_containers_with_limits_pass() -> None:
    workload = {
        "kind": "k8s_workload",
        "name": "w",
        "containers": [{"name": "c", "cpu_limit": 1, "memory_limit": 1}],
    }
    assert rules.k8s_resource_limits(workload) == []


def test_container_without_limits_fails() -> None:
    containers = [{"name": "c", "cpu_limit": None, "memory_limit": 0.5}, {"name": "d", "cpu_limit": UNKNOWN}]
    found = rules.k8s_resource_limits({"kind": "k8s_workload", "name": "w", "containers": containers})
    assert found == [
        "container 'c' of 'w' has no cpu limit; set resources.limits",
        "container 'd' of 'w' has no memory limit; set resources.limits",
    ]


# no-public-network-access
def test_public_endpoint_on_private_stack_fails() -> None:
    [msg] = rules.no_public_network_access(endpoint(public_network_access="enabled"), private=True)
    assert msg == "endpoint 'churn' has public network access enabled, but stack 'dev' is private"


def test_public_endpoint_on_stack_not_marked_private_passes() -> None:
    assert rules.no_public_network_access(endpoint(public_network_access="enabled")) == []
    assert (
        rules.no_public_network_access(
            endpoint(public_network_access="enabled"), private_stack_pattern="prod.*"
        )
        == []
    )


def test_private_stack_pattern_marks_stacks_private() -> None:
    ep = endpoint(public_network_access="enabled", stack="prod-eu")
    assert rules.no_public_network_access(ep, private_stack_pattern="prod.*") != []
    assert rules.no_public_network_access(endpoint(stack="prod-eu"), private_stack_pattern="prod.*") == []


@pytest.mark.parametrize(
    ("resource", "exposed"),
    [
        ({"kind": "container", "name": "c", "published": [{"ip": "127.0.0.1", "external": 80}]}, False),
        ({"kind": "container", "name": "c", "published": [{"ip": "0.0.0.0", "external": 80}]}, True),
        ({"kind": "k8s_service", "name": "s", "service_type": "ClusterIP"}, False),
        ({"kind": "k8s_service", "name": "s", "service_type": "LoadBalancer"}, True),
        ({"kind": "compute_cluster", "name": "cpu", "public_ip": True}, True),
        ({"kind": "compute_cluster", "name": "cpu", "public_ip": False}, False),
    ],
)
def test_exposure_of_each_kind(resource: dict[str, Any], exposed: bool) -> None:
    assert bool(rules.no_public_network_access(resource | {"stack": "dev"}, private=True)) is exposed


# quota-fits
def test_quota_fitting_passes() -> None:
    limits = QuotaLimits(family_cores={"standardDSv2Family": 48})
    assert rules.quota_fits([deployment(instance_count=10)], limits, target="azure") == []


def test_quota_not_fitting_shows_the_arithmetic() -> None:
    limits = QuotaLimits(family_cores={"standardDSv2Family": 40})
    found = rules.quota_fits([deployment(instance_count=10)], limits)
    assert found == [(None, "needs 48 cores of standardDSv2Family: ceil(1.2×10)=12 × 4; available 40")]


def test_quota_target_is_inferred_from_the_stack() -> None:
    limits = QuotaLimits(total_cores=8)
    docker = {"kind": "image", "name": "i", "type": "docker:index/image:Image"}
    # Local stacks have no Azure reserve: 2 × 4 cores fit in 8.
    assert rules.quota_fits([deployment(instance_count=2), docker], limits) == []
    azure = {"kind": "compute_cluster", "name": "c", "type": "azure-native:machinelearningservices:Compute"}
    assert rules.quota_fits([deployment(instance_count=2), azure], limits) != []


def test_quota_counts_previous_shape_clusters_and_unowned_workloads() -> None:
    updating = deployment(
        instance_count=3, previous_instance_type="Standard_DS3_v2", previous_instance_count=3
    )
    cluster = {"kind": "compute_cluster", "name": "cpu", "size": "Standard_DS3_v2", "max_instances": 2}
    pod = {
        "kind": "k8s_workload",
        "name": "router",
        "replicas": 2,
        "containers": [{"cpu_limit": 0.5, "memory_limit": 1}],
    }
    owned = pod | {"name": "scorer", "owned": True}
    demands = rules.quota_demands([updating, cluster, pod, owned], target="kubernetes")
    assert [d.previous is not None for d in demands.deployments] == [True]
    assert [(w.name, w.cores, w.memory_gb) for w in demands.workloads] == [("router (replicas 2)", 1.0, 2)]
    [(_, msg)] = rules.quota_fits(
        [updating, cluster, pod, owned], QuotaLimits(total_cores=30), target="kubernetes"
    )
    assert msg.startswith("needs 33 cores in total: 3 × 4 [blue] + 3 × 4 [blue (previous)] + max 2 × 4 [cpu]")


def test_quota_skips_unknowns_and_attached_compute() -> None:
    unknown = deployment(instance_count=UNKNOWN)
    attached = deployment("k8s", target="attached", instance_type="small")
    assert rules.quota_demands([unknown, attached]).deployments == ()


def test_quota_unknown_sku_is_reported_not_raised() -> None:
    [(_, msg)] = rules.quota_fits([deployment(instance_type="Standard_XL_v9")], QuotaLimits(total_cores=1))
    assert "unknown instance type 'Standard_XL_v9'" in msg


def test_quota_limits_come_from_config_then_quota_check() -> None:
    assert rules.quota_limits({}) is None
    from_config = rules.quota_limits(
        {"family_cores": {"standardDSv2Family": 40.0}, "low_priority_cores": 8.0}
    )
    assert from_config == QuotaLimits(family_cores={"standardDSv2Family": 40}, low_priority_cores=8)
    check = {"limits": {"total_cores": 16, "family_cores": {}, "total_memory_gb": None}}
    assert rules.quota_limits({}, [check]) == QuotaLimits(total_cores=16)


# valid-names and images-pinned cover the batch kinds
def test_batch_names_follow_azure_rules() -> None:
    assert rules.valid_names(batch_endpoint()) == []
    [msg] = rules.valid_names(batch_deployment("n_1"))
    assert msg.startswith("batch deployment name 'n_1' is invalid")
    [msg] = rules.valid_names(batch_endpoint("ab"))
    assert msg.startswith("batch endpoint name 'ab' is invalid")
    [msg] = rules.valid_names(cluster("cpu-cluster-far-too-long"))
    assert msg.startswith("compute cluster name 'cpu-cluster-far-too-long' is invalid") and "2 to 16" in msg


def test_batch_images_are_pinned() -> None:
    assert rules.images_pinned(batch_deployment()) == []
    assert rules.images_pinned(batch_deployment(image="azureml:batch-env:2")) == []
    assert rules.images_pinned(batch_deployment(image="azureml:batch-env@latest")) != []


# quota-fits: compute clusters
def test_quota_counts_cluster_cores_at_max_instances_locally() -> None:
    found = rules.quota_fits(
        [deployment(instance_count=1), cluster(max_instances=4)], QuotaLimits(total_cores=16)
    )
    assert found == [(None, "needs 20 cores in total: 1 × 4 [blue] + max 4 × 4 [cpu]; available 16")]
    assert (
        rules.quota_fits(
            [deployment(instance_count=1), cluster(max_instances=3)], QuotaLimits(total_cores=16)
        )
        == []
    )


def test_quota_counts_local_low_priority_clusters_against_the_machine() -> None:
    # Locally a low-priority node takes this machine's cores like any other: no separate quota.
    low = cluster(tier="low_priority", low_priority=True, max_instances=5)
    [(_, msg)] = rules.quota_fits([low], QuotaLimits(total_cores=16, low_priority_cores=100))
    assert msg == "needs 20 cores in total: max 5 × 4; available 16"
    [demand] = rules.quota_demands([low]).clusters
    assert demand.low_priority is False


def test_quota_counts_azure_low_priority_clusters_apart() -> None:
    low = cluster("spot", tier="low_priority", low_priority=True, max_instances=5, target="azure")
    dedicated = cluster("cpu", max_instances=6, target="azure")
    limits = QuotaLimits(family_cores={"standardDSv2Family": 40}, low_priority_cores=16)
    resources = [deployment(instance_count=3, target="azure"), dedicated, low]
    assert rules.quota_fits(resources, limits) == [
        (None, "needs 20 low-priority cores: max 5 × 4; available 16"),
    ]
    limits = QuotaLimits(family_cores={"standardDSv2Family": 39}, low_priority_cores=20)
    assert rules.quota_fits(resources, limits) == [
        (
            None,
            "needs 40 cores of standardDSv2Family: ceil(1.2×3)=4 × 4 [blue] + max 6 × 4 [cpu]; available 39",
        ),
    ]


def test_quota_skips_clusters_with_unknown_size_or_limit() -> None:
    clusters = [cluster(max_instances=UNKNOWN), cluster("gpu", size=UNKNOWN), cluster("none", size=None)]
    assert rules.quota_demands(clusters).clusters == ()
