"""Pure planning for the Kubernetes target: the manifests of an online endpoint, from its specs."""

from __future__ import annotations

import math
import re
from typing import Any

from components import skus
from components.specs import OnlineDeploymentSpec, OnlineEndpointSpec
from components.targets.scorer_env import scorer_env
from components.targets.serving_layout import APP_ROOT, ROUTER_CONFIG_MOUNT

SCORER_PORT = 5001
ROUTER_PORT = 8080
# Azure keeps 20 % extra capacity per managed deployment for upgrades: the rolling update surges by
# as much, and never takes an instance away before its replacement is ready (no downtime).
SURGE_PERCENT = 20
# Used when a deployment names no instance_type and no resources (custom containers): 1 core, 2 GiB.
DEFAULT_CPU, DEFAULT_MEMORY = "1", "2Gi"
MANAGED_BY = {"app.kubernetes.io/managed-by": "mlendpoints"}
# The label naming the stack that owns an endpoint's namespace (value: owner_label).
STACK_LABEL = "io.mlendpoints.stack"


def namespace(endpoint: str) -> str:
    """The endpoint's namespace: its keys, router, deployments and their services live there."""
    return f"mle-{endpoint}"


def deployment_name(spec: OnlineDeploymentSpec) -> str:
    # Endpoint and deployment names are at most 32 characters each: this stays a DNS label (<= 63).
    return f"{spec.endpoint_name}-{spec.name}"


def owner_label(project: str, stack: str) -> str:
    """`project.stack` as a label value: at most 63 characters of [A-Za-z0-9._-], alphanumeric ends."""
    value = re.sub(r"[^A-Za-z0-9._-]", "-", f"{project}.{stack}")[:63]
    return value.strip("._-") or "stack"


def labels(endpoint: str, deployment: str | None = None, role: str = "scorer") -> dict[str, str]:
    found = {**MANAGED_BY, "io.mlendpoints.endpoint": endpoint, "io.mlendpoints.role": role}
    if deployment is not None:
        found["io.mlendpoints.deployment"] = deployment
    return found


def container_resources(spec: OnlineDeploymentSpec) -> dict[str, dict[str, str]]:
    """Requests and limits: the deployment's `resources` as written, else its instance type's size.

    Kubernetes deployments on Azure size pods by `resources`; managed ones by `instance_type`
    (here the VM size's cores and memory become the pod's). Limits default to the requests, so
    every pod is bounded (the policy pack requires it).
    """
    if spec.resources is not None and (spec.resources.requests or spec.resources.limits):
        requests = _quantities(spec.resources.requests)
        limits = _quantities(spec.resources.limits) or dict(requests)
        return {"requests": requests or dict(limits), "limits": limits}
    sku = skus.find_sku(spec.instance_type) if spec.instance_type else None
    if sku is None:
        size = {"cpu": DEFAULT_CPU, "memory": DEFAULT_MEMORY}
    else:
        size = {"cpu": str(sku.cores), "memory": f"{int(sku.memory_gb * 1024)}Mi"}
    return {"requests": dict(size), "limits": dict(size)}


def _quantities(given: Any) -> dict[str, str]:
    if given is None:
        return {}
    found = {"cpu": given.cpu, "memory": given.memory, "nvidia.com/gpu": given.gpu}
    return {key: str(value) for key, value in found.items() if value is not None}


def _probe(path: str, port: int, settings: Any) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": port},
        "initialDelaySeconds": settings.initial_delay,
        "periodSeconds": settings.period,
        "timeoutSeconds": settings.timeout,
        "successThreshold": settings.success_threshold,
        "failureThreshold": settings.failure_threshold,
    }


def replicas(spec: OnlineDeploymentSpec) -> int:
    return spec.effective_instance_count


def deployment_manifest(spec: OnlineDeploymentSpec, image: str) -> dict[str, Any]:
    """The apps/v1 Deployment of one deployment (metadata and spec)."""
    name = deployment_name(spec)
    selector = {"io.mlendpoints.endpoint": spec.endpoint_name, "io.mlendpoints.deployment": spec.name}
    count = replicas(spec)
    liveness = _probe("/", SCORER_PORT, spec.liveness_probe)
    # Azure's readiness probe starts a success threshold of 1: Kubernetes requires 1 for liveness too.
    liveness["successThreshold"] = 1
    # Under a HorizontalPodAutoscaler the replica count is the autoscaler's: a count in the manifest
    # would reset it at every `pulumi up` that touches the Deployment (and show as drift on refresh).
    scaled = spec.scale_settings.type == "target_utilization"
    return {
        "metadata": {"name": name, "labels": labels(spec.endpoint_name, spec.name)},
        "spec": {
            **({} if scaled else {"replicas": count}),
            "selector": {"matchLabels": selector},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {
                    "maxSurge": max(1, math.ceil(count * SURGE_PERCENT / 100)),
                    "maxUnavailable": 0,
                },
            },
            "template": {
                "metadata": {"labels": {**labels(spec.endpoint_name, spec.name), **selector}},
                "spec": {
                    "containers": [
                        {
                            "name": "scorer",
                            "image": image,
                            "imagePullPolicy": "IfNotPresent",
                            "workingDir": APP_ROOT,
                            "env": [{"name": k, "value": v} for k, v in sorted(scorer_env(spec).items())],
                            "ports": [{"name": "http", "containerPort": SCORER_PORT}],
                            "livenessProbe": liveness,
                            "readinessProbe": _probe("/readyz", SCORER_PORT, spec.readiness_probe),
                            "resources": container_resources(spec),
                        }
                    ],
                    "enableServiceLinks": False,
                },
            },
        },
    }


def service_manifest(spec: OnlineDeploymentSpec) -> dict[str, Any]:
    """A ClusterIP Service over the deployment's ready pods: the router addresses its IP, so no
    cluster DNS is needed (kube-proxy spreads connections over the pods that pass readiness)."""
    selector = {"io.mlendpoints.endpoint": spec.endpoint_name, "io.mlendpoints.deployment": spec.name}
    return {
        "metadata": {"name": deployment_name(spec), "labels": labels(spec.endpoint_name, spec.name)},
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": [{"name": "http", "port": SCORER_PORT, "targetPort": SCORER_PORT}],
        },
    }


def autoscaler_manifest(spec: OnlineDeploymentSpec) -> dict[str, Any] | None:
    """An autoscaling/v2 HorizontalPodAutoscaler for `scale_settings: target_utilization`, else None."""
    scale = spec.scale_settings
    if scale.type != "target_utilization":
        return None
    return {
        "metadata": {"name": deployment_name(spec), "labels": labels(spec.endpoint_name, spec.name)},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment_name(spec)},
            "minReplicas": scale.min_instances,
            "maxReplicas": scale.max_instances,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": scale.target_utilization_percentage,
                        },
                    },
                }
            ],
            # Azure's polling_interval: how often the scaler looks (the HPA's own period is the
            # cluster's); kept as the scale-up stabilization window.
            "behavior": {"scaleUp": {"stabilizationWindowSeconds": scale.polling_interval}},
        },
    }


def router_selector(endpoint: OnlineEndpointSpec) -> dict[str, str]:
    """The labels that pick the endpoint's router pods."""
    return {"io.mlendpoints.endpoint": endpoint.name, "io.mlendpoints.role": "router"}


def router_manifest(
    endpoint: OnlineEndpointSpec, image: str, replicas_wanted: int, config_digest: str
) -> dict[str, Any]:
    """The router Deployment: config and keys projected from a ConfigMap and a Secret (reloaded in place)."""
    name = f"{endpoint.name}-router"
    selector = router_selector(endpoint)
    probe = {"httpGet": {"path": "/", "port": ROUTER_PORT}, "periodSeconds": 10, "timeoutSeconds": 5}
    return {
        "metadata": {"name": name, "labels": labels(endpoint.name, role="router")},
        "spec": {
            "replicas": replicas_wanted,
            "selector": {"matchLabels": selector},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {
                    "labels": {**labels(endpoint.name, role="router"), **selector},
                    # The first config the router starts with; later ones reach it without a restart.
                    "annotations": {"mlendpoints.io/initial-config": config_digest[:16]},
                },
                "spec": {
                    "containers": [
                        {
                            "name": "router",
                            "image": image,
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["python", "-m", "serving.router"],
                            "env": [
                                {"name": "MLE_ROUTER_CONFIG", "value": f"{ROUTER_CONFIG_MOUNT}/config.json"},
                                {
                                    "name": "MLE_ROUTER_SECRETS_FILE",
                                    "value": f"{ROUTER_CONFIG_MOUNT}/secrets.json",
                                },
                                {"name": "MLE_ROUTER_PORT", "value": str(ROUTER_PORT)},
                            ],
                            "ports": [{"name": "http", "containerPort": ROUTER_PORT}],
                            "readinessProbe": probe,
                            "livenessProbe": {**probe, "failureThreshold": 3},
                            "resources": {
                                "requests": {"cpu": "250m", "memory": "256Mi"},
                                "limits": {"cpu": "2", "memory": "512Mi"},
                            },
                            "volumeMounts": [
                                {"name": "config", "mountPath": ROUTER_CONFIG_MOUNT, "readOnly": True}
                            ],
                        }
                    ],
                    "volumes": [
                        {
                            "name": "config",
                            "projected": {
                                "sources": [
                                    {"configMap": {"name": f"{endpoint.name}-router"}},
                                    {"secret": {"name": f"{endpoint.name}-keys"}},
                                ]
                            },
                        }
                    ],
                    "enableServiceLinks": False,
                },
            },
        },
    }


def router_service_manifest(
    endpoint: OnlineEndpointSpec, service_type: str, node_port: int = 0
) -> dict[str, Any]:
    """How callers reach the router: a NodePort (or LoadBalancer) Service."""
    port: dict[str, Any] = {"name": "http", "port": ROUTER_PORT, "targetPort": ROUTER_PORT}
    if node_port:
        port["nodePort"] = node_port
    return {
        "metadata": {"name": f"{endpoint.name}-router", "labels": labels(endpoint.name, role="router")},
        "spec": {
            "type": service_type,
            "selector": {"io.mlendpoints.endpoint": endpoint.name, "io.mlendpoints.role": "router"},
            "ports": [port],
        },
    }
