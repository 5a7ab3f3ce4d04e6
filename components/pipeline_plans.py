"""What a pipeline deployment runs (pure, platform-free): its steps' components with registered assets
resolved, what each step mounts, and the controller's PipelineConfig.

A step sees its code folder at STEP_CODE_ROOT (its working folder, as Azure's `code:`), every data or
model input given in place (`path: azureml:heart-classifier@latest`, a local path) read-only under
STEP_INPUTS_ROOT/<input>, and the datastores where the batch runtime mounts them: inputs the
invocation names and outputs are folders there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.asset_registry import AssetKind, AssetLookupError, Registry, parse_reference
from components.errors import SpecError
from components.pipeline_graph import Given, ParentInput, PipelineGraph, StepOutputRef
from components.pipeline_loading import deployment_pipeline
from components.specs import EnvironmentSpec, PipelineComponentBatchDeploymentSpec
from components.specs.pipelines import CommandComponentSpec, ComponentInput, StepAsset
from serving.batch import protocol
from serving.batch.protocol import DEFAULT_DATASTORE

STEP_CODE_ROOT = "/mnt/azureml/code"
STEP_INPUTS_ROOT = "/mnt/azureml/inputs"


@dataclass(frozen=True)
class StepPlan:
    """One step: its component, the environment its image is built from, what it mounts."""

    name: str
    component: CommandComponentSpec
    environment: EnvironmentSpec
    mounts: Mapping[str, str] = field(default_factory=dict)  # container path -> host path, read-only
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PipelinePlan:
    deployment: PipelineComponentBatchDeploymentSpec
    cluster: str
    config: dict[str, Any]  # protocol.PipelineConfig
    steps: tuple[StepPlan, ...]
    warnings: tuple[str, ...] = ()


def _text(value: object) -> str:
    """A literal as the command shows it (as Python prints it: True, 0.5), as the controller does."""
    return str(value)


def _environment(component: CommandComponentSpec, registry: Registry, step: str) -> EnvironmentSpec:
    environment = component.environment
    if environment.reference is None:
        return environment
    try:
        reference = parse_reference(environment.reference, "environment")
        if reference is None:
            raise AssetLookupError(f"{environment.reference!r} is not an environment of this stack")
        found = registry.resolve("environment", reference).for_deployment()
    except (AssetLookupError, ValueError) as error:
        raise SpecError.single(str(error), field=f"jobs.{step}.component.environment") from None
    assert isinstance(found, EnvironmentSpec)
    return found


def _asset_path(value: StepAsset | str, declared: ComponentInput, registry: Registry, where: str) -> Path:
    """The host path of a data or model input given in place."""
    text = value.path if isinstance(value, StepAsset) else value
    if text.startswith("azureml:"):
        kind: AssetKind = "model" if declared.type.endswith("_model") else "data"
        try:
            reference = parse_reference(text, kind)
            if reference is None:
                raise AssetLookupError(f"{text!r} is not a {kind} of this stack")
            spec = registry.resolve(kind, reference).spec
        except (AssetLookupError, ValueError) as error:
            raise SpecError.single(str(error), field=where) from None
        path = getattr(spec, "path", None)
        if path is None:
            raise SpecError.single(
                f"{text} has no local path (a cloud URI): steps read local files", field=where
            )
        return Path(path)
    if "://" in text:
        raise SpecError.single(f"{text!r}: steps read local paths or registered assets", field=where)
    return Path(text)


def plan_pipeline(
    spec: PipelineComponentBatchDeploymentSpec, registry: Registry, clusters: Mapping[str, object]
) -> PipelinePlan:
    """The deployment's steps and its controller config; SpecError for what cannot run here."""
    pipeline = deployment_pipeline(spec, registry)
    cluster = (pipeline.default_compute or "").removeprefix("azureml:")
    if not cluster or cluster not in clusters:
        known = ", ".join(sorted(clusters)) or "none"
        raise SpecError.single(
            f"name the compute cluster the steps run on (clusters of this stack: {known})",
            field=f"{spec.endpoint_name}/{spec.name}: settings.default_compute",
        )
    graph = pipeline.graph
    steps = tuple(_plan_step(graph, name, registry) for name in graph.order)
    warnings = [
        f"jobs.{name}.compute {step.spec.compute!r}: every step runs on the deployment's default_compute "
        f"{cluster!r} locally"
        for name, step in graph.steps.items()
        if step.spec.compute is not None and step.spec.compute.removeprefix("azureml:") != cluster
    ]
    if pipeline.default_datastore not in (None, DEFAULT_DATASTORE):
        warnings.append(
            f"settings.default_datastore {pipeline.default_datastore!r}: a job's outputs go to "
            f"{DEFAULT_DATASTORE} (azureml/<job>/<output>/) locally"
        )
    config = pipeline_config(graph, pipeline.continue_on_step_failure)
    return PipelinePlan(spec, cluster, config, steps, tuple(warnings))


def _plan_step(graph: PipelineGraph, name: str, registry: Registry) -> StepPlan:
    step = graph.steps[name]
    component = step.component
    mounts: dict[str, str] = {}
    code = STEP_CODE_ROOT if component.code is not None else "/"
    if component.code is not None:
        mounts[STEP_CODE_ROOT] = str(component.code)
    for input_name, source in step.inputs.items():
        declared = component.inputs[input_name]
        if isinstance(source, Given) and declared.is_asset and isinstance(source.value, StepAsset | str):
            host = _asset_path(source.value, declared, registry, f"jobs.{name}.inputs.{input_name}")
            mounts[f"{STEP_INPUTS_ROOT}/{input_name}"] = str(host)
    env = {**component.environment_variables, **step.spec.environment_variables, "MLE_STEP_CODE": code}
    return StepPlan(name, component, _environment(component, registry, name), mounts, env)


def pipeline_config(graph: PipelineGraph, continue_on_step_failure: bool) -> dict[str, Any]:
    """protocol.PipelineConfig of the deployment, validated as the controller will read it."""
    pipeline = graph.pipeline
    config: dict[str, Any] = {
        "inputs": {
            name: {
                "type": declared.type,
                "optional": declared.optional,
                "default": None if declared.default is None else _text(declared.default),
            }
            for name, declared in pipeline.inputs.items()
        },
        "outputs": list(pipeline.outputs),
        "steps": {},
        "continue_on_step_failure": continue_on_step_failure,
    }
    for name in graph.order:
        step = graph.steps[name]
        inputs: dict[str, dict[str, str | None]] = {}
        for input_name, source in step.inputs.items():
            if isinstance(source, ParentInput):
                inputs[input_name] = {"kind": "parent", "name": source.name}
            elif isinstance(source, StepOutputRef):
                inputs[input_name] = {"kind": "step", "step": source.job, "output": source.output}
            elif step.component.inputs[input_name].is_asset:
                inputs[input_name] = {"kind": "value", "value": f"{STEP_INPUTS_ROOT}/{input_name}"}
            else:
                assert not isinstance(source.value, StepAsset)
                inputs[input_name] = {"kind": "value", "value": _text(source.value)}
        config["steps"][name] = {
            "component": step.component.name,
            "command": step.component.command,
            "inputs": inputs,
            "declared": list(step.component.inputs),
            "defaults": {
                key: _text(declared.default)
                for key, declared in step.component.inputs.items()
                if declared.default is not None
            },
            "outputs": list(step.outputs),
            "bound_outputs": {out: parent for out, parent in step.outputs.items() if parent is not None},
            "after": sorted(step.after),
        }
    protocol.PipelineConfig.model_validate(config)
    return config
