"""The Kubernetes manifests of an online deployment and its router, from specs (pure)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from components.azureml_yaml import load_yaml_file
from components.specs import OnlineDeploymentSpec, OnlineEndpointSpec, parse_spec
from components.targets.kubernetes import plan
from components.targets.kubernetes.images import dockerfile, reference
from components.targets.kubernetes.online import layers

ROOT = Path(__file__).resolve().parents[4]
EXAMPLES = ROOT / "examples" / "online"


def deployment(**changes: Any) -> OnlineDeploymentSpec:
    data: dict[str, Any] = {
        "name": "blue",
        "endpoint_name": "shop",
        "model": {"path": "model-blue/model"},
        "code_configuration": {"code": "model-blue/onlinescoring", "scoring_script": "score.py"},
        "environment": {"image": "mlendpoints/base:bookworm-py311"},
        "instance_type": "Standard_DS2_v2",
        "instance_count": 5,
    }
    return parse_spec(OnlineDeploymentSpec, {**data, **changes}, base_dir=EXAMPLES, check_paths=True)


def test_deployment_probes_replicas_and_rolling_update() -> None:
    probe = {"initial_delay": 5, "period": 3, "timeout": 1, "failure_threshold": 4}
    manifest = plan.deployment_manifest(deployment(liveness_probe=probe), "reg:5000/mlendpoints/app:abc")
    spec = manifest["spec"]
    assert manifest["metadata"]["name"] == "shop-blue"
    assert spec["replicas"] == 5
    # Azure's 20 % reserve as the surge, and no instance taken away before its replacement is ready.
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    [container] = spec["template"]["spec"]["containers"]
    assert container["image"] == "reg:5000/mlendpoints/app:abc"
    assert container["livenessProbe"] == {
        "httpGet": {"path": "/", "port": 5001},
        "initialDelaySeconds": 5,
        "periodSeconds": 3,
        "timeoutSeconds": 1,
        "successThreshold": 1,
        "failureThreshold": 4,
    }
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 5001}
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["AZUREML_MODEL_DIR"] == "/var/azureml-app/azureml-models/blue/1"
    assert (env["AML_APP_ROOT"], env["AZUREML_ENTRY_SCRIPT"]) == ("/var/azureml-app/code", "score.py")
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()


def test_surge_is_twenty_percent_rounded_up() -> None:
    surge = plan.deployment_manifest(deployment(instance_count=11), "x")["spec"]["strategy"]["rollingUpdate"]
    assert surge["maxSurge"] == 3


def test_resources_from_the_instance_type_or_as_written() -> None:
    # Standard_DS2_v2: 2 cores, 7 GiB; limits equal requests, so every pod is bounded.
    assert plan.container_resources(deployment()) == {
        "requests": {"cpu": "2", "memory": "7168Mi"},
        "limits": {"cpu": "2", "memory": "7168Mi"},
    }
    written = deployment(
        kind="kubernetes", instance_type=None, resources={"requests": {"cpu": "0.2", "memory": "200Mi"}}
    )
    assert plan.container_resources(written) == {
        "requests": {"cpu": "0.2", "memory": "200Mi"},
        "limits": {"cpu": "0.2", "memory": "200Mi"},
    }
    custom = deployment(kind="kubernetes", instance_type=None)
    assert plan.container_resources(custom)["limits"] == {"cpu": "1", "memory": "2Gi"}


def test_autoscaler_only_for_target_utilization() -> None:
    assert plan.autoscaler_manifest(deployment()) is None
    scaled = deployment(
        kind="kubernetes",
        instance_count=None,
        scale_settings={"type": "target_utilization", "min_instances": 2, "max_instances": 6,
                        "target_utilization_percentage": 60},
    )  # fmt: skip
    hpa = plan.autoscaler_manifest(scaled)
    assert hpa is not None
    assert hpa["spec"]["scaleTargetRef"]["name"] == "shop-blue"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    assert hpa["spec"]["metrics"][0]["resource"]["target"] == {
        "type": "Utilization",
        "averageUtilization": 60,
    }
    # The autoscaler owns the count (from its minimum): no count in the manifest for `pulumi up` to reset.
    assert "replicas" not in plan.deployment_manifest(scaled, "x")["spec"]
    assert plan.deployment_manifest(deployment(), "x")["spec"]["replicas"] == 5


def test_router_reads_config_and_keys_from_a_configmap_and_a_secret() -> None:
    endpoint = load_yaml_file(EXAMPLES / "endpoint.yml")
    assert isinstance(endpoint, OnlineEndpointSpec)
    router = plan.router_manifest(endpoint, "reg:5000/mlendpoints/serving:abc", 2, "d" * 20)
    pod = router["spec"]["template"]["spec"]
    assert router["spec"]["replicas"] == 2
    sources = pod["volumes"][0]["projected"]["sources"]
    assert sources == [{"configMap": {"name": "mle-demo-router"}}, {"secret": {"name": "mle-demo-keys"}}]
    [container] = pod["containers"]
    assert container["resources"]["limits"]  # the policy pack requires limits on every workload
    service = plan.router_service_manifest(endpoint, "NodePort")
    assert service["spec"]["type"] == "NodePort"
    assert service["spec"]["selector"] == router["spec"]["selector"]["matchLabels"]


def test_model_and_code_become_image_layers() -> None:
    spec = deployment()
    found = layers(spec)
    assert found == {
        "/var/azureml-app/azureml-models/blue/1/model": str(EXAMPLES / "model-blue" / "model"),
        "/var/azureml-app/code": str(EXAMPLES / "model-blue" / "onlinescoring"),
    }
    ref = reference("127.0.0.1:5000", "mlendpoints/serving:abc", found)
    assert ref.startswith("127.0.0.1:5000/mlendpoints/app:")
    # Content-addressed: the same files give the same image, another serving image another one.
    assert ref == reference("127.0.0.1:5000", "mlendpoints/serving:abc", dict(found))
    assert ref != reference("127.0.0.1:5000", "mlendpoints/serving:def", found)
    assert (
        reference("127.0.0.1:5000", "mlendpoints/serving:abc", {}) == "127.0.0.1:5000/mlendpoints/serving:abc"
    )
    assert dockerfile("mlendpoints/serving:abc", found).splitlines() == [
        "FROM mlendpoints/serving:abc",
        "COPY layer0 /var/azureml-app/azureml-models/blue/1/model",
        "COPY layer1 /var/azureml-app/code",
    ]


@pytest.mark.parametrize("endpoint", ["e" * 32])
def test_names_stay_dns_labels(endpoint: str) -> None:
    spec = deployment(endpoint_name=endpoint, name="d" * 30)
    assert len(plan.deployment_name(spec)) <= 63
    assert len(plan.namespace(endpoint)) <= 63


def test_pod_states_for_mle_show() -> None:
    from components.targets.kubernetes.status import logs_command, pod_state

    def pod(**status: Any) -> dict[str, Any]:
        labels = {"io.mlendpoints.endpoint": "shop", "io.mlendpoints.deployment": "blue"}
        return {"metadata": {"name": "shop-blue-x", "labels": labels}, "status": status}

    ready = pod(
        phase="Running", containerStatuses=[{"ready": True, "restartCount": 2, "state": {"running": {}}}]
    )
    assert (pod_state(ready).summary, pod_state(ready).restarts) == ("running/ready", 2)
    crashing = pod(
        phase="Running",
        containerStatuses=[{"ready": False, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}],
    )
    assert pod_state(crashing).summary == "CrashLoopBackOff"
    assert pod_state(pod(phase="Pending")).summary == "pending"
    assert logs_command("shop", None, 20)[-3:] == ["--prefix", "--tail", "20"]
    assert "io.mlendpoints.role=router" in " ".join(logs_command("shop", None, 20))
    assert "io.mlendpoints.deployment=blue" in " ".join(logs_command("shop", "blue", 20))


@pytest.mark.parametrize(
    ("project", "stack", "expected"),
    [
        ("mlendpoints", "k8s", "mlendpoints.k8s"),
        ("mlendpoints", "org/team stack", "mlendpoints.org-team-stack"),
        ("p", "s" * 80 + "_", "p." + "s" * 61),
        ("_", "-", "stack"),
    ],
)
def test_owner_label_is_a_valid_label_value(project: str, stack: str, expected: str) -> None:
    value = plan.owner_label(project, stack)
    assert value == expected
    assert re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]{0,61})?[A-Za-z0-9]", value)
