"""Normalise our component types and raw provider resources into the plain dicts the rules read."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final

# Shapes produced (every dict also has kind, name, type, urn, stack):
#   online_endpoint   auth_mode traffic mirror_traffic public_network_access
#   online_deployment endpoint_name instance_type instance_count image request_timeout_ms
#                     probes{liveness,readiness} target previous_instance_type previous_instance_count
#   batch_endpoint    auth_mode public_network_access default_deployment target
#   batch_deployment  endpoint_name compute instance_count cluster_max_instances image target
#                     mini_batch_size max_concurrency_per_instance output_action output_file_name
#                     max_retries timeout_s error_threshold logging_level
#   compute_cluster   size tier low_priority min_instances max_instances idle_s public_ip target
#   k8s_workload      replicas containers[{name image cpu_limit memory_limit probes}]
#   k8s_service       service_type
#   container         image published[{ip external}] cpus memory_gb
#   image             image
# A probe is {initial_delay_s period_s timeout_s failure_threshold success_threshold}.

COMPONENT_PREFIX: Final = "mlendpoints:"
AZURE_ML: Final = "azure-native:machinelearningservices:"


class _Unknown:
    """A value the engine cannot know during preview (an output of a resource not created yet)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN: Final = _Unknown()


def known(*values: Any) -> bool:
    return all(v is not UNKNOWN for v in values)


def _get(props: Any, *keys: str, default: Any = None) -> Any:
    # Components pass snake_case inputs, providers camelCase: accept either spelling.
    if not isinstance(props, Mapping):
        return UNKNOWN if props is UNKNOWN else default
    for key in keys:
        if key in props and props[key] is not None:
            return props[key]
    return default


def _int(value: Any) -> Any:
    if value is None or value is UNKNOWN:
        return value
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _weights(value: Any) -> Any:
    if not isinstance(value, Mapping):
        return value if value is UNKNOWN else {}
    return {str(k): _int(v) for k, v in value.items()}


_ISO_DURATION = re.compile(
    r"^P(?:(?P<d>[\d.]+)D)?(?:T(?:(?P<h>[\d.]+)H)?(?:(?P<m>[\d.]+)M)?(?:(?P<s>[\d.]+)S)?)?$"
)


def iso_seconds(value: Any) -> Any:
    """Seconds in an ISO 8601 duration such as PT5S or PT1M30S (how Azure ML spells timeouts)."""
    if value is None or value is UNKNOWN or isinstance(value, int | float):
        return value
    match = _ISO_DURATION.match(str(value).strip().upper())
    if not match or value in ("P", "PT"):
        return None
    parts = {k: float(v) if v else 0.0 for k, v in match.groupdict().items()}
    return parts["d"] * 86400 + parts["h"] * 3600 + parts["m"] * 60 + parts["s"]


_CPU_UNITS: Final = MappingProxyType({"m": 0.001, "": 1.0})
_MEM_UNITS: Final = MappingProxyType(
    {
        "": 1e-9,
        "k": 1e-6,
        "M": 1e-3,
        "G": 1.0,
        "T": 1e3,
        "Ki": 2**10 / 1e9,
        "Mi": 2**20 / 1e9,
        "Gi": 2**30 / 1e9,
        "Ti": 2**40 / 1e9,
    }
)


def k8s_cpu(value: Any) -> Any:
    """Cores in a Kubernetes CPU quantity ("500m", "2", 1.5)."""
    if value is None or value is UNKNOWN or isinstance(value, int | float):
        return value
    match = re.match(r"^([\d.]+)(m?)$", str(value).strip())
    return float(match.group(1)) * _CPU_UNITS[match.group(2)] if match else None


def k8s_memory_gb(value: Any) -> Any:
    """Gigabytes (10^9) in a Kubernetes memory quantity ("512Mi", "2Gi", "1G", bytes)."""
    if value is None or value is UNKNOWN:
        return value
    if isinstance(value, int | float):
        return value / 1e9
    match = re.match(r"^([\d.]+)(Ki|Mi|Gi|Ti|k|M|G|T)?$", str(value).strip())
    return float(match.group(1)) * _MEM_UNITS[match.group(2) or ""] if match else None


def stack_of(urn: str) -> str:
    # urn:pulumi:<stack>::<project>::<qualified type>::<name>
    parts = urn.split("::")
    return parts[0].split(":", 2)[2] if parts and parts[0].count(":") >= 2 else ""


def under_component(urn: str) -> bool:
    """True when one of the resource's ancestors is one of our components (the type chain says so)."""
    parts = urn.split("::")
    if len(parts) < 4:
        return False
    return any(t.startswith(COMPONENT_PREFIX) for t in parts[2].split("$")[:-1])


def _probe(raw: Any, *, iso: bool) -> Any:
    if raw is UNKNOWN or not isinstance(raw, Mapping):
        return raw if raw is UNKNOWN else None
    conv = iso_seconds if iso else (lambda v: v)
    return {
        "initial_delay_s": conv(_get(raw, "initial_delay", "initialDelay", "initialDelaySeconds")),
        "period_s": conv(_get(raw, "period", "periodSeconds")),
        "timeout_s": conv(_get(raw, "timeout", "timeoutSeconds")),
        "failure_threshold": _int(_get(raw, "failure_threshold", "failureThreshold")),
        "success_threshold": _int(_get(raw, "success_threshold", "successThreshold")),
    }


def _component_endpoint(p: Mapping[str, Any], batch: bool) -> dict[str, Any]:
    out = {
        "kind": "batch_endpoint" if batch else "online_endpoint",
        "auth_mode": _lower(_get(p, "auth_mode", "authMode")),
        "public_network_access": _lower(_get(p, "public_network_access", "publicNetworkAccess")),
    }
    if batch:
        defaults = _get(p, "defaults", default={})
        out["default_deployment"] = _get(p, "default_deployment", "defaultDeployment") or _get(
            defaults, "deployment_name", "deploymentName"
        )
        out["target"] = _lower(_get(p, "target"))
    else:
        out["traffic"] = _weights(_get(p, "traffic"))
        out["mirror_traffic"] = _weights(_get(p, "mirror_traffic", "mirrorTraffic"))
    return out


def _component_deployment(p: Mapping[str, Any]) -> dict[str, Any]:
    settings = _get(p, "request_settings", "requestSettings", default={})
    count = _int(_get(p, "instance_count", "instanceCount", default=1))
    scale = _get(p, "scale_settings", "scaleSettings", default={})
    if _lower(_get(scale, "type")) == "target_utilization":
        # An autoscaled deployment can reach max_instances, so quota must cover that.
        high = _int(_get(scale, "max_instances", "maxInstances", default=count))
        count = max(count or 0, high or 0) if known(count, high) else UNKNOWN
    return {
        "kind": "online_deployment",
        "endpoint_name": _get(p, "endpoint_name", "endpointName"),
        "instance_type": _get(p, "instance_type", "instanceType"),
        "instance_count": count,
        "image": _get(p, "image"),
        "request_timeout_ms": _int(_get(settings, "request_timeout_ms", "requestTimeoutMs")),
        "probes": {
            "liveness": _probe(_get(p, "liveness_probe", "livenessProbe"), iso=False),
            "readiness": _probe(_get(p, "readiness_probe", "readinessProbe"), iso=False),
        },
        # None when the component does not say; the quota rule then uses the stack's target.
        "target": _lower(_get(p, "target")),
        "previous_instance_type": _get(p, "previous_instance_type", "previousInstanceType"),
        "previous_instance_count": _int(_get(p, "previous_instance_count", "previousInstanceCount")),
    }


def _tier(value: Any) -> Any:
    # Azure's vmPriority spells it LowPriority, the YAML low_priority.
    lowered = _lower(value)
    return "low_priority" if lowered == "lowpriority" else lowered


def _component_cluster(p: Mapping[str, Any]) -> dict[str, Any]:
    tier = _tier(_get(p, "tier", default="dedicated"))
    return {
        "kind": "compute_cluster",
        "size": _get(p, "size", "vm_size"),
        "tier": tier,
        "low_priority": UNKNOWN if tier is UNKNOWN else tier == "low_priority",
        "min_instances": _int(_get(p, "min_instances", "minInstances", default=0)),
        "max_instances": _int(_get(p, "max_instances", "maxInstances", default=1)),
        "idle_s": _int(_get(p, "idle_time_before_scale_down", "idleTimeBeforeScaleDown", default=120)),
        "public_ip": False,
        "target": _lower(_get(p, "target")),
    }


# Azure's defaults for every batch deployment setting a resource leaves out (modelBatchDeployment schema
# and the REST BatchDeploymentProperties): an absent error threshold, for one, ignores every failure.
BATCH_DEFAULTS: Final = MappingProxyType(
    {
        "instance_count": 1,
        "mini_batch_size": 10,
        "max_concurrency_per_instance": 1,
        "output_action": "append_row",
        "output_file_name": "predictions.csv",
        "max_retries": 3,
        "timeout_s": 30,
        "error_threshold": -1,
        "logging_level": "info",
    }
)
_OUTPUT_ACTIONS: Final = MappingProxyType({"appendrow": "append_row", "summaryonly": "summary_only"})


def compute_name(value: Any) -> Any:
    """The cluster name in a deployment's compute: `cpu`, `azureml:cpu` or an ARM id `.../computes/cpu`."""
    if not isinstance(value, str):
        return value
    match = re.search(r"/computes/([^/]+)/*$", value.strip(), re.IGNORECASE)
    return match.group(1) if match else value.strip().removeprefix("azureml:")


def _batch_settings(settings: Any, retry: Any, *, iso: bool) -> dict[str, Any]:
    timeout = _get(retry, "timeout", default=BATCH_DEFAULTS["timeout_s"])
    action = _lower(_get(settings, "output_action", "outputAction", default=BATCH_DEFAULTS["output_action"]))
    return {
        "mini_batch_size": _int(
            _get(settings, "mini_batch_size", "miniBatchSize", default=BATCH_DEFAULTS["mini_batch_size"])
        ),
        "max_concurrency_per_instance": _int(
            _get(
                settings,
                "max_concurrency_per_instance",
                "maxConcurrencyPerInstance",
                default=BATCH_DEFAULTS["max_concurrency_per_instance"],
            )
        ),
        "output_action": _OUTPUT_ACTIONS.get(action, action) if isinstance(action, str) else action,
        "output_file_name": _get(
            settings, "output_file_name", "outputFileName", default=BATCH_DEFAULTS["output_file_name"]
        ),
        "max_retries": _int(_get(retry, "max_retries", "maxRetries", default=BATCH_DEFAULTS["max_retries"])),
        # Azure spells the per-mini-batch timeout as ISO 8601 (PT30S), the YAML as seconds.
        "timeout_s": iso_seconds(timeout) if iso else _number(timeout),
        "error_threshold": _int(
            _get(settings, "error_threshold", "errorThreshold", default=BATCH_DEFAULTS["error_threshold"])
        ),
        "logging_level": _lower(
            _get(settings, "logging_level", "loggingLevel", default=BATCH_DEFAULTS["logging_level"])
        ),
    }


def _number(value: Any) -> Any:
    if value is None or value is UNKNOWN or isinstance(value, int | float):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _component_batch_deployment(p: Mapping[str, Any]) -> dict[str, Any]:
    settings = _get(p, "settings", default={})
    resources = _get(p, "resources", default={})
    count = _get(p, "instance_count", "instanceCount")
    if count is None:
        count = _get(resources, "instance_count", "instanceCount", default=BATCH_DEFAULTS["instance_count"])
    return {
        "kind": "batch_deployment",
        "endpoint_name": _get(p, "endpoint_name", "endpointName"),
        "compute": compute_name(_get(p, "compute")),
        "instance_count": _int(count),
        # The component passes its cluster's max_instances along, so the rule needs no lookup.
        "cluster_max_instances": _int(_get(p, "max_instances", "maxInstances")),
        "image": _get(p, "image"),
        "target": _lower(_get(p, "target")),
        **_batch_settings(settings, _get(settings, "retry_settings", "retrySettings", default={}), iso=False),
    }


def _azure_endpoint(p: Mapping[str, Any], batch: bool) -> dict[str, Any]:
    inner = _get(p, "properties", "onlineEndpointProperties", "batchEndpointProperties", default={})
    out = _component_endpoint(inner, batch)
    out["auth_mode"] = {"amltoken": "aml_token", "aadtoken": "aad_token"}.get(
        out["auth_mode"], out["auth_mode"]
    )
    if batch:
        # Batch endpoints have no such field: the workspace's network settings decide.
        out["public_network_access"] = None
        out["target"] = "azure"
    else:
        # Azure enables public access when the field is absent.
        out["public_network_access"] = out["public_network_access"] or "enabled"
    return out


def _azure_deployment(p: Mapping[str, Any]) -> dict[str, Any]:
    inner = _get(p, "properties", "onlineDeploymentProperties", default={})
    settings = _get(inner, "requestSettings", default={})
    scale = _get(inner, "scaleSettings", default={})
    count = _int(_get(_get(p, "sku", default={}), "capacity", default=1))
    if _lower(_get(scale, "scaleType")) == "targetutilization":
        # Azure reserves quota for max_instances under autoscale.
        count = _int(_get(scale, "maxInstances", default=count))
    timeout = iso_seconds(_get(settings, "requestTimeout"))
    return {
        "kind": "online_deployment",
        "endpoint_name": _get(p, "endpointName"),
        "instance_type": _get(inner, "instanceType"),
        "instance_count": count,
        "image": _get(inner, "environmentId"),
        "request_timeout_ms": _int(timeout * 1000) if isinstance(timeout, float | int) else timeout,
        "probes": {
            "liveness": _probe(_get(inner, "livenessProbe"), iso=True),
            "readiness": _probe(_get(inner, "readinessProbe"), iso=True),
        },
        # Kubernetes-compute deployments run on an attached cluster, outside the VM-family quota.
        "target": "azure"
        if _lower(_get(inner, "endpointComputeType", default="managed")) == "managed"
        else "attached",
        "previous_instance_type": None,
        "previous_instance_count": None,
    }


def _azure_compute(p: Mapping[str, Any]) -> dict[str, Any] | None:
    outer = _get(p, "properties", default={})
    if _lower(_get(outer, "computeType")) != "amlcompute":
        return None
    inner = _get(outer, "properties", default={})
    scale = _get(inner, "scaleSettings", default={})
    tier = _tier(_get(inner, "vmPriority", default="dedicated"))
    return {
        "kind": "compute_cluster",
        "size": _get(inner, "vmSize"),
        "tier": tier,
        "low_priority": UNKNOWN if tier is UNKNOWN else tier == "low_priority",
        "min_instances": _int(_get(scale, "minNodeCount", default=0)),
        "max_instances": _int(_get(scale, "maxNodeCount", default=1)),
        "idle_s": iso_seconds(_get(scale, "nodeIdleTimeBeforeScaleDown", default="PT120S")),
        "public_ip": _get(inner, "enableNodePublicIp", default=True),
        "target": "azure",
    }


def _azure_batch_deployment(p: Mapping[str, Any]) -> dict[str, Any]:
    inner = _get(p, "properties", default={})
    resources = _get(inner, "resources", default={})
    return {
        "kind": "batch_deployment",
        "endpoint_name": _get(p, "endpointName"),
        "compute": compute_name(_get(inner, "compute")),
        "instance_count": _int(_get(resources, "instanceCount", default=BATCH_DEFAULTS["instance_count"])),
        "cluster_max_instances": None,
        "image": _get(inner, "environmentId"),
        "target": "azure",
        **_batch_settings(inner, _get(inner, "retrySettings", default={}), iso=True),
    }


def _k8s_deployment(p: Mapping[str, Any]) -> dict[str, Any]:
    pod = _get(_get(_get(p, "spec", default={}), "template", default={}), "spec", default={})
    containers = _get(pod, "containers", default=[])
    normalised: Any = UNKNOWN if containers is UNKNOWN else []
    for c in containers if isinstance(normalised, list) else []:
        limits = _get(_get(c, "resources", default={}), "limits", default={})
        normalised.append(
            {
                "name": _get(c, "name"),
                "image": _get(c, "image"),
                "cpu_limit": k8s_cpu(_get(limits, "cpu")),
                "memory_limit": k8s_memory_gb(_get(limits, "memory")),
                "probes": {
                    "liveness": _probe(_get(c, "livenessProbe"), iso=False),
                    "readiness": _probe(_get(c, "readinessProbe"), iso=False),
                },
            }
        )
    return {
        "kind": "k8s_workload",
        "replicas": _int(_get(_get(p, "spec", default={}), "replicas", default=1)),
        "containers": normalised,
    }


def _k8s_service(p: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "kind": "k8s_service",
        "service_type": _get(_get(p, "spec", default={}), "type", default="ClusterIP"),
    }


def _docker_container(p: Mapping[str, Any]) -> dict[str, Any]:
    ports = _get(p, "ports", default=[])
    published: Any = UNKNOWN if ports is UNKNOWN else []
    for port in ports if isinstance(published, list) else []:
        if _get(port, "external") is not None:
            # Docker binds 0.0.0.0 when no ip is given.
            published.append(
                {"ip": _get(port, "ip", default="0.0.0.0"), "external": _int(_get(port, "external"))}
            )
    memory_mb = _get(p, "memory")
    cpus = _get(p, "cpus")
    return {
        "kind": "container",
        "image": _get(p, "image"),
        "published": published,
        "cpus": k8s_cpu(cpus) if cpus is not None else None,
        "memory_gb": memory_mb * 1e6 / 1e9 if isinstance(memory_mb, int | float) else memory_mb,
    }


def _docker_image(p: Mapping[str, Any]) -> dict[str, Any]:
    return {"kind": "image", "image": _get(p, "imageName", "image_name")}


_ADAPTERS: Final[Mapping[str, Callable[[Mapping[str, Any]], dict[str, Any] | None]]] = MappingProxyType(
    {
        "mlendpoints:online:OnlineEndpoint": lambda p: _component_endpoint(p, batch=False),
        "mlendpoints:online:OnlineDeployment": _component_deployment,
        "mlendpoints:batch:BatchEndpoint": lambda p: _component_endpoint(p, batch=True),
        "mlendpoints:batch:BatchDeployment": _component_batch_deployment,
        "mlendpoints:batch:ComputeCluster": _component_cluster,
        AZURE_ML + "OnlineEndpoint": lambda p: _azure_endpoint(p, batch=False),
        AZURE_ML + "OnlineDeployment": _azure_deployment,
        AZURE_ML + "BatchEndpoint": lambda p: _azure_endpoint(p, batch=True),
        AZURE_ML + "BatchDeployment": _azure_batch_deployment,
        AZURE_ML + "Compute": _azure_compute,
        "kubernetes:apps/v1:Deployment": _k8s_deployment,
        "kubernetes:core/v1:Service": _k8s_service,
        "docker:index/container:Container": _docker_container,
        "docker:index/image:Image": _docker_image,
    }
)

# Where the Azure name lives on raw provider resources; the logical name is the fallback.
_AZURE_NAME_KEY: Final = MappingProxyType(
    {
        AZURE_ML + "OnlineEndpoint": "endpointName",
        AZURE_ML + "BatchEndpoint": "endpointName",
        AZURE_ML + "OnlineDeployment": "deploymentName",
        AZURE_ML + "BatchDeployment": "deploymentName",
        AZURE_ML + "Compute": "computeName",
    }
)


def _resource_name(resource_type: str, props: Mapping[str, Any], logical: str) -> Any:
    if resource_type in _AZURE_NAME_KEY:
        return _get(props, _AZURE_NAME_KEY[resource_type], default=logical)
    if resource_type.startswith("kubernetes:"):
        return _get(_get(props, "metadata", default={}), "name", default=logical)
    return _get(props, "name", default=logical)


def adapt(resource_type: str, props: Any, urn: str = "", name: str = "") -> dict[str, Any] | None:
    """The normalised view of one resource, or None when no rule looks at this type.

    Raw Azure ML resources created by our components are skipped: the component is the
    resource the user wrote, so reporting both would say everything twice.
    """
    adapter = _ADAPTERS.get(resource_type)
    if adapter is None or not isinstance(props, Mapping):
        return None
    if resource_type.startswith(AZURE_ML) and under_component(urn):
        return None
    out = adapter(props)
    if out is None:
        return None
    out["name"] = _resource_name(resource_type, props, name)
    out.update(type=resource_type, urn=urn, stack=stack_of(urn), owned=under_component(urn))
    return out
