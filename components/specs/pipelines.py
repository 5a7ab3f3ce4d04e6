"""Components as Azure ML writes them: command components (one script in an environment) and pipeline
components (command steps wired by `${{parent...}}` bindings), the body of a pipeline batch deployment.

Schemas: commandComponent.schema.json and pipelineComponent.schema.json
(https://learn.microsoft.com/azure/machine-learning/reference-yaml-component-command and
reference-yaml-component-pipeline). Keys Azure takes that mlendpoints does not run (`resources`,
`distribution`, `limits`, `queue_settings`) are unknown keys here, so they are refused by name rather
than dropped.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo, field_validator

from components.errors import show
from components.specs.assets import EnvironmentSpec
from components.specs.base import Spec
from components.specs.fields import LocalDir, Text, TextMap, _lower, _resolve_local, check_reference

# Data and model inputs are paths in the step's container; the rest are literals put in the command.
ASSET_TYPES = ("uri_file", "uri_folder", "mltable", "mlflow_model", "custom_model", "triton_model")
LITERAL_TYPES = ("string", "integer", "number", "boolean")
InputType = Literal[
    "string", "integer", "number", "boolean",
    "uri_file", "uri_folder", "mltable", "mlflow_model", "custom_model", "triton_model",
]  # fmt: skip
OutputType = Literal["uri_file", "uri_folder", "mltable", "mlflow_model", "custom_model", "triton_model"]
Literal_ = str | int | float | bool

# Azure: "Component name ... must start with a lowercase letter, contain only lowercase letters,
# numbers and underscores" (1-255 characters).
_COMPONENT_NAME = re.compile(r"[a-z][a-z0-9_]{0,254}")
# Input, output and step names: Python identifiers, as Azure requires of them.
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _component_name(value: str) -> str:
    if not _COMPONENT_NAME.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a component name: a lowercase letter first, then lowercase letters, "
            "digits and underscores (at most 255)"
        )
    return value


def _keys(value: Any) -> Any:
    if isinstance(value, Mapping):
        bad = [str(key) for key in value if not isinstance(key, str) or not _KEY.fullmatch(key)]
        if bad:
            raise ValueError(
                f"{', '.join(map(repr, bad))}: input, output and job names are letters, digits and "
                "underscores, not starting with a digit"
            )
    return value


ComponentName = Annotated[str, AfterValidator(_component_name)]


class ComponentInput(Spec):
    """One input of a component: data or a model (mounted as a path) or a literal (put in the command)."""

    type: Annotated[InputType, BeforeValidator(_lower)] = Field(description="What the input carries.")
    optional: bool = Field(default=False, description="May be left unbound ($[[...]] blocks drop then).")
    default: Literal_ | None = Field(default=None, description="Value when the pipeline binds none.")
    description: str | None = Field(default=None, description="Free text.")
    min: float | None = Field(default=None, description="Smallest value of a number or integer input.")
    max: float | None = Field(default=None, description="Largest value of a number or integer input.")
    enum: list[Text] | None = Field(default=None, description="The values a string input may take.")

    @property
    def is_asset(self) -> bool:
        return self.type in ASSET_TYPES


class ComponentOutput(Spec):
    """One output of a component: a folder (or file) the step writes, mounted for the steps after it."""

    type: Annotated[OutputType, BeforeValidator(_lower)] = Field(
        default="uri_folder", description="What the output holds."
    )
    mode: Annotated[Literal["rw_mount", "upload", "direct"], BeforeValidator(_lower)] | None = Field(
        default=None, description="How Azure moves it; locally every output is a folder on a datastore."
    )
    description: str | None = Field(default=None, description="Free text.")


class CommandComponentSpec(Spec):
    """A command component: `command` run in `environment` with `code` as the working folder."""

    name: ComponentName = Field(description="Lowercase letters, digits and underscores.")
    version: Text | None = Field(default=None, description="Version (registered components).")
    display_name: str | None = Field(default=None, description="Shown in job listings.")
    description: str | None = Field(default=None, description="Free text.")
    tags: TextMap = Field(default_factory=dict, description="Tags.")
    type: Annotated[Literal["command"], BeforeValidator(_lower)] = Field(
        default="command", description="Component type."
    )
    is_deterministic: bool = Field(default=True, description="Azure reuses results of deterministic steps.")
    inputs: Annotated[dict[str, ComponentInput], BeforeValidator(_keys)] = Field(
        default_factory=dict, description="Inputs by name."
    )
    outputs: Annotated[dict[str, ComponentOutput], BeforeValidator(_keys)] = Field(
        default_factory=dict, description="Outputs by name."
    )
    code: LocalDir | None = Field(
        default=None, description="Folder copied into the step as its working folder."
    )
    environment: EnvironmentSpec = Field(description="Image and conda file, or a registered environment.")
    command: str = Field(
        description="Shell command; ${{inputs.x}}, ${{outputs.y}} and $[[...]] are filled in."
    )
    environment_variables: TextMap = Field(default_factory=dict, description="Set in the step's container.")


class StepAsset(Spec):
    """A data or model input given in place: a registered asset, a local path, or a binding."""

    path: str = Field(description="azureml:name@latest, a local path, or ${{parent...}}.")
    type: Annotated[InputType, BeforeValidator(_lower)] | None = Field(default=None, description="Its type.")
    mode: str | None = Field(
        default=None, description="How Azure mounts it; locally always a read-only mount."
    )


class StepOutput(Spec):
    """Where a step's output goes: its own folder, or bound to an output of the pipeline."""

    path: str | None = Field(
        default=None, description="${{parent.outputs.<name>}} to make it the pipeline's."
    )
    type: Annotated[OutputType, BeforeValidator(_lower)] | None = Field(default=None, description="Its type.")
    mode: Annotated[Literal["rw_mount", "upload", "direct"], BeforeValidator(_lower)] | None = Field(
        default=None, description="How Azure moves it."
    )

    @field_validator("path", mode="before")
    @classmethod
    def _binding_only(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip().startswith("${{"):
            raise ValueError(
                f"{value!r}: a step output's path is a binding such as ${{{{parent.outputs.scores}}}}; "
                "the folder itself is chosen per job (under the job's output on the datastore)"
            )
        return value


def _step_output(value: Any) -> Any:
    return {"path": value} if isinstance(value, str) else value


def _component_ref(value: Any, info: ValidationInfo) -> Any:
    if isinstance(value, str) and value.startswith("azureml:"):
        return check_reference(value, "component", "or point at a local component YAML file")
    if isinstance(value, str | os.PathLike):
        return _resolve_local(value, info, "file")
    if isinstance(value, Mapping):
        return dict(value)
    raise ValueError(f"must be a component reference, a path or an inline component (got {show(value)})")


ComponentRef = Annotated[str | Path | dict[str, Any], BeforeValidator(_component_ref)]


class PipelineStepSpec(Spec):
    """One job of a pipeline component: a command component with its inputs and outputs bound."""

    type: Annotated[Literal["command"], BeforeValidator(_lower)] = Field(
        default="command", description="Only command steps run locally."
    )
    component: ComponentRef = Field(description="azureml:name@latest, a component YAML path, or inline.")
    display_name: str | None = Field(default=None, description="Shown in the job's step list.")
    compute: str | None = Field(
        default=None, description="Cluster for this step (default: the deployment's)."
    )
    inputs: Annotated[dict[str, StepAsset | Literal_ | None], BeforeValidator(_keys)] = Field(
        default_factory=dict, description="Literals, ${{parent...}} bindings, or {path, type} assets."
    )
    outputs: Annotated[
        dict[str, Annotated[StepOutput | None, BeforeValidator(_step_output)]], BeforeValidator(_keys)
    ] = Field(default_factory=dict, description="Empty (a folder of its own) or bound to a pipeline output.")
    environment_variables: TextMap = Field(default_factory=dict, description="Added to the component's.")


class PipelineComponentSpec(Spec):
    """A pipeline component: inputs, outputs and command jobs wired by bindings."""

    name: ComponentName | None = Field(default=None, description="Lowercase letters, digits and underscores.")
    version: Text | None = Field(default=None, description="Version (registered components).")
    display_name: str | None = Field(default=None, description="Shown in job listings.")
    description: str | None = Field(default=None, description="Free text.")
    tags: TextMap = Field(default_factory=dict, description="Tags.")
    type: Annotated[Literal["pipeline"], BeforeValidator(_lower)] = Field(
        default="pipeline", description="Component type."
    )
    inputs: Annotated[dict[str, ComponentInput], BeforeValidator(_keys)] = Field(
        default_factory=dict, description="What an invocation passes in (data, literals)."
    )
    outputs: Annotated[dict[str, ComponentOutput], BeforeValidator(_keys)] = Field(
        default_factory=dict, description="What a job leaves on the datastore, bound from step outputs."
    )
    jobs: Annotated[dict[str, PipelineStepSpec], BeforeValidator(_keys)] = Field(
        description="The steps by name."
    )


class PipelineJobSettings(Spec):
    """A pipeline job's settings that a deployment made from it takes over."""

    default_compute: str | None = Field(default=None, description="Cluster the steps run on.")
    default_datastore: str | None = Field(default=None, description="Datastore of the outputs.")
    continue_on_step_failure: bool | None = Field(default=None, description="Keep going after a failed step.")
    force_rerun: bool | None = Field(default=None, description="Never reuse earlier steps' results.")


JobInput = ComponentInput | StepAsset | Literal_ | None


class PipelineJobSpec(Spec):
    """A pipeline job (pipelineJob.schema.json), the `job_definition` of a deployment made from it.

    Its pipeline is `component` (a pipeline component file or reference) or its own `jobs`; its input
    values become the defaults of the deployment's inputs (an invocation may still give others)."""

    type: Annotated[Literal["pipeline"], BeforeValidator(_lower)] = Field(
        default="pipeline", description="Job type."
    )
    name: str | None = Field(default=None, description="Job name.")
    display_name: str | None = Field(default=None, description="Shown in job listings.")
    experiment_name: str | None = Field(
        default=None, description="Azure's experiment (names nothing locally)."
    )
    description: str | None = Field(default=None, description="Free text.")
    tags: TextMap = Field(default_factory=dict, description="Tags.")
    component: ComponentRef | None = Field(default=None, description="The pipeline component it runs.")
    jobs: Annotated[dict[str, PipelineStepSpec], BeforeValidator(_keys)] | None = Field(
        default=None, description="Its own steps, instead of `component`."
    )
    inputs: Annotated[dict[str, ComponentInput | StepAsset | Literal_ | None], BeforeValidator(_keys)] = (
        Field(default_factory=dict, description="Input declarations (`type:`) or values.")
    )
    outputs: Annotated[dict[str, ComponentOutput | None], BeforeValidator(_keys)] = Field(
        default_factory=dict, description="Outputs."
    )
    compute: str | None = Field(default=None, description="Cluster the steps run on.")
    settings: PipelineJobSettings = Field(default_factory=PipelineJobSettings, description="Settings.")
