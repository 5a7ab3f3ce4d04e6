"""Validated specs (pydantic, Azure ML defaults) for endpoints, deployments, batch, compute, assets."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from components.errors import (
    FieldIssues,
    Problem,
    Source,
    SpecError,
    keys_of,
    problems_from_validation_error,
    show,
    unknown_key_message,
)
from components.skus import find_sku, nearest_skus

# ---------------------------------------------------------------- field types

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]*")


def _check_name(value: str, low: int, high: int) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError(f"must start with a letter and use only letters, digits and hyphens (got {value!r})")
    if not low <= len(value) <= high:
        raise ValueError(f"must be {low}-{high} characters long (got {value!r}, {len(value)} long)")
    return value


def _not_bool(value: Any) -> Any:
    # pydantic would quietly turn `true` into 1; a boolean where a count belongs is a mistake.
    if isinstance(value, bool):
        raise ValueError(f"must be a whole number (got {show(value)})")
    return value


def _scalar_text(value: Any) -> Any:
    # YAML reads `WORKER_COUNT: 4` as a number; environment variables and tags are text anyway.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _lower(value: Any) -> Any:
    # The az CLI accepts enum values in any case (`Key`, `Dedicated`).
    return value.lower() if isinstance(value, str) else value


Name = Annotated[str, AfterValidator(lambda value: _check_name(value, 3, 32))]
# Azure's naming rules for workspaces/computes: 2 to 16 characters (the policy pack checks the same).
COMPUTE_NAME_LENGTH = (2, 16)
ComputeName = Annotated[str, AfterValidator(lambda value: _check_name(value, *COMPUTE_NAME_LENGTH))]
Count = Annotated[int, BeforeValidator(_not_bool), Field(ge=1)]
NonNegative = Annotated[int, BeforeValidator(_not_bool), Field(ge=0)]
Percent = Annotated[int, BeforeValidator(_not_bool), Field(ge=0, le=100)]
MirrorPercent = Annotated[int, BeforeValidator(_not_bool), Field(ge=0, le=50)]
Text = Annotated[str, BeforeValidator(_scalar_text)]
TextMap = dict[str, Text]
Switch = Annotated[Literal["enabled", "disabled"], BeforeValidator(_lower)]


def _context(info: ValidationInfo) -> tuple[Path | None, bool]:
    context = info.context if isinstance(info.context, Mapping) else {}
    base = context.get("base_dir")
    return (Path(base) if base is not None else None), bool(context.get("check_paths"))


def _is_remote(text: str) -> bool:
    return text.startswith("azureml:") or "://" in text


PathKind = Literal["file", "folder", "file or folder"]


def _resolve_local(value: Any, info: ValidationInfo, expect: PathKind) -> Path:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be the path of a local {expect} (got {show(value)})")
    if _is_remote(value):
        raise ValueError(f"must be a local {expect}, not {value!r}")
    base, check = _context(info)
    # Relative paths are relative to the YAML file's folder (or the stack's base dir), as in the az CLI.
    path = Path(os.path.normpath(base / value)) if base is not None else Path(value)
    if check:
        where = f" ({value!r} resolved against {base})" if base is not None and path != Path(value) else ""
        if not path.exists():
            raise ValueError(f"no such {expect}: {path}{where}")
        if expect == "file" and not path.is_file():
            raise ValueError(f"expected a file, found a folder: {path}{where}")
        if expect == "folder" and not path.is_dir():
            raise ValueError(f"expected a folder, found a file: {path}{where}")
    return path


def _local_path(expect: PathKind) -> BeforeValidator:
    return BeforeValidator(lambda value, info: _resolve_local(value, info, expect))


def _conda_file(value: Any, info: ValidationInfo) -> Any:
    return dict(value) if isinstance(value, Mapping) else _resolve_local(value, info, "file")


LocalDir = Annotated[Path, _local_path("folder")]
LocalFileOrDir = Annotated[Path, _local_path("file or folder")]

_SHORT_REFERENCE = re.compile(r"azureml:[A-Za-z0-9_][A-Za-z0-9_.-]*(:[A-Za-z0-9_.-]+|@[A-Za-z0-9_.-]+)")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")


def check_reference(value: str, what: str, local_hint: str, *, any_uri: bool = False) -> str:
    """Accept `azureml:name:version`, `azureml:name@label`, `azureml://...` (and other URIs if asked)."""
    if _SHORT_REFERENCE.fullmatch(value) or (value.startswith("azureml://") and _URI.fullmatch(value)):
        return value
    if any_uri and _URI.fullmatch(value):
        return value
    raise ValueError(
        f"{value!r} is not a registered {what} reference (azureml:<name>:<version>, azureml:<name>@<label> "
        f"or azureml://...); {local_hint}"
    )


# ---------------------------------------------------------------- base


class Spec(BaseModel):
    """Base of every spec: unknown keys are errors, specs are immutable, `$schema` is accepted."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    IGNORED_KEYS: ClassVar[Mapping[str, str]] = MappingProxyType({})
    """Keys accepted on purpose but dropped (with a SpecWarning saying why)."""

    @model_validator(mode="before")
    @classmethod
    def _drop_schema(cls, data: Any) -> Any:
        # `$schema` only tells the kind of document, which the loader has already read.
        if isinstance(data, Mapping) and "$schema" in data:
            return {key: value for key, value in data.items() if key != "$schema"}
        return data


_READ_ONLY = "read-only, reported by Azure ML (as in `az ml ... show` output); ignored"
_SHOW_KEYS = ("id", "provisioning_state", "creation_context", "properties")
_ENDPOINT_SHOW_KEYS = (*_SHOW_KEYS, "scoring_uri", "openapi_uri", "swagger_uri", "location")


# ---------------------------------------------------------------- assets


class ModelSpec(Spec):
    """A model: a local file or folder (`path`), or a registered Azure ML model (`reference`)."""

    name: str | None = Field(default=None, description="Model name (used when registering it on Azure).")
    version: Text | None = Field(
        default=None, description="Model version (used when registering it on Azure)."
    )
    description: str | None = Field(default=None, description="Free text.")
    tags: TextMap = Field(default_factory=dict, description="Tags.")
    path: LocalFileOrDir | None = Field(
        default=None, description="Local file or folder, relative to the YAML file."
    )
    reference: str | None = Field(
        default=None,
        description="Registered model (`azureml:name:version`, `azureml:name@label`) or cloud URI.",
    )
    type: Annotated[Literal["custom_model", "mlflow_model", "triton_model"], BeforeValidator(_lower)] = Field(
        default="custom_model", description="Storage format of the model."
    )
    flavors: dict[str, Any] | None = Field(default=None, description="MLflow flavors, kept as given.")

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: Any) -> Any:
        # `model: azureml:my-model:1` is a reference; `path: azureml://datastores/...` is a cloud path.
        if isinstance(data, str):
            return {"reference": data}
        if isinstance(data, Mapping) and isinstance(data.get("path"), str) and "://" in data["path"]:
            rest = {key: value for key, value in data.items() if key != "path"}
            return {**rest, "reference": data["path"]}
        return data

    @field_validator("reference")
    @classmethod
    def _check_reference(cls, value: str) -> str:
        local = value if not _is_remote(value) else "./model"
        return check_reference(
            value, "model", f"for a local folder write `model: {{path: {local}}}`", any_uri=True
        )

    @model_validator(mode="after")
    def _one_source(self) -> ModelSpec:
        if (self.path is None) == (self.reference is None):
            raise ValueError(
                "give either `path` (a local file or folder) or a registered reference (azureml:my-model:1)"
            )
        return self

    @property
    def is_local(self) -> bool:
        return self.path is not None


def _require_file(info: ValidationInfo, folder: Path, name: str, field: str) -> None:
    """With path checks on, `name` must be a file inside `folder`; the problem lands on `field`."""
    if _context(info)[1] and not (folder / name).is_file():
        raise FieldIssues([((field,), f"no such file: {folder / name}")])


class BuildContext(Spec):
    """A Docker build context: a local folder and the Dockerfile inside it."""

    path: LocalDir = Field(description="Build context folder, relative to the YAML file.")
    dockerfile_path: str = Field(
        default="Dockerfile", description="Dockerfile, relative to the build context."
    )

    @model_validator(mode="after")
    def _dockerfile_exists(self, info: ValidationInfo) -> BuildContext:
        _require_file(info, self.path, self.dockerfile_path, "dockerfile_path")
        return self


class EnvironmentSpec(Spec):
    """Where the code runs: an image (plus conda file), a build context, or a registered environment."""

    IGNORED_KEYS: ClassVar[Mapping[str, str]] = MappingProxyType(
        {
            "inference_config": "custom inference routes are ignored: mlendpoints serves the Azure ML routes "
            "(/, /score, /swagger.json) itself",
        }
    )

    name: str | None = Field(
        default=None, description="Environment name (used when registering it on Azure)."
    )
    version: Text | None = Field(default=None, description="Environment version.")
    description: str | None = Field(default=None, description="Free text.")
    tags: TextMap = Field(default_factory=dict, description="Tags.")
    image: str | None = Field(default=None, description="Base Docker image.")
    conda_file: Annotated[Path | dict[str, Any], BeforeValidator(_conda_file)] | None = Field(
        default=None,
        description="Conda file (path relative to the YAML file, or inline) installed on top of `image`.",
    )
    build: BuildContext | None = Field(default=None, description="Docker build context instead of an image.")
    reference: str | None = Field(
        default=None,
        description="Registered environment (`azureml:name:version`, `azureml://registries/...`).",
    )
    os_type: Annotated[Literal["linux"], BeforeValidator(_lower)] = Field(
        default="linux", description="Only Linux containers are supported."
    )

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: Any) -> Any:
        return {"reference": data} if isinstance(data, str) else data

    @field_validator("reference")
    @classmethod
    def _check_reference(cls, value: str) -> str:
        hint = "or describe it inline: `environment: {image: ..., conda_file: ./conda.yaml}`"
        return check_reference(value, "environment", hint)

    @model_validator(mode="after")
    def _one_source(self) -> EnvironmentSpec:
        if self.reference is not None:
            if self.image or self.build or self.conda_file:
                raise ValueError(
                    "a registered environment reference cannot be combined with image/build/conda_file"
                )
        elif self.image and self.build:
            raise ValueError("give either `image` or `build`, not both")
        elif not (self.image or self.build):
            raise ValueError(
                "give `image` (optionally with `conda_file`) or `build` (a Docker build context)"
            )
        elif self.conda_file is not None and not self.image:
            raise FieldIssues([(("conda_file",), "needs `image` to install into (not allowed with `build`)")])
        return self

    @property
    def is_local(self) -> bool:
        return self.reference is None


class CodeConfiguration(Spec):
    """The scoring code: a local folder and the script in it that has init() and run()."""

    code: LocalDir = Field(description="Folder with the scoring code, relative to the YAML file.")
    scoring_script: str = Field(min_length=1, description="Script inside `code` with init() and run().")

    @model_validator(mode="after")
    def _script_exists(self, info: ValidationInfo) -> CodeConfiguration:
        _require_file(info, self.code, self.scoring_script, "scoring_script")
        return self


class Identity(Spec):
    """Managed identity (Azure target only)."""

    type: Annotated[Literal["system_assigned", "user_assigned"], BeforeValidator(_lower)] = Field(
        description="Kind of managed identity."
    )
    user_assigned_identities: list[str] = Field(
        default_factory=list, description="Resource ids of user-assigned identities."
    )

    @field_validator("user_assigned_identities", mode="before")
    @classmethod
    def _resource_ids(cls, value: Any) -> Any:
        # The YAML examples write `- resource_id: /subscriptions/...`.
        if isinstance(value, list):
            return [item.get("resource_id", item) if isinstance(item, Mapping) else item for item in value]
        return value

    @model_validator(mode="after")
    def _ids_match_type(self) -> Identity:
        if self.type == "user_assigned" and not self.user_assigned_identities:
            raise FieldIssues([(("user_assigned_identities",), "required when type is user_assigned")])
        if self.type == "system_assigned" and self.user_assigned_identities:
            raise FieldIssues([(("user_assigned_identities",), "only allowed when type is user_assigned")])
        return self


# ---------------------------------------------------------------- online


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

    request_timeout_ms: Annotated[Count, Field(le=180_000)] = Field(
        default=5000, description="Scoring timeout in ms (Azure allows at most 180000)."
    )
    max_concurrent_requests_per_instance: Count = Field(
        default=1, description="Requests one instance works on at once; more wait in a queue."
    )
    max_queue_wait_ms: NonNegative = Field(
        default=500, description="How long a request may queue before a 429."
    )


class ProbeSettings(Spec):
    """Liveness or readiness probe, in seconds (Azure defaults)."""

    initial_delay: Count = Field(default=10, description="Seconds after start before the first probe.")
    period: Count = Field(default=10, description="Seconds between probes.")
    timeout: Count = Field(default=2, description="Seconds before a probe times out.")
    success_threshold: Count = Field(default=1, description="Consecutive successes to count as healthy.")
    failure_threshold: Count = Field(default=30, description="Consecutive failures before giving up.")


class ScaleSettings(Spec):
    """`default` (fixed instance_count) or, on Kubernetes, `target_utilization` autoscaling."""

    type: Annotated[Literal["default", "target_utilization"], BeforeValidator(_lower)] = Field(
        default="default", description="Scale type."
    )
    min_instances: Count = Field(default=1, description="target_utilization: fewest instances.")
    max_instances: Count = Field(default=1, description="target_utilization: most instances.")
    target_utilization_percentage: Percent = Field(
        default=70, description="target_utilization: target CPU %."
    )
    polling_interval: Count = Field(
        default=1, description="target_utilization: seconds between scaling decisions."
    )

    @field_validator("max_instances")
    @classmethod
    def _max_not_below_min(cls, value: int, info: ValidationInfo) -> int:
        low = info.data.get("min_instances")
        if low is not None and value < low:
            raise ValueError(f"must be >= min_instances ({low}) (got {value})")
        return value


class ContainerResources(Spec):
    """Kubernetes resource quantities, as Kubernetes writes them (`cpu: 500m`, `memory: 1Gi`)."""

    cpu: Text | None = Field(default=None, description="CPU cores.")
    memory: Text | None = Field(default=None, description="Memory.")
    gpu: Text | None = Field(default=None, alias="nvidia.com/gpu", description="NVIDIA GPUs.")


class ResourceRequirements(Spec):
    """Kubernetes requests and limits for the scoring container."""

    requests: ContainerResources | None = Field(default=None, description="Requested resources.")
    limits: ContainerResources | None = Field(default=None, description="Resource limits.")


class OnlineDeploymentSpec(Spec):
    """One deployment behind an online endpoint: model, code, environment, size and serving settings."""

    IGNORED_KEYS: ClassVar[Mapping[str, str]] = MappingProxyType(dict.fromkeys(_SHOW_KEYS, _READ_ONLY))

    kind: Annotated[Literal["managed", "kubernetes"], BeforeValidator(_lower)] = Field(
        default="managed", description="Azure ML flavour (from `$schema`); managed ones need a known VM size."
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
    environment: EnvironmentSpec = Field(
        description="Image/conda file, build context or registered environment."
    )
    environment_variables: TextMap = Field(default_factory=dict, description="Extra environment variables.")
    instance_type: str | None = Field(
        default=None, validate_default=True, description="VM size (managed) or Kubernetes instance type."
    )
    instance_count: Count | None = Field(
        default=None, validate_default=True, description="Number of instances."
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

    @field_validator("instance_type")
    @classmethod
    def _known_size(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("kind") != "managed":
            return value
        if value is None:
            raise ValueError("required for managed deployments (a VM size such as Standard_DS3_v2)")
        sku = find_sku(value)
        if sku is None:
            raise ValueError(f"unknown VM size {value!r}; nearest known: {', '.join(nearest_skus(value))}")
        return sku.name

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


# ---------------------------------------------------------------- batch


class BatchEndpointDefaults(Spec):
    """Batch endpoint defaults."""

    deployment_name: Name | None = Field(default=None, description="Deployment that serves jobs by default.")


class BatchEndpointSpec(Spec):
    """A batch endpoint: takes jobs and hands them to its default (or a named) deployment."""

    IGNORED_KEYS: ClassVar[Mapping[str, str]] = MappingProxyType(
        dict.fromkeys(_ENDPOINT_SHOW_KEYS, _READ_ONLY)
    )

    name: Name = Field(description="3-32 characters, a letter first, then letters, digits and hyphens.")
    description: str | None = Field(default=None, description="Free text.")
    tags: TextMap = Field(default_factory=dict, description="Tags.")
    auth_mode: Annotated[Literal["aad_token"], BeforeValidator(_lower)] = Field(
        default="aad_token", description="Batch endpoints take tokens only."
    )
    defaults: BatchEndpointDefaults = Field(default_factory=BatchEndpointDefaults, description="Defaults.")


class BatchRetrySettings(Spec):
    """Retries of a failed or timed-out mini-batch."""

    max_retries: NonNegative = Field(default=3, description="Retries per mini-batch.")
    timeout: Count = Field(default=30, description="Seconds allowed for one mini-batch.")


class BatchResources(Spec):
    """Batch job resources."""

    instance_count: Count = Field(default=1, description="Nodes per batch job.")


class ModelBatchSettings(Spec):
    """How a model batch deployment runs a job (Azure defaults)."""

    mini_batch_size: Count = Field(default=10, description="Files per run() call.")
    max_concurrency_per_instance: Count = Field(default=1, description="Parallel run() calls per instance.")
    output_action: Annotated[Literal["append_row", "summary_only"], BeforeValidator(_lower)] = Field(
        default="append_row", description="append_row writes run()'s rows to the output file."
    )
    output_file_name: str = Field(
        default="predictions.csv", min_length=1, description="Output file for append_row."
    )
    retry_settings: BatchRetrySettings = Field(default_factory=BatchRetrySettings, description="Retries.")
    error_threshold: Annotated[int, BeforeValidator(_not_bool), Field(ge=-1)] = Field(
        default=-1, description="Failed files tolerated before the job fails; -1 tolerates all."
    )
    logging_level: Annotated[Literal["warning", "info", "debug"], BeforeValidator(_lower)] = Field(
        default="info", description="Log verbosity."
    )
    environment_variables: TextMap = Field(default_factory=dict, description="Extra environment variables.")


def _strip_azureml(value: str) -> str:
    return value.removeprefix("azureml:")


class _BatchDeploymentSpec(Spec):
    """What every kind of batch deployment has."""

    IGNORED_KEYS: ClassVar[Mapping[str, str]] = MappingProxyType(dict.fromkeys(_SHOW_KEYS, _READ_ONLY))

    name: Name = Field(description="Deployment name, unique within its endpoint.")
    endpoint_name: Name = Field(description="The batch endpoint this deployment belongs to.")
    description: str | None = Field(default=None, description="Free text.")
    tags: TextMap = Field(default_factory=dict, description="Tags.")


class ModelBatchDeploymentSpec(_BatchDeploymentSpec):
    """A batch deployment that scores files with a model and a batch driver script."""

    type: Literal["model"] = Field(default="model", description="Batch deployment type.")
    model: ModelSpec = Field(description="Model to score with.")
    code_configuration: CodeConfiguration | None = Field(
        default=None, validate_default=True, description="Batch driver (not needed for MLflow models)."
    )
    environment: EnvironmentSpec | None = Field(
        default=None, validate_default=True, description="Environment (not needed for MLflow models)."
    )
    compute: str = Field(description="Compute cluster running the jobs (`azureml:name` or `name`).")
    resources: BatchResources = Field(default_factory=BatchResources, description="Job resources.")
    settings: ModelBatchSettings = Field(default_factory=ModelBatchSettings, description="Job settings.")

    @model_validator(mode="before")
    @classmethod
    def _legacy_settings(cls, data: Any) -> Any:
        # Before CLI 1.7 (no `type`), the settings sat at the top level of the file.
        if not isinstance(data, Mapping) or "type" in data or "settings" in data:
            return data
        moved = {key: value for key, value in data.items() if key in ModelBatchSettings.model_fields}
        if not moved:
            return data
        return {**{key: value for key, value in data.items() if key not in moved}, "settings": moved}

    @field_validator("code_configuration", "environment")
    @classmethod
    def _needed_unless_mlflow(cls, value: Any, info: ValidationInfo) -> Any:
        model = info.data.get("model")
        if value is None and model is not None and model.is_local and model.type != "mlflow_model":
            raise ValueError("required unless the model is an MLflow model (`model: {type: mlflow_model}`)")
        return value

    @field_validator("compute")
    @classmethod
    def _compute_name(cls, value: str) -> str:
        _check_name(_strip_azureml(value), *COMPUTE_NAME_LENGTH)
        return value

    @property
    def compute_name(self) -> str:
        """The compute cluster's name without the `azureml:` prefix."""
        return _strip_azureml(self.compute)


class PipelineSettings(Spec):
    """Defaults for the pipeline job a pipeline component deployment runs."""

    default_compute: str | None = Field(default=None, description="Compute for steps that name none.")
    default_datastore: str | None = Field(default=None, description="Datastore for outputs.")
    continue_on_step_failure: bool | None = Field(default=None, description="Keep going after a failed step.")
    force_rerun: bool | None = Field(default=None, description="Rerun steps even when cached.")


class PipelineComponentBatchDeploymentSpec(_BatchDeploymentSpec):
    """A batch deployment that runs a pipeline component per job."""

    type: Literal["pipeline"] = Field(default="pipeline", description="Batch deployment type.")
    component: str | Path | dict[str, Any] = Field(
        description="Registered component (`azureml:name@latest`), a local component YAML, or inline."
    )
    settings: PipelineSettings = Field(default_factory=PipelineSettings, description="Pipeline job defaults.")

    @field_validator("component", mode="before")
    @classmethod
    def _component(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str) and value.startswith("azureml:"):
            return check_reference(value, "component", "or point at a local component YAML file")
        if isinstance(value, str | os.PathLike):
            return _resolve_local(value, info, "file")
        if isinstance(value, Mapping):
            return dict(value)
        raise ValueError(f"must be a component reference, a path or an inline component (got {show(value)})")


BatchDeploymentSpec = ModelBatchDeploymentSpec | PipelineComponentBatchDeploymentSpec


# ---------------------------------------------------------------- compute


class AmlComputeSpec(Spec):
    """A compute cluster that runs batch jobs (AmlCompute on Azure; workers elsewhere)."""

    IGNORED_KEYS: ClassVar[Mapping[str, str]] = MappingProxyType(
        {
            **dict.fromkeys(("id", "provisioning_state", "created_on"), _READ_ONLY),
            "ssh_public_access_enabled": "SSH access to nodes is not managed by mlendpoints; ignored",
            "ssh_settings": "SSH access to nodes is not managed by mlendpoints (and a password here "
            "would end up in plain state); ignored",
            "network_settings": "virtual network placement is not managed by mlendpoints; ignored",
            "enable_node_public_ip": "node networking is not managed by mlendpoints; ignored",
        }
    )

    type: Annotated[Literal["amlcompute"], BeforeValidator(_lower)] = Field(
        default="amlcompute", description="Compute type."
    )
    name: ComputeName = Field(description="Cluster name: a letter first, then letters, digits, hyphens.")
    description: str | None = Field(default=None, description="Free text.")
    tags: TextMap = Field(default_factory=dict, description="Tags.")
    location: str | None = Field(
        default=None, description="Azure region (Azure target; defaults to the workspace's)."
    )
    size: str = Field(default="Standard_DS3_v2", description="VM size of each node.")
    tier: Annotated[Literal["dedicated", "low_priority"], BeforeValidator(_lower)] = Field(
        default="dedicated", description="VM priority."
    )
    min_instances: NonNegative = Field(default=0, description="Nodes kept running when idle.")
    max_instances: Count = Field(default=1, description="Most nodes.")
    idle_time_before_scale_down: NonNegative = Field(
        default=120, description="Idle seconds before a node is released."
    )
    identity: Identity | None = Field(default=None, description="Managed identity (Azure target).")

    @field_validator("size")
    @classmethod
    def _known_size(cls, value: str) -> str:
        sku = find_sku(value)
        if sku is None:
            raise ValueError(f"unknown VM size {value!r}; nearest known: {', '.join(nearest_skus(value))}")
        return sku.name

    @field_validator("max_instances")
    @classmethod
    def _max_not_below_min(cls, value: int, info: ValidationInfo) -> int:
        low = info.data.get("min_instances")
        if low is not None and value < low:
            raise ValueError(f"must be >= min_instances ({low}) (got {value})")
        return value


AnySpec = (
    OnlineEndpointSpec
    | OnlineDeploymentSpec
    | BatchEndpointSpec
    | ModelBatchDeploymentSpec
    | PipelineComponentBatchDeploymentSpec
    | AmlComputeSpec
)


# ---------------------------------------------------------------- parsing

S = TypeVar("S", bound=Spec)


def _drop_ignored(
    model: type[BaseModel], data: Any, loc: tuple[str | int, ...], source: Source, problems: list[Problem]
) -> Any:
    """Drop keys accepted on purpose (warning why) and report keys that are not text, at every level."""
    if not isinstance(data, Mapping):
        return data
    ignored = getattr(model, "IGNORED_KEYS", {})
    keys = keys_of(model)
    kept: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            problems.append(source.problem(loc, unknown_key_message(model, key)))
        elif key in ignored and key not in keys:
            source.warn((*loc, key), ignored[key])
        else:
            sub = keys.get(key)
            kept[key] = _drop_ignored(sub, value, (*loc, key), source, problems) if sub is not None else value
    return kept


def parse_spec(
    model: type[S],
    data: Any,
    *,
    source: Source | None = None,
    base_dir: Path | str | None = None,
    check_paths: bool = False,
) -> S:
    """Validate `data` as `model`; raise SpecError listing every problem (with file/line from `source`).

    Relative paths resolve against `base_dir`; with `check_paths` missing files and folders are errors.
    """
    source = source or Source()
    problems: list[Problem] = []
    cleaned = _drop_ignored(model, data, (), source, problems)
    context = {
        "base_dir": Path(base_dir).absolute() if base_dir is not None else None,
        "check_paths": check_paths,
    }
    spec: S | None = None
    try:
        spec = model.model_validate(cleaned, context=context)
    except ValidationError as error:
        problems.extend(problems_from_validation_error(error, model, source))
    if problems or spec is None:
        raise SpecError(sorted(dict.fromkeys(problems), key=lambda p: (p.line is None, p.line or 0)))
    return spec
