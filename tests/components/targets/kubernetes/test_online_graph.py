"""OnlineEndpoint on the Kubernetes target: the resource graph it registers under Pulumi mocks.

Nothing talks to a cluster, a registry or Docker: under mocks the Kubernetes resources and the dynamic
providers (images, rollout waiter, keys) are only registered. The program runs to completion (every
RPC awaited) before the assertions, so resources that nothing depends on, such as the autoscaler, are
recorded too. The mocks echo inputs back as outputs, plus what the API server would assign and the
components read: each ClusterIP Service's clusterIP and the router's nodePort.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi.runtime import rpc

from components.online import OnlineEndpoint, OnlineEndpointArgs
from components.stack_config import load_stack_config
from components.targets.kubernetes import plan
from components.targets.kubernetes.target import KubernetesTarget
from serving.router.config import parse_config
from tests.pulumi_mocks import RecordingMocks, Registered

ROOT = Path(__file__).resolve().parents[4]
K8S = "https://azuremlschemas.azureedge.net/latest/kubernetes{}.schema.json"
NODE_ADDRESS, NODE_PORT = "10.231.0.1", 30080
CLUSTER_IPS = {"shop-blue": "10.96.0.11", "shop-green": "10.96.0.12"}
NAMESPACED = ("Deployment", "Service", "ConfigMap", "Secret", "HorizontalPodAutoscaler")
# How the mocks hand over an input that is a Pulumi secret (the SDK's wire form).
SECRET_SIG = {rpc._special_sig_key: rpc._special_secret_sig}


def _deployment(name: str, model: str, **more: Any) -> dict[str, Any]:
    return {
        "$schema": K8S.format("OnlineDeployment"),
        "name": name,
        "endpoint_name": "shop",
        "model": {"path": f"examples/online/{model}/model"},
        "code_configuration": {
            "code": f"examples/online/{model}/onlinescoring",
            "scoring_script": "score.py",
        },
        "environment": {"image": "mlendpoints/base:bookworm-py311"},
        **more,
    }


SERVING: dict[str, Any] = {
    "endpoints": [
        {
            "$schema": K8S.format("OnlineEndpoint"),
            "name": "shop",
            "auth_mode": "key",
            "traffic": {"blue": 80, "green": 20},
        }
    ],
    "deployments": [
        _deployment("blue", "model-blue", instance_type="Standard_DS2_v2", instance_count=2),
        _deployment(
            "green",
            "model-green",
            instance_count=1,
            resources={"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}},
            scale_settings={
                "type": "target_utilization",
                "min_instances": 1,
                "max_instances": 3,
                "target_utilization_percentage": 70,
            },
        ),
    ],
}


class Graph:
    """What the program registered, and the endpoint's scoring URI once everything settled."""

    def __init__(self, mocks: RecordingMocks, scoring_uri: str) -> None:
        self.mocks, self.scoring_uri = mocks, scoring_uri

    def of_kind(self, kind: str) -> dict[str, Registered]:
        """Kubernetes objects of `kind` by resource name (any API group and version)."""
        found = [
            r for r in self.mocks.resources if r.type_.startswith("kubernetes:") and r.type_.endswith(kind)
        ]
        return {r.name: r for r in found}


LOAD_BALANCER_IP = "203.0.113.7"


def _graph(pulumi_mocks: RecordingMocks, monkeypatch: pytest.MonkeyPatch, service_type: str) -> Graph:
    register = pulumi_mocks.new_resource

    def new_resource(args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        id_, state = register(args)
        if args.typ == "kubernetes:core/v1:Service":  # what the API server assigns
            spec = state["spec"]
            if spec["type"] == "ClusterIP":
                spec["clusterIP"] = CLUSTER_IPS[state["metadata"]["name"]]
            else:
                spec["ports"] = [{**port, "nodePort": NODE_PORT} for port in spec["ports"]]
            if spec["type"] == "LoadBalancer":  # ... and the cluster's load balancer
                state["status"] = {"loadBalancer": {"ingress": [{"ip": LOAD_BALANCER_IP}]}}
        return id_, state

    monkeypatch.setattr(pulumi_mocks, "new_resource", new_resource)
    [group] = load_stack_config(SERVING, base_dir=ROOT, target="kubernetes").online
    seen: list[str] = []

    @pulumi.runtime.test
    def program() -> pulumi.Output[None]:
        target = KubernetesTarget(
            registry="127.0.0.1:5000", node_address=NODE_ADDRESS, service_type=service_type
        )
        args = OnlineEndpointArgs(endpoint=group.endpoint, deployments=group.deployments, target=target)
        endpoint = OnlineEndpoint("shop", args)
        return pulumi.Output.all(endpoint.scoring_uri, endpoint.provisioning_state).apply(
            lambda values: seen.extend(values)
        )

    program()  # returns once every registration and output has resolved
    uri, state = seen
    assert state == "Succeeded"
    return Graph(pulumi_mocks, uri)


@pytest.fixture
def graph(pulumi_mocks: RecordingMocks, monkeypatch: pytest.MonkeyPatch) -> Graph:
    return _graph(pulumi_mocks, monkeypatch, "NodePort")


def test_a_load_balancer_router_is_reached_at_the_balancers_address(
    pulumi_mocks: RecordingMocks, monkeypatch: pytest.MonkeyPatch
) -> None:
    lb = _graph(pulumi_mocks, monkeypatch, "LoadBalancer")
    [router] = [s for s in lb.of_kind("core/v1:Service").values() if s.name == "shop-router-service"]
    assert router.inputs["spec"]["type"] == "LoadBalancer"
    assert lb.scoring_uri == f"http://{LOAD_BALANCER_IP}:{plan.ROUTER_PORT}/score"


def test_one_namespace_owned_by_the_stack_holds_every_object(graph: Graph) -> None:
    [namespace] = graph.of_kind("core/v1:Namespace").values()
    labels = namespace.inputs["metadata"]["labels"]
    assert namespace.inputs["metadata"]["name"] == "mle-shop"
    assert labels["io.mlendpoints.endpoint"] == "shop"
    assert labels["io.mlendpoints.stack"] == plan.owner_label("mlendpoints", "unit") == "mlendpoints.unit"
    for kind in NAMESPACED:
        for name, found in graph.of_kind(kind).items():
            assert found.inputs["metadata"]["namespace"] == "mle-shop", name


def test_a_deployment_per_deployment_and_the_routers(graph: Graph) -> None:
    workloads = graph.of_kind("apps/v1:Deployment")
    assert {n: w.inputs["metadata"]["name"] for n, w in workloads.items()} == {
        "shop-blue-deployment": "shop-blue",
        "shop-green-deployment": "shop-green",
        "shop-router": "shop-router",
    }
    # Scorers are awaited by the rollout waiter; the router by the provider.
    skip = {
        n: w.inputs["metadata"].get("annotations", {}).get("pulumi.com/skipAwait")
        for n, w in workloads.items()
    }
    assert skip == {"shop-blue-deployment": "true", "shop-green-deployment": "true", "shop-router": None}
    # name: (replicas, limits, readiness path); blue is sized by its instance type, green as written;
    # green's count is its autoscaler's (no replicas in the manifest).
    expected = {
        "shop-blue-deployment": (2, {"cpu": "2", "memory": "7168Mi"}, "/readyz"),
        "shop-green-deployment": (None, {"cpu": "1", "memory": "2Gi"}, "/readyz"),
        "shop-router": (1, {"cpu": "2", "memory": "512Mi"}, "/"),
    }
    for name, (count, limits, ready) in expected.items():
        spec = workloads[name].inputs["spec"]
        [container] = spec["template"]["spec"]["containers"]
        assert spec.get("replicas") == count, name
        assert container["image"].startswith("127.0.0.1:5000/"), name
        assert container["resources"]["limits"] == limits, name
        assert container["livenessProbe"]["httpGet"]["path"] == "/", name
        assert container["readinessProbe"]["httpGet"]["path"] == ready, name


def test_a_clusterip_service_per_deployment_and_a_nodeport_for_the_router(graph: Graph) -> None:
    services = graph.of_kind("core/v1:Service")
    shape = {
        n: (s.inputs["metadata"]["name"], s.inputs["spec"]["type"], s.inputs["metadata"].get("annotations"))
        for n, s in services.items()
    }
    assert shape == {
        "shop-blue-service": ("shop-blue", "ClusterIP", {"pulumi.com/skipAwait": "true"}),
        "shop-green-service": ("shop-green", "ClusterIP", {"pulumi.com/skipAwait": "true"}),
        "shop-router-service": ("shop-router", "NodePort", None),
    }
    # The scoring URI is on the node, at the port the API server gave the router's Service.
    assert graph.scoring_uri == f"http://{NODE_ADDRESS}:{NODE_PORT}/score"


def test_router_config_and_keys_and_routes_to_each_service(graph: Graph) -> None:
    [traffic] = graph.of_kind("core/v1:ConfigMap").values()
    [keys] = graph.of_kind("core/v1:Secret").values()
    assert (traffic.inputs["metadata"]["name"], keys.inputs["metadata"]["name"]) == (
        "shop-router",
        "shop-keys",
    )
    # The keys reach the Secret as a Pulumi secret, never as plain text in the state.
    string_data = keys.inputs["stringData"]
    assert {k: string_data[k] for k in SECRET_SIG} == SECRET_SIG
    assert set(string_data["value"]) == {"secrets.json"}
    router = parse_config(traffic.inputs["data"]["config.json"], "test")
    assert {n: d.instances for n, d in router.deployments.items()} == {
        "blue": (f"{CLUSTER_IPS['shop-blue']}:{plan.SCORER_PORT}",),
        "green": (f"{CLUSTER_IPS['shop-green']}:{plan.SCORER_PORT}",),
    }
    assert router.live_traffic == {"blue": 80, "green": 20}
    # `pulumi up` waits for the router to serve the new files: longer than locally, since a kubelet
    # refreshes ConfigMap volumes only on its sync period.
    applied = graph.mocks.named("shop-traffic-applied").inputs
    assert applied["url"] == graph.scoring_uri.removesuffix("score")
    assert applied["timeout_s"] == 180.0


def test_autoscaler_only_for_target_utilization(graph: Graph) -> None:
    autoscalers = graph.of_kind("autoscaling/v2:HorizontalPodAutoscaler")
    assert list(autoscalers) == ["shop-green-autoscaler"]
    spec = autoscalers["shop-green-autoscaler"].inputs["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "shop-green"}
    assert (spec["minReplicas"], spec["maxReplicas"]) == (1, 3)
    [metric] = spec["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}
