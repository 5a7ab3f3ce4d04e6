"""Adapters: every resource type we review, normalised from the shapes its SDK really produces."""

from __future__ import annotations

from typing import Any

import pytest

from policies import adapters
from policies.adapters import UNKNOWN, adapt, iso_seconds, k8s_cpu, k8s_memory_gb, stack_of, under_component
from tests.policies.sdk_shapes import all_shapes

AZ = "azure-native:machinelearningservices:"


@pytest.fixture(scope="module")
def shapes() -> dict[str, dict[str, Any]]:
    return all_shapes()


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


def test_azure_compute_other_than_amlcompute_is_ignored() -> None:
    assert (
        adapt(AZ + "Compute", {"properties": {"computeType": "ComputeInstance"}}, urn(AZ + "Compute", "c"))
        is None
    )


def test_azure_batch_endpoint(shapes: dict[str, dict[str, Any]]) -> None:
    r = run(AZ + "BatchEndpoint", shapes["azure-batch"])
    assert (r["kind"], r["name"], r["auth_mode"]) == ("batch_endpoint", "scoring", "aad_token")


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
