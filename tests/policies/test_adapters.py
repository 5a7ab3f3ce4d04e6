"""Adapters: every resource type we review, normalised from the shapes its SDK really produces."""

from __future__ import annotations

from typing import Any

import pytest

from policies import adapters
from policies.adapters import (
    UNKNOWN,
    adapt,
    compute_name,
    iso_seconds,
    k8s_cpu,
    k8s_memory_gb,
    stack_of,
    under_component,
)
from tests.policies.component_shapes import CLUSTER, DEPLOYMENT, ENDPOINT, batch_component_props
from tests.policies.sdk_shapes import all_shapes

AZ = "azure-native:machinelearningservices:"


@pytest.fixture(scope="module")
def shapes() -> dict[str, dict[str, Any]]:
    return all_shapes()


@pytest.fixture(scope="module")
def batch_props(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The props components/batch.py registers for the example batch stack, by type."""
    return dict(batch_component_props(tmp_path_factory.mktemp("state")))


def urn(type_: str, name: str, stack: str = "dev", parents: str = "") -> str:
    chain = f"{parents}${type_}" if parents else type_
    return f"urn:pulumi:{stack}::proj::{chain}::{name}"


def run(type_: str, props: dict[str, Any], name: str = "r", stack: str = "dev") -> dict[str, Any]:
    found = adapt(type_, props, urn(type_, name, stack), name)
    assert found is not None
    return found


def test_component_online_endpoint() -> None:
    props = {
        "name": "churn",
        "auth_mode": "Key",
        "traffic": {"blue": 100.0},
        "mirror_traffic": {"green": 10.0},
        "public_network_access": "Disabled",
    }
    r = run("mlendpoints:online:OnlineEndpoint", props, stack="prod")
    assert r["kind"] == "online_endpoint"
    assert (r["name"], r["auth_mode"], r["public_network_access"], r["stack"]) == (
        "churn",
        "key",
        "disabled",
        "prod",
    )
    assert r["traffic"] == {"blue": 100}
    assert r["mirror_traffic"] == {"green": 10}


def test_component_online_deployment() -> None:
    props = {
        "endpoint_name": "churn",
        "name": "blue",
        "instance_type": "Standard_DS3_v2",
        "instance_count": 3.0,
        "image": "scorer:abc",
        "request_settings": {"request_timeout_ms": 5000.0},
        "liveness_probe": {"initial_delay": 10, "period": 10, "timeout": 2, "success_threshold": 1},
        "readiness_probe": {"failure_threshold": 30},
    }
    r = run("mlendpoints:online:OnlineDeployment", props)
    assert (r["kind"], r["endpoint_name"], r["instance_count"], r["request_timeout_ms"]) == (
        "online_deployment",
        "churn",
        3,
        5000,
    )
    assert r["probes"]["liveness"] == {
        "initial_delay_s": 10,
        "period_s": 10,
        "timeout_s": 2,
        "failure_threshold": None,
        "success_threshold": 1,
    }
    assert r["probes"]["readiness"]["failure_threshold"] == 30
    assert r["target"] is None


def test_component_autoscaled_deployment_counts_max_instances() -> None:
    props = {
        "name": "green",
        "instance_count": 1.0,
        "scale_settings": {"type": "target_utilization", "max_instances": 4.0},
    }
    assert run("mlendpoints:online:OnlineDeployment", props)["instance_count"] == 4


def test_component_compute_cluster_as_registered(batch_props: dict[str, dict[str, Any]]) -> None:
    r = run(CLUSTER, batch_props[CLUSTER], "cpu-cluster")
    assert {k: r[k] for k in ("kind", "name", "size", "tier", "low_priority", "target")} == {
        "kind": "compute_cluster",
        "name": "cpu-cluster",
        "size": "Standard_DS2_v2",
        "tier": "dedicated",
        "low_priority": False,
        "target": "local",
    }
    # The engine hands numbers over as floats; the adapter gives the rules ints.
    assert (r["min_instances"], r["max_instances"], r["idle_s"]) == (0, 2, 60)
    assert all(type(r[k]) is int for k in ("min_instances", "max_instances", "idle_s"))


def test_component_batch_endpoint_as_registered(batch_props: dict[str, dict[str, Any]]) -> None:
    r = run(ENDPOINT, batch_props[ENDPOINT], "mle-batch")
    assert (r["kind"], r["name"], r["auth_mode"], r["default_deployment"], r["target"]) == (
        "batch_endpoint",
        "mle-batch",
        "aad_token",
        "linear",
        "local",
    )
    assert r["public_network_access"] is None


def test_component_batch_deployment_as_registered(batch_props: dict[str, dict[str, Any]]) -> None:
    r = run(DEPLOYMENT, batch_props[DEPLOYMENT], "mle-batch-linear")
    image = r.pop("image")
    assert image.startswith("mlendpoints/serving:")
    assert {k: v for k, v in r.items() if k not in ("urn", "type", "stack", "owned")} == {
        "kind": "batch_deployment",
        "name": "linear",
        "endpoint_name": "mle-batch",
        "compute": "cpu-cluster",
        "instance_count": 2,
        "cluster_max_instances": 2,
        "target": "local",
        "mini_batch_size": 2,
        "max_concurrency_per_instance": 2,
        "output_action": "append_row",
        "output_file_name": "predictions.csv",
        "max_retries": 3,
        "timeout_s": 30,
        "error_threshold": -1,
        "logging_level": "info",
    }


def test_component_batch_deployment_reads_nested_resources_and_fills_azure_defaults() -> None:
    props = {
        "name": "nightly",
        "endpoint_name": "scoring",
        "compute": "azureml:gpu",
        "resources": {"instance_count": 4.0},
    }
    r = run(DEPLOYMENT, props)
    assert (r["compute"], r["instance_count"], r["cluster_max_instances"]) == ("gpu", 4, None)
    assert {k: r[k] for k in adapters.BATCH_DEFAULTS if k != "instance_count"} == {
        k: v for k, v in adapters.BATCH_DEFAULTS.items() if k != "instance_count"
    }


def test_component_batch_and_cluster() -> None:
    assert run("mlendpoints:batch:BatchEndpoint", {"name": "scoring", "auth_mode": "aad_token"})["kind"] == (
        "batch_endpoint"
    )
    dep = run("mlendpoints:batch:BatchDeployment", {"name": "nightly", "endpoint_name": "scoring"})
    assert (dep["kind"], dep["endpoint_name"]) == ("batch_deployment", "scoring")
    cluster = run(
        "mlendpoints:batch:ComputeCluster",
        {"name": "cpu", "size": "Standard_DS3_v2", "max_instances": 4.0, "tier": "low_priority"},
    )
    assert (cluster["size"], cluster["max_instances"], cluster["low_priority"]) == (
        "Standard_DS3_v2",
        4,
        True,
    )


def test_azure_online_endpoint(shapes: dict[str, dict[str, Any]]) -> None:
    r = run(AZ + "OnlineEndpoint", shapes["azure-endpoint"], "azure-endpoint")
    assert (r["name"], r["auth_mode"], r["public_network_access"]) == ("churn", "aml_token", "enabled")
    assert r["traffic"] == {"blue": 90, "green": 10}
    assert r["mirror_traffic"] == {"green": 20}


def test_azure_endpoint_without_public_network_access_is_public() -> None:
    r = run(AZ + "OnlineEndpoint", {"properties": {"authMode": "Key"}}, "ep")
    assert (r["name"], r["public_network_access"]) == ("ep", "enabled")


def test_azure_online_deployment(shapes: dict[str, dict[str, Any]]) -> None:
    r = run(AZ + "OnlineDeployment", shapes["azure-deployment"])
    assert (r["name"], r["endpoint_name"], r["instance_type"], r["instance_count"]) == (
        "blue",
        "churn",
        "Standard_DS3_v2",
        3,
    )
    assert (r["image"], r["request_timeout_ms"], r["target"]) == ("azureml:sklearn-env:3", 90_000, "azure")
    assert r["probes"]["liveness"] == {
        "initial_delay_s": 10,
        "period_s": 10,
        "timeout_s": 2,
        "failure_threshold": 30,
        "success_threshold": 1,
    }


def test_azure_autoscaled_deployment_reserves_max_instances(shapes: dict[str, dict[str, Any]]) -> None:
    r = run(AZ + "OnlineDeployment", shapes["azure-autoscaled"])
    assert (r["name"], r["instance_count"]) == ("green", 5)


def test_azure_kubernetes_compute_deployment_is_outside_vm_quota() -> None:
    props = {
        "endpointName": "e",
        "properties": {"endpointComputeType": "Kubernetes", "instanceType": "small"},
    }
    assert run(AZ + "OnlineDeployment", props)["target"] == "attached"


def test_azure_compute(shapes: dict[str, dict[str, Any]]) -> None:
    r = run(AZ + "Compute", shapes["azure-compute"])
    assert (r["name"], r["size"], r["max_instances"], r["low_priority"], r["public_ip"]) == (
        "cpu-cluster",
        "Standard_DS3_v2",
        4,
        True,
        True,
    )
    assert (r["tier"], r["min_instances"], r["idle_s"], r["target"]) == ("low_priority", 0, 120, "azure")


def test_azure_compute_other_than_amlcompute_is_ignored() -> None:
    assert (
        adapt(AZ + "Compute", {"properties": {"computeType": "ComputeInstance"}}, urn(AZ + "Compute", "c"))
        is None
    )


def test_azure_batch_endpoint(shapes: dict[str, dict[str, Any]]) -> None:
    r = run(AZ + "BatchEndpoint", shapes["azure-batch"])
    assert (r["kind"], r["name"], r["auth_mode"]) == ("batch_endpoint", "scoring", "aad_token")
    assert (r["default_deployment"], r["target"]) == ("nightly", "azure")
    # Batch endpoints have no publicNetworkAccess of their own (the workspace decides): not "enabled".
    assert r["public_network_access"] is None


def test_azure_batch_deployment(shapes: dict[str, dict[str, Any]]) -> None:
    r = run(AZ + "BatchDeployment", shapes["azure-batch-deployment"])
    assert {k: v for k, v in r.items() if k not in ("urn", "type", "stack", "owned")} == {
        "kind": "batch_deployment",
        "name": "nightly",
        "endpoint_name": "scoring",
        "compute": "cpu-cluster",
        "instance_count": 5,
        "cluster_max_instances": None,
        "image": "azureml:batch-env:2",
        "target": "azure",
        "mini_batch_size": 20,
        "max_concurrency_per_instance": 4,
        "output_action": "summary_only",
        "output_file_name": "scores.csv",
        "max_retries": 2,
        "timeout_s": 300,
        "error_threshold": 10,
        "logging_level": "warning",
    }


def test_azure_batch_deployment_without_settings_gets_azures_defaults(
    shapes: dict[str, dict[str, Any]],
) -> None:
    r = run(AZ + "BatchDeployment", shapes["azure-batch-bare"])
    assert (r["name"], r["compute"]) == ("hourly", "cpu-cluster")
    assert {k: r[k] for k in adapters.BATCH_DEFAULTS} == dict(adapters.BATCH_DEFAULTS)


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("cpu", "cpu"),
        ("azureml:cpu", "cpu"),
        (
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/w/computes/cpu",
            "cpu",
        ),
        (
            "/subscriptions/s/resourcegroups/rg/providers/microsoft.machinelearningservices/workspaces/w/Computes/g1/",
            "g1",
        ),
        (None, None),
    ],
)
def test_compute_names(value: Any, name: str | None) -> None:
    assert compute_name(value) == name
    assert compute_name(UNKNOWN) is UNKNOWN


def test_unknown_batch_props_stay_unknown() -> None:
    r = run(DEPLOYMENT, {"name": "n", "compute": UNKNOWN, "instance_count": UNKNOWN, "settings": UNKNOWN})
    assert all(
        r[k] is UNKNOWN
        for k in ("compute", "instance_count", "error_threshold", "timeout_s", "output_action")
    )
    cluster = run(CLUSTER, {"name": "c", "tier": UNKNOWN, "max_instances": UNKNOWN})
    assert cluster["low_priority"] is UNKNOWN and cluster["max_instances"] is UNKNOWN


def test_kubernetes_deployment(shapes: dict[str, dict[str, Any]]) -> None:
    r = run("kubernetes:apps/v1:Deployment", shapes["k8s-deployment"], "k8s-deployment")
    assert (r["name"], r["replicas"]) == ("scorer-blue", 2)
    scorer, sidecar = r["containers"]
    assert scorer["cpu_limit"] == 0.5
    assert scorer["memory_limit"] == pytest.approx(2**30 / 1e9)
    assert scorer["probes"]["liveness"]["period_s"] == 10
    assert (sidecar["cpu_limit"], sidecar["memory_limit"], sidecar["image"]) == (None, None, "busybox")


def test_kubernetes_service(shapes: dict[str, dict[str, Any]]) -> None:
    assert run("kubernetes:core/v1:Service", shapes["k8s-service"])["service_type"] == "LoadBalancer"


def test_docker_container(shapes: dict[str, dict[str, Any]]) -> None:
    r = run("docker:index/container:Container", shapes["docker-container"])
    assert (r["name"], r["image"], r["cpus"], r["memory_gb"]) == (
        "churn-blue-0",
        "mlendpoints/scorer:3f2a9c1",
        1.5,
        0.512,
    )
    assert r["published"] == [{"ip": "127.0.0.1", "external": 8080}, {"ip": "0.0.0.0", "external": 8081}]


def test_docker_image(shapes: dict[str, dict[str, Any]]) -> None:
    r = run("docker:index/image:Image", shapes["docker-image"])
    assert (r["kind"], r["image"]) == ("image", "mlendpoints/scorer:latest")


def test_types_no_rule_reads_are_ignored() -> None:
    assert adapt("aws:s3/bucket:Bucket", {}, "urn:pulumi:dev::p::aws:s3/bucket:Bucket::b") is None


def test_raw_azure_resources_inside_our_components_are_left_to_the_component() -> None:
    inner = urn(AZ + "OnlineEndpoint", "ep", parents="mlendpoints:online:OnlineEndpoint")
    assert adapt(AZ + "OnlineEndpoint", {"properties": {"authMode": "Key"}}, inner, "ep") is None


def test_docker_resources_inside_our_components_are_marked_owned() -> None:
    inner = urn("docker:index/container:Container", "c", parents="mlendpoints:online:OnlineDeployment")
    found = adapt("docker:index/container:Container", {"image": "x:1"}, inner, "c")
    assert found is not None and found["owned"] is True


def test_unknown_values_stay_unknown() -> None:
    props = {"endpoint_name": UNKNOWN, "instance_count": UNKNOWN, "request_settings": UNKNOWN}
    r = run("mlendpoints:online:OnlineDeployment", props)
    assert r["endpoint_name"] is UNKNOWN
    assert r["instance_count"] is UNKNOWN
    assert r["request_timeout_ms"] is UNKNOWN
    assert adapters.known(r["name"]) and not adapters.known(r["endpoint_name"])


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("PT5S", 5), ("PT0.5S", 0.5), ("PT1M30S", 90), ("P1DT1H", 90000), ("pt2s", 2), (7, 7), ("soon", None)],
)
def test_iso_durations(text: Any, seconds: float | None) -> None:
    assert iso_seconds(text) == seconds


@pytest.mark.parametrize(("text", "cores"), [("500m", 0.5), ("2", 2.0), (1.5, 1.5), ("lots", None)])
def test_k8s_cpu(text: Any, cores: float | None) -> None:
    assert k8s_cpu(text) == cores


@pytest.mark.parametrize(
    ("text", "gb"), [("1G", 1.0), ("512Mi", 2**29 / 1e9), ("2Gi", 2**31 / 1e9), (10**9, 1.0), ("1e", None)]
)
def test_k8s_memory(text: Any, gb: float | None) -> None:
    assert k8s_memory_gb(text) == (pytest.approx(gb) if gb is not None else None)


def test_urn_parsing() -> None:
    u = urn(
        "docker:index/container:Container",
        "c",
        stack="prod-eu",
        parents="mlendpoints:online:OnlineDeployment",
    )
    assert stack_of(u) == "prod-eu"
    assert under_component(u)
    assert not under_component(urn("docker:index/container:Container", "c"))
    assert stack_of("") == ""
