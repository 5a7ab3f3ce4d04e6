"""Online endpoints and deployments, with the deployments' request, probe, scale and resource settings."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator

from components.errors import FieldIssues
from components.quantities import cpu_cores, memory_mb
from components.specs.assets import CodeConfiguration, EnvironmentSpec, Identity, ModelSpec
from components.specs.base import _ENDPOINT_SHOW_KEYS, _READ_ONLY, _SHOW_KEYS, Spec
from components.specs.fields import (
    MAX_CONCURRENT_REQUESTS,
    MAX_INSTANCES,
    MAX_POLLING_INTERVAL_S,
    MAX_PROBE_SECONDS,
    MAX_PROBE_THRESHOLD,
    MAX_QUEUE_WAIT_MS,
    MAX_REQUEST_TIMEOUT_MS,
    Count,
    MirrorPercent,
    Name,
    NonNegative,
    Percent,
    Switch,
    Text,
    TextMap,
    _lower,
    known_vm_size,
    not_below_min_instances,
)

_KUBERNETES_HINT = (
    " (Kubernetes instance types such as defaultinstancetype belong in kubernetesOnlineDeployment files)"
)


class OnlineEndpointSpec(Spec):
    """An online endpoint: auth, traffic split across its deployments, optional mirrored traffic."""

    IGNORED_KEYS: ClassVar[Mapping[str, str]] = MappingProxyType(
        dict.fromkeys(_ENDPOINT_SHOW_KEYS, _READ_ONLY)
    )

    kind: Annotated[Literal["managed", "kubernetes"], BeforeValidator(_lower)] = Field(
        default="managed", description="Azure ML flavour (from `$schema`); used by the azure target."
    )
    name: Name = Field(description="3-32 characters, a letter first, then letters, digits and hyphens.")
    description: str | None = Field(default=None, description="Free text.")
    tags: TextMap = Field(default_factory=dict, description="Tags.")
    auth_mode: Annotated[Literal["key", "aml_token", "aad_token"], BeforeValidator(_lower)] = Field(
        default="key", description="How callers authenticate."
    )
    compute: str | None = Field(
        default=None, description="Kubernetes compute target (kubernetes endpoints on Azure)."
    )
    identity: Identity | None = Field(default=None, description="Managed identity (Azure target).")
    traffic: dict[str, Percent] = Field(
        default_factory=dict, description="Deployment name -> % of live traffic; sums to 100 or all 0."
    )
    mirror_traffic: dict[str, MirrorPercent] = Field(
        default_factory=dict, description="One deployment -> % of live traffic copied to it (at most 50)."
    )
    public_network_access: Switch = Field(
        default="enabled", description="Public reachability (Azure target)."
    )

    @field_validator("compute")
    @classmethod
    def _compute_for_kubernetes(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("kind") == "managed":
            raise ValueError("only kubernetes endpoints name a compute; managed endpoints must not")
        return value

    @field_validator("traffic")
    @classmethod
    def _traffic_total(cls, traffic: dict[str, int]) -> dict[str, int]:
        total = sum(traffic.values())
        if total not in (0, 100):
            weights = ", ".join(f"{name}={pct}" for name, pct in traffic.items())
            raise ValueError(f"weights must add up to 100, or all be 0 (got {weights}: {total})")
        return traffic

    @field_validator("mirror_traffic")
    @classmethod
    def _mirror_target(cls, mirror: dict[str, int], info: ValidationInfo) -> dict[str, int]:
        issues: list[tuple[tuple[str | int, ...], str]] = []
        if len(mirror) > 1:
            issues.append(((), f"mirror to one deployment only (got {', '.join(mirror)})"))
        live = info.data.get("traffic") or {}
        for name, pct in mirror.items():
            if pct and live.get(name) == 100:
                issues.append(
                    ((name,), f"{name!r} already takes 100% of live traffic; mirror to another deployment")
                )
        if issues:
            raise FieldIssues(issues)
        return mirror


class RequestSettings(Spec):
    """How the scorer takes requests."""

    request_timeout_ms: Annotated[Count, Field(le=MAX_REQUEST_TIMEOUT_MS)] = Field(
        default=5000,
        description=f"Scoring timeout in ms, at most {MAX_REQUEST_TIMEOUT_MS} (Azure's maximum).",
    )
    max_concurrent_requests_per_instance: Annotated[Count, Field(le=MAX_CONCURRENT_REQUESTS)] = Field(
        default=1,
        description="Requests one instance works on at once; more wait in a queue. "
        f"At most {MAX_CONCURRENT_REQUESTS}.",
    )
    max_queue_wait_ms: Annotated[NonNegative, Field(le=MAX_QUEUE_WAIT_MS)] = Field(
        default=500, description=f"How long a request may queue before a 429, at most {MAX_QUEUE_WAIT_MS} ms."
    )


class ProbeSettings(Spec):
    """Liveness or readiness probe, in seconds (Azure defaults)."""

    initial_delay: Annotated[Count, Field(le=MAX_PROBE_SECONDS)] = Field(
        default=10, description=f"Seconds after start before the first probe, at most {MAX_PROBE_SECONDS}."
    )
    period: Annotated[Count, Field(le=MAX_PROBE_SECONDS)] = Field(
        default=10, description=f"Seconds between probes, at most {MAX_PROBE_SECONDS}."
    )
    timeout: Annotated[Count, Field(le=MAX_PROBE_SECONDS)] = Field(
        default=2, description=f"Seconds before a probe times out, at most {MAX_PROBE_SECONDS}."
    )
    success_threshold: Annotated[Count, Field(le=MAX_PROBE_THRESHOLD)] = Field(
        default=1, description=f"Consecutive successes to count as healthy, at most {MAX_PROBE_THRESHOLD}."
    )
    failure_threshold: Annotated[Count, Field(le=MAX_PROBE_THRESHOLD)] = Field(
        default=30, description=f"Consecutive failures before giving up, at most {MAX_PROBE_THRESHOLD}."
    )


class ScaleSettings(Spec):
    """`default` (fixed instance_count) or, on Kubernetes, `target_utilization` autoscaling."""

    type: Annotated[Literal["default", "target_utilization"], BeforeValidator(_lower)] = Field(
        default="default", description="Scale type."
    )
    min_instances: Annotated[Count, Field(le=MAX_INSTANCES)] = Field(
        default=1, description=f"target_utilization: fewest instances, at most {MAX_INSTANCES}."
    )
    max_instances: Annotated[Count, Field(le=MAX_INSTANCES)] = Field(
        default=1, description=f"target_utilization: most instances, at most {MAX_INSTANCES}."
    )
    target_utilization_percentage: Percent = Field(
        default=70, description="target_utilization: target CPU %, at most 100."
    )
    polling_interval: Annotated[Count, Field(le=MAX_POLLING_INTERVAL_S)] = Field(
        default=1,
        description="target_utilization: seconds between scaling decisions, "
        f"at most {MAX_POLLING_INTERVAL_S}.",
    )

    @field_validator("max_instances")
    @classmethod
    def _max_not_below_min(cls, value: int, info: ValidationInfo) -> int:
        return not_below_min_instances(value, info)


class ContainerResources(Spec):
    """Kubernetes resource quantities, as Kubernetes writes them (`cpu: 500m`, `memory: 1Gi`)."""

    cpu: Text | None = Field(default=None, description="CPU cores.")
    memory: Text | None = Field(default=None, description="Memory.")
    gpu: Text | None = Field(default=None, alias="nvidia.com/gpu", description="NVIDIA GPUs.")

    @field_validator("cpu")
    @classmethod
    def _cpu(cls, value: str | None) -> str | None:
        if value is not None:
            cpu_cores(value)
        return value

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str | None) -> str | None:
        if value is not None:
            memory_mb(value)
        return value


class ResourceRequirements(Spec):
    """Kubernetes requests and limits for the scoring container."""

    requests: ContainerResources | None = Field(default=None, description="Requested resources.")
    limits: ContainerResources | None = Field(default=None, description="Resource limits.")

    def bound(self) -> tuple[str | None, str | None]:
        """(cpu, memory) that bound a container: the limits, else the requests (as Kubernetes bounds a
        pod); the targets that are not Kubernetes size containers by them and the quota counts them."""
        limits, requests = self.limits, self.requests
        cpu = (limits.cpu if limits else None) or (requests.cpu if requests else None)
        memory = (limits.memory if limits else None) or (requests.memory if requests else None)
        return cpu, memory


class OnlineDeploymentSpec(Spec):
    """One deployment behind an online endpoint: model, code, environment, size and serving settings."""

    IGNORED_KEYS: ClassVar[Mapping[str, str]] = MappingProxyType(dict.fromkeys(_SHOW_KEYS, _READ_ONLY))

    kind: Annotated[Literal["managed", "kubernetes"], BeforeValidator(_lower)] = Field(
        default="managed", description="Azure ML flavour (from `$schema`); managed ones need a known VM size."
    )
    # Azure's Kubernetes deployment files carry `type: kubernetes` beside their `$schema`.
    type: Annotated[Literal["managed", "kubernetes"], BeforeValidator(_lower)] | None = Field(
        default=None, description="`kubernetes` or `managed`, as Azure writes it; must agree with the kind."
    )
    name: Name = Field(description="Deployment name, unique within its endpoint.")
    endpoint_name: Name = Field(description="The online endpoint this deployment belongs to.")
    description: str | None = Field(default=None, description="Free text.")
    tags: TextMap = Field(default_factory=dict, description="Tags.")
    model: ModelSpec | None = Field(default=None, description="Model (optional for custom containers).")
    model_mount_path: str | None = Field(
        default=None, description="Custom containers: where the model is mounted."
    )
    code_configuration: CodeConfiguration | None = Field(default=None, description="Scoring code and script.")
    environment: EnvironmentSpec | None = Field(
        default=None,
        validate_default=True,
        description="Image/conda file, build context or registered environment (MLflow models without "
        "code_configuration bring their own: a no-code deployment).",
    )
    environment_variables: TextMap = Field(default_factory=dict, description="Extra environment variables.")
    instance_type: str | None = Field(
        default=None, validate_default=True, description="VM size (managed) or Kubernetes instance type."
    )
    instance_count: Annotated[Count, Field(le=MAX_INSTANCES)] | None = Field(
        default=None, validate_default=True, description=f"Number of instances, at most {MAX_INSTANCES}."
    )
    app_insights_enabled: bool = Field(
        default=False,
        description="Request logging: Application Insights on Azure; on the local target the router "
        "prints one JSON line per request this deployment serves (`mle logs`).",
    )
    scale_settings: ScaleSettings = Field(default_factory=ScaleSettings, description="Scaling.")
    request_settings: RequestSettings = Field(
        default_factory=RequestSettings, description="Request handling."
    )
    liveness_probe: ProbeSettings = Field(default_factory=ProbeSettings, description="Liveness probe.")
    readiness_probe: ProbeSettings = Field(default_factory=ProbeSettings, description="Readiness probe.")
    data_collector: dict[str, Any] | None = Field(
        default=None, description="Data collection (Azure target), kept as given."
    )
    egress_public_network_access: Switch = Field(
        default="enabled", description="Outbound access (Azure target)."
    )
    resources: ResourceRequirements | None = Field(default=None, description="Kubernetes requests/limits.")

    @field_validator("type")
    @classmethod
    def _type_matches_kind(cls, value: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("kind")
        if value is not None and kind is not None and value != kind:
            raise ValueError(
                f"`type: {value}` in a {kind} deployment file; use the {value} deployment `$schema`"
            )
        return value

    @field_validator("environment")
    @classmethod
    def _needed_unless_mlflow(cls, value: Any, info: ValidationInfo) -> Any:
        model = info.data.get("model")
        no_code = (
            model is not None and model.type == "mlflow_model" and info.data.get("code_configuration") is None
        )
        # A registered model (a reference) is checked once it is resolved (asset_registry).
        if value is None and not no_code and not (model is not None and model.reference is not None):
            raise ValueError(
                "required unless the model is an MLflow model deployed without code_configuration "
                "(`model: {path: ./model, type: mlflow_model}`)"
            )
        return value

    @field_validator("instance_type")
    @classmethod
    def _known_size(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("kind") != "managed":
            return value
        if value is None:
            raise ValueError("required for managed deployments (a VM size such as Standard_DS3_v2)")
        return known_vm_size(value, _KUBERNETES_HINT)

    @field_validator("instance_count")
    @classmethod
    def _count_required(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is None and info.data.get("kind") == "managed":
            raise ValueError("required for managed deployments (1 or more)")
        return value

    @field_validator("scale_settings")
    @classmethod
    def _managed_scale(cls, value: ScaleSettings, info: ValidationInfo) -> ScaleSettings:
        if value.type != "default" and info.data.get("kind") == "managed":
            raise FieldIssues(
                [(("type",), "managed deployments only support `default` (set instance_count)")]
            )
        return value

    @field_validator("liveness_probe")
    @classmethod
    def _liveness_success(cls, value: ProbeSettings) -> ProbeSettings:
        if value.success_threshold != 1:
            raise FieldIssues(
                [(("success_threshold",), f"must be 1 for liveness probes (got {value.success_threshold})")]
            )
        return value

    @field_validator("resources")
    @classmethod
    def _kubernetes_resources(cls, value: ResourceRequirements, info: ValidationInfo) -> ResourceRequirements:
        if info.data.get("kind") == "managed":
            raise ValueError(
                "only kubernetes deployments take `resources`; managed ones size by instance_type"
            )
        return value

    @property
    def effective_instance_count(self) -> int:
        """Instances to start: instance_count, else the autoscaler's minimum, else 1."""
        if self.instance_count is not None:
            return self.instance_count
        return self.scale_settings.min_instances if self.scale_settings.type == "target_utilization" else 1
