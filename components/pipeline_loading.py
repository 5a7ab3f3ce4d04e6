"""Component YAML files (command and pipeline components) loaded and wired into a PipelineGraph.

Problems come back as one SpecError naming each file and line: the pipeline's own (a binding to a
missing output, a cycle) and those of the component files its jobs point at.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.asset_registry import (
    AssetKind,
    AssetLookupError,
    Registry,
    parse_reference,
    registered_component,
)
from components.azureml_yaml import Document, read_text, read_yaml, schema_name
from components.errors import Problem, Source, SpecError, show
from components.pipeline_graph import Given, PipelineError, PipelineGraph, build_graph
from components.specs import PipelineComponentBatchDeploymentSpec
from components.specs.parsing import parse_spec
from components.specs.pipelines import (
    CommandComponentSpec,
    ComponentInput,
    ComponentOutput,
    PipelineComponentSpec,
    PipelineJobSpec,
    PipelineStepSpec,
    StepAsset,
)

ComponentSpec = CommandComponentSpec | PipelineComponentSpec
_KINDS: Mapping[str, type[CommandComponentSpec] | type[PipelineComponentSpec]] = {
    "commandcomponent": CommandComponentSpec,
    "command": CommandComponentSpec,
    "pipelinecomponent": PipelineComponentSpec,
    "pipeline": PipelineComponentSpec,
}
# Registered components by reference (azureml:name:version, azureml:name@latest) -> the component;
# None when the stack registers none (the error then says how to register one).
Registered = Callable[[str], CommandComponentSpec]


def component_from_mapping(
    data: Any, source: Source, base_dir: Path | None, *, check_paths: bool = True
) -> ComponentSpec:
    """A command or pipeline component, its kind from `$schema` (else from `type`)."""
    if not isinstance(data, Mapping):
        raise SpecError([source.problem((), f"must be a component: a mapping of keys (got {show(data)})")])
    schema = data.get("$schema")
    kind = schema_name(schema) if isinstance(schema, str) else str(data.get("type", "command")).lower()
    model = _KINDS.get(kind)
    if model is None:
        raise SpecError(
            [
                source.problem(
                    ("$schema",) if isinstance(schema, str) else ("type",),
                    f"{kind!r} is not a component mlendpoints runs: use a command component "
                    "(commandComponent.schema.json) or a pipeline component (pipelineComponent.schema.json)",
                )
            ]
        )
    return parse_spec(model, data, source=source, base_dir=base_dir, check_paths=check_paths)


def load_component(path: Path, *, check_paths: bool = True) -> tuple[ComponentSpec, Source]:
    """One component YAML file; relative paths in it resolve against its folder, as the az CLI does."""
    data, source = read_yaml(read_text(path), str(path))
    return component_from_mapping(data, source, path.parent, check_paths=check_paths), source


def load_pipeline(
    path: Path, *, registered: Registered | None = None, check_paths: bool = True
) -> PipelineGraph:
    """The pipeline component at `path` with every job's component loaded and every binding checked."""
    spec, source = load_component(path, check_paths=check_paths)
    if not isinstance(spec, PipelineComponentSpec):
        raise SpecError.single(
            f"this is a command component ({spec.name}); a pipeline deployment's `component` is a "
            "pipeline component (type: pipeline, with jobs)",
            file=str(path),
        )
    return pipeline_graph(spec, source, path.parent, registered=registered, check_paths=check_paths)


def pipeline_graph(
    spec: PipelineComponentSpec,
    source: Source,
    base_dir: Path | None,
    *,
    registered: Registered | None = None,
    check_paths: bool = True,
) -> PipelineGraph:
    """`spec`'s graph; SpecError lists the problems at their lines (of `source`, or of the component
    files its jobs name)."""
    problems: list[Problem] = []
    loaded: dict[str, CommandComponentSpec] = {}
    for job, step in spec.jobs.items():
        try:
            loaded[job] = _step_component(job, step, source, base_dir, registered, check_paths)
        except SpecError as error:
            problems += error.problems

    def load(job: str, _: PipelineStepSpec) -> CommandComponentSpec:
        if job not in loaded:
            raise PipelineError([])  # already in `problems`, at its own file and line
        return loaded[job]

    try:
        graph = build_graph(spec, load)
    except PipelineError as error:
        problems += [source.problem(problem.loc, problem.message) for problem in error.problems]
    if problems:
        raise SpecError(problems)
    return graph


def _step_component(
    job: str,
    step: PipelineStepSpec,
    source: Source,
    base_dir: Path | None,
    registered: Registered | None,
    check_paths: bool,
) -> CommandComponentSpec:
    at = ("jobs", job, "component")
    component: ComponentSpec
    if isinstance(step.component, Path):
        component, _ = load_component(step.component, check_paths=check_paths)
    elif isinstance(step.component, dict):
        # Inline: its problems are named under the job's `component` key, at their lines of the file.
        lines = {loc[len(at) :]: line for loc, line in source.lines.items() if loc[: len(at)] == at}
        inline = Source(source.file, lines, root=source.root + at)
        component = component_from_mapping(step.component, inline, base_dir, check_paths=check_paths)
    elif registered is None:
        raise SpecError(
            [
                source.problem(
                    at,
                    f"{step.component}: no components are registered in this stack; list the component's "
                    "YAML file under `components:` in the stack config, or give its path",
                )
            ]
        )
    else:
        try:
            component = registered(step.component)
        except LookupError as error:
            raise SpecError([source.problem(at, str(error))]) from None
    if not isinstance(component, CommandComponentSpec):
        message = f"{component.name or 'this'} is a pipeline component; a job runs a command component"
        raise SpecError([source.problem(at, message)])
    return component


def _lookup(registry: Registry) -> Registered:
    def lookup(text: str) -> CommandComponentSpec:
        spec = registered_component(registry, text).spec
        if not isinstance(spec, CommandComponentSpec):
            raise AssetLookupError(f"{text} is a pipeline component; a job runs a command component")
        return spec

    return lookup


@dataclass(frozen=True)
class DeploymentPipeline:
    """What a pipeline deployment runs: its graph, and its settings (its own, else its job's)."""

    graph: PipelineGraph
    default_compute: str | None
    continue_on_step_failure: bool
    default_datastore: str | None = None


def deployment_pipeline(
    spec: PipelineComponentBatchDeploymentSpec,
    registry: Registry,
    *,
    check_paths: bool = True,
    source: Source | None = None,
) -> DeploymentPipeline:
    """The pipeline a deployment runs, from its `component` or its `job_definition` (a pipeline job:
    its component, its compute and settings where the deployment sets none, its input values as
    the inputs' defaults)."""
    settings = spec.settings
    if spec.job_definition is None:
        graph = deployment_graph(spec, registry, check_paths=check_paths, source=source)
        return DeploymentPipeline(
            graph,
            settings.default_compute,
            bool(settings.continue_on_step_failure),
            settings.default_datastore,
        )
    path = spec.job_definition
    data, job_source = read_yaml(read_text(path), str(path))
    job = parse_spec(PipelineJobSpec, data, source=job_source, base_dir=path.parent, check_paths=check_paths)
    if (job.component is None) == (job.jobs is None):
        raise SpecError([job_source.problem((), "a pipeline job gives either `component` or `jobs`")])
    if job.jobs is not None:
        declared = {
            name: value if isinstance(value, ComponentInput) else ComponentInput(type="string")
            for name, value in job.inputs.items()
        }
        pipeline = PipelineComponentSpec(
            name=None,
            inputs=declared,
            outputs={k: v or ComponentOutput() for k, v in job.outputs.items()},
            jobs=job.jobs,
        )
        graph = pipeline_graph(
            pipeline, job_source, path.parent, registered=_lookup(registry), check_paths=check_paths
        )
    else:
        graph = deployment_graph(
            spec.model_copy(update={"component": job.component, "job_definition": None}),
            registry,
            check_paths=check_paths,
            source=job_source,
        )
    values = {
        name: value
        for name, value in job.inputs.items()
        if isinstance(value, str | int | float | bool) and name in graph.pipeline.inputs
    }
    if values:
        inputs = {
            name: declared.model_copy(update={"default": values[name]}) if name in values else declared
            for name, declared in graph.pipeline.inputs.items()
        }
        graph = dataclasses.replace(graph, pipeline=graph.pipeline.model_copy(update={"inputs": inputs}))
    return DeploymentPipeline(
        graph,
        settings.default_compute or job.settings.default_compute or job.compute,
        bool(
            settings.continue_on_step_failure
            if settings.continue_on_step_failure is not None
            else job.settings.continue_on_step_failure
        ),
        settings.default_datastore or job.settings.default_datastore,
    )


def deployment_graph(
    spec: PipelineComponentBatchDeploymentSpec,
    registry: Registry,
    *,
    check_paths: bool = True,
    source: Source | None = None,
) -> PipelineGraph:
    """The graph of a pipeline deployment whose `component` is a file or inline (references were
    resolved to the registered file before); SpecError for its problems."""
    component = spec.component
    if spec.job_definition is not None:
        return deployment_pipeline(spec, registry, check_paths=check_paths, source=source).graph
    if component is None:
        raise SpecError.single("no component", field="component")
    if isinstance(component, Path):
        return load_pipeline(component, registered=_lookup(registry), check_paths=check_paths)
    if isinstance(component, str):
        raise SpecError.single(
            f"{component}: not resolved to a registered pipeline component", field="component"
        )
    source = source or Source()
    at = ("component",)
    lines = {loc[1:]: line for loc, line in source.lines.items() if loc[:1] == at}
    inline = Source(source.file, lines, root=source.root + at)
    base = Path(source.file).parent if source.file and Path(source.file).is_file() else None
    parsed = component_from_mapping(component, inline, base, check_paths=check_paths)
    if not isinstance(parsed, PipelineComponentSpec):
        message = "is a command component; a pipeline deployment runs a pipeline component"
        raise SpecError([source.problem(at, message)])
    return pipeline_graph(parsed, inline, base, registered=_lookup(registry), check_paths=check_paths)


def check_pipeline_deployments(
    documents: Iterable[Document], registry: Registry, *, check_paths: bool = True
) -> list[Problem]:
    """Every pipeline deployment's graph built and checked against the stack's registered assets:
    unknown components, models or data, bad bindings, cycles; each problem at its file and line."""
    problems: list[Problem] = []
    for document in documents:
        spec = document.spec
        if not isinstance(spec, PipelineComponentBatchDeploymentSpec) or isinstance(spec.component, str):
            continue  # a reference left is reported by the resolver or the target check
        try:
            graph = deployment_graph(spec, registry, check_paths=check_paths, source=document.source)
        except SpecError as error:
            problems += error.problems
            continue
        source = _file_source(spec.component) if isinstance(spec.component, Path) else document.source
        problems += _asset_input_problems(graph, registry, source)
    return problems


def _file_source(path: Path) -> Source:
    try:
        return read_yaml(read_text(path), str(path))[1]
    except SpecError:
        return Source(str(path))


def _asset_input_problems(graph: PipelineGraph, registry: Registry, source: Source) -> list[Problem]:
    """Registered models and data a step's inputs name (`path: azureml:name@latest`), and the
    environments of its components, must exist."""
    problems: list[Problem] = []
    for step in graph.steps.values():
        environment = step.component.environment.reference
        if environment is not None:
            try:
                reference = parse_reference(environment, "environment")
                if reference is None:
                    raise AssetLookupError(
                        f"{environment!r} is not an environment of this stack (shared registries are not "
                        "reachable here): register one, or give an image and conda file"
                    )
                registry.resolve("environment", reference)
            except (AssetLookupError, ValueError) as error:
                problems.append(source.problem(("jobs", step.name, "component"), f"environment: {error}"))
        for name, bound in step.inputs.items():
            if not isinstance(bound, Given):
                continue
            value = bound.value
            text = value.path if isinstance(value, StepAsset) else value
            declared = step.component.inputs[name]
            if not isinstance(text, str) or not declared.is_asset or not text.startswith("azureml:"):
                continue
            kind: AssetKind = "model" if declared.type.endswith("_model") else "data"
            try:
                reference = parse_reference(text, kind)
                if reference is not None:
                    registry.resolve(kind, reference)
            except (AssetLookupError, ValueError) as error:
                problems.append(source.problem(("jobs", step.name, "inputs", name), str(error)))
    return problems
