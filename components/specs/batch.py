"""Batch endpoints and their deployments: model deployments (with job settings) and pipeline components."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator, model_validator

from components.specs.assets import CodeConfiguration, EnvironmentSpec, ModelSpec
from components.specs.base import _ENDPOINT_SHOW_KEYS, _READ_ONLY, _SHOW_KEYS, Spec
from components.specs.fields import (
    COMPUTE_NAME_LENGTH,
    MAX_BATCH_TIMEOUT_S,
    MAX_CONCURRENCY_PER_INSTANCE,
    MAX_ERROR_THRESHOLD,
    MAX_MINI_BATCH_SIZE,
    MAX_NODES,
    MAX_RETRIES,
    Count,
    Name,
    NonNegative,
    TextMap,
    _check_name,
    _lower,
    _not_bool,
    _resolve_local,
)
from components.specs.pipelines import ComponentRef


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

    max_retries: Annotated[NonNegative, Field(le=MAX_RETRIES)] = Field(
        default=3, description=f"Retries per mini-batch, at most {MAX_RETRIES}."
    )
    timeout: Annotated[Count, Field(le=MAX_BATCH_TIMEOUT_S)] = Field(
        default=30, description=f"Seconds allowed for one mini-batch, at most {MAX_BATCH_TIMEOUT_S} (a week)."
    )


class BatchResources(Spec):
    """Batch job resources."""

    instance_count: Annotated[Count, Field(le=MAX_NODES)] = Field(
        default=1, description=f"Nodes per batch job, at most {MAX_NODES}."
    )


class ModelBatchSettings(Spec):
    """How a model batch deployment runs a job (Azure defaults)."""

    mini_batch_size: Annotated[Count, Field(le=MAX_MINI_BATCH_SIZE)] = Field(
        default=10, description=f"Files per run() call, at most {MAX_MINI_BATCH_SIZE}."
    )
    max_concurrency_per_instance: Annotated[Count, Field(le=MAX_CONCURRENCY_PER_INSTANCE)] = Field(
        default=1, description=f"Parallel run() calls per instance, at most {MAX_CONCURRENCY_PER_INSTANCE}."
    )
    output_action: Annotated[Literal["append_row", "summary_only"], BeforeValidator(_lower)] = Field(
        default="append_row", description="append_row writes run()'s rows to the output file."
    )
    output_file_name: str = Field(
        default="predictions.csv", min_length=1, description="Output file for append_row."
    )
    retry_settings: BatchRetrySettings = Field(default_factory=BatchRetrySettings, description="Retries.")
    error_threshold: Annotated[int, BeforeValidator(_not_bool), Field(ge=-1, le=MAX_ERROR_THRESHOLD)] = Field(
        default=-1,
        description="Failed files tolerated before the job fails; -1 tolerates all. "
        f"At most {MAX_ERROR_THRESHOLD} (Azure's 32-bit limit).",
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
    component: ComponentRef | None = Field(
        default=None,
        description="Registered component (`azureml:name@latest`), a local component YAML, or inline.",
    )
    job_definition: Path | None = Field(
        default=None,
        description="Instead of `component`: a pipeline job's YAML file; its component, compute, settings "
        "and input values become the deployment's.",
    )
    settings: PipelineSettings = Field(default_factory=PipelineSettings, description="Pipeline job defaults.")

    @field_validator("job_definition", mode="before")
    @classmethod
    def _job_file(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str) and value.startswith("azureml:"):
            raise ValueError(
                f"{value!r} names a job of an Azure ML workspace; locally give the pipeline job's YAML file "
                "(the one `az ml job create -f` was given)"
            )
        return _resolve_local(value, info, "file")

    @model_validator(mode="after")
    def _one_source(self) -> PipelineComponentBatchDeploymentSpec:
        if (self.component is None) == (self.job_definition is None):
            raise ValueError(
                "give either `component` (a pipeline component) or `job_definition` (a pipeline job)"
            )
        return self


BatchDeploymentSpec = ModelBatchDeploymentSpec | PipelineComponentBatchDeploymentSpec
