"""A pipeline component as a graph of steps: bindings checked, dependencies found, an order to run in.

Pure: the caller loads each step's command component (a path, an inline mapping or a registered
reference) and gets every problem at once, each naming the job and key, as Azure's pipeline
validation does before a job is created.

Bindings (https://learn.microsoft.com/azure/machine-learning/how-to-create-component-pipelines-cli):
`${{parent.inputs.<name>}}` (a pipeline input), `${{parent.jobs.<job>.outputs.<name>}}` (another
step's output: that step runs first) and, on a step output, `${{parent.outputs.<name>}}` (the step
writes the pipeline's output).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from components.specs.pipelines import (
    CommandComponentSpec,
    ComponentInput,
    Literal_,
    PipelineComponentSpec,
    PipelineStepSpec,
    StepAsset,
)

_BINDING = re.compile(
    r"\$\{\{\s*parent\.(?:inputs\.(?P<input>\w+)|outputs\.(?P<output>\w+)"
    r"|jobs\.(?P<job>\w+)\.outputs\.(?P<job_output>\w+))\s*\}\}"
)


Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class GraphProblem:
    """One reason the pipeline cannot run, at a key of the pipeline document (for its file:line)."""

    loc: Loc
    message: str

    def __str__(self) -> str:
        return ".".join(map(str, self.loc)) + ": " + self.message if self.loc else self.message


class PipelineError(Exception):
    """The pipeline cannot run as written; `problems` lists every reason."""

    def __init__(self, problems: list[GraphProblem]) -> None:
        super().__init__("; ".join(map(str, problems)))
        self.problems = problems


@dataclass(frozen=True)
class ParentInput:
    """Bound to an input of the pipeline (what the invocation passes, or its default)."""

    name: str


@dataclass(frozen=True)
class StepOutputRef:
    """Bound to an output of an earlier step."""

    job: str
    output: str


@dataclass(frozen=True)
class Given:
    """A literal value, or a data/model asset given in place (`path`, `type`)."""

    value: Literal_ | StepAsset


InputSource = ParentInput | StepOutputRef | Given


@dataclass(frozen=True)
class Step:
    """One command step: its component, where each input comes from, which pipeline output it writes."""

    name: str
    component: CommandComponentSpec
    spec: PipelineStepSpec
    inputs: Mapping[str, InputSource]
    # Step output -> the pipeline output it is bound to (None: a folder of its own).
    outputs: Mapping[str, str | None]
    after: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class PipelineGraph:
    """The steps, and the order to run them in: each layer only needs the layers before it."""

    pipeline: PipelineComponentSpec
    steps: Mapping[str, Step]
    layers: tuple[tuple[str, ...], ...]

    @property
    def order(self) -> tuple[str, ...]:
        return tuple(name for layer in self.layers for name in layer)


ComponentLoader = Callable[[str, PipelineStepSpec], CommandComponentSpec]


def build_graph(pipeline: PipelineComponentSpec, load: ComponentLoader) -> PipelineGraph:
    """Check every binding of `pipeline` and order its steps; PipelineError lists all problems.

    `load(job, step)` returns the step's command component or raises PipelineError (an unknown
    reference, a file that is not a command component; it may carry no problems when the caller
    reports them itself). Without every component no order is computed.
    """
    problems: list[GraphProblem] = []
    components: dict[str, CommandComponentSpec] = {}
    for job, spec in pipeline.jobs.items():
        try:
            components[job] = load(job, spec)
        except PipelineError as error:
            problems += error.problems
    steps: dict[str, Step] = {}
    writers: dict[str, list[str]] = {}
    for job, spec in pipeline.jobs.items():
        component = components.get(job)
        if component is None:
            continue
        inputs = _bind_inputs(job, spec, component, pipeline, components, problems)
        outputs = _bind_outputs(job, spec, component, pipeline, problems)
        for step_output, parent_output in outputs.items():
            if parent_output is not None:
                writers.setdefault(parent_output, []).append(f"{job}.outputs.{step_output}")
        after = frozenset(source.job for source in inputs.values() if isinstance(source, StepOutputRef))
        steps[job] = Step(job, component, spec, inputs, outputs, after)
    for name in pipeline.outputs:
        bound = writers.get(name, [])
        if len(bound) > 1:
            message = f"written by more than one step: {', '.join(bound)}; bind it from one"
            problems.append(GraphProblem(("outputs", name), message))
        elif not bound and components.keys() == pipeline.jobs.keys():
            message = f"bound to no step output; bind one with `path: ${{{{parent.outputs.{name}}}}}`"
            problems.append(GraphProblem(("outputs", name), message + " under a job's outputs"))
    if not pipeline.jobs:
        problems.append(GraphProblem(("jobs",), "the pipeline has no jobs"))
    layers: tuple[tuple[str, ...], ...] = ()
    if not problems and len(components) == len(pipeline.jobs):
        layers, cycle = _layers(steps)
        if cycle:
            message = "the jobs depend on each other in a cycle (each reads the next one's output): "
            problems.append(GraphProblem(("jobs",), message + " -> ".join(cycle)))
    if problems or len(components) < len(pipeline.jobs):
        raise PipelineError(problems)
    return PipelineGraph(pipeline, steps, layers)


def _bind_inputs(
    job: str,
    spec: PipelineStepSpec,
    component: CommandComponentSpec,
    pipeline: PipelineComponentSpec,
    components: Mapping[str, CommandComponentSpec],
    problems: list[GraphProblem],
) -> dict[str, InputSource]:
    bound: dict[str, InputSource] = {}

    def refuse(name: str, message: str) -> None:
        problems.append(GraphProblem(("jobs", job, "inputs", name), message))

    for name, value in spec.inputs.items():
        declared = component.inputs.get(name)
        if declared is None:
            known = ", ".join(component.inputs) or "none"
            refuse(name, f"component {component.name!r} has no input {name!r} (its inputs: {known})")
            continue
        if value is None:
            continue  # `name:` with nothing: left unbound (an optional input or one with a default)
        text = value.path if isinstance(value, StepAsset) else value
        if not isinstance(text, str) or "${{" not in text:
            problem = None if isinstance(value, StepAsset) else _literal_problem(declared, value)
            if problem:
                refuse(name, problem)
            bound[name] = Given(value)
            continue
        match = _BINDING.fullmatch(text.strip())
        if match is None or match["output"]:
            refuse(
                name,
                f"{text!r} is not an input binding; use ${{{{parent.inputs.<name>}}}} or "
                "${{parent.jobs.<job>.outputs.<name>}}",
            )
        elif match["input"]:
            if match["input"] not in pipeline.inputs:
                known = ", ".join(pipeline.inputs) or "none"
                refuse(name, f"the pipeline has no input {match['input']!r} (its inputs: {known})")
            else:
                bound[name] = ParentInput(match["input"])
        else:
            other, output = match["job"], match["job_output"]
            if other not in pipeline.jobs:
                refuse(name, f"there is no job {other!r} (jobs: {', '.join(pipeline.jobs)})")
            elif other == job:
                refuse(name, f"job {job!r} cannot read its own output {output!r}")
            elif other in components and output not in components[other].outputs:
                known = ", ".join(components[other].outputs) or "none"
                refuse(name, f"job {other!r} has no output {output!r} (its outputs: {known})")
            else:
                bound[name] = StepOutputRef(other, output)
    for name, declared in component.inputs.items():
        if name not in spec.inputs and not declared.optional and declared.default is None:
            refuse(name, f"required input of component {component.name!r} is not bound")
    return bound


def _bind_outputs(
    job: str,
    spec: PipelineStepSpec,
    component: CommandComponentSpec,
    pipeline: PipelineComponentSpec,
    problems: list[GraphProblem],
) -> dict[str, str | None]:
    outputs: dict[str, str | None] = dict.fromkeys(component.outputs)

    def refuse(name: str, message: str) -> None:
        problems.append(GraphProblem(("jobs", job, "outputs", name), message))

    for name, value in spec.outputs.items():
        if name not in component.outputs:
            known = ", ".join(component.outputs) or "none"
            refuse(name, f"component {component.name!r} has no output {name!r} (its outputs: {known})")
            continue
        if value is None or value.path is None:
            continue
        match = _BINDING.fullmatch(value.path.strip())
        if match is None or not match["output"]:
            refuse(name, f"{value.path!r} is not an output binding; use ${{{{parent.outputs.<name>}}}}")
        elif match["output"] not in pipeline.outputs:
            known = ", ".join(pipeline.outputs) or "none"
            refuse(name, f"the pipeline has no output {match['output']!r} (its outputs: {known})")
        else:
            outputs[name] = match["output"]
    return outputs


def _literal_problem(declared: ComponentInput, value: Literal_) -> str | None:
    """Why a literal does not fit its input's type; None when it does."""
    if declared.is_asset:
        if isinstance(value, str):
            return None  # a path or azureml: reference written as plain text
        return f"input of type {declared.type} takes a path or asset reference, not {value!r}"
    return literal_problem(declared, value)


def literal_problem(declared: ComponentInput, value: Literal_) -> str | None:
    """Why `value` is not a valid value of a literal input (type, min/max, enum); None when it is."""
    kind = declared.type
    if kind == "boolean":
        if isinstance(value, bool) or str(value).lower() in ("true", "false"):
            return None
        return f"{value!r} is not a boolean (true or false)"
    if kind in ("integer", "number"):
        number: float
        try:
            if isinstance(value, bool):
                raise ValueError
            number = int(value) if kind == "integer" else float(value)
        except (TypeError, ValueError):
            return f"{value!r} is not {'an integer' if kind == 'integer' else 'a number'}"
        if declared.min is not None and number < declared.min:
            return f"{value!r} is below the input's min {declared.min:g}"
        if declared.max is not None and number > declared.max:
            return f"{value!r} is above the input's max {declared.max:g}"
        return None
    if declared.enum is not None and str(value) not in declared.enum:
        return f"{value!r} is not one of {', '.join(declared.enum)}"
    return None


def _layers(steps: Mapping[str, Step]) -> tuple[tuple[tuple[str, ...], ...], list[str]]:
    """Kahn's algorithm in declaration order; the cycle's jobs when there is one."""
    left = {name: set(step.after) for name, step in steps.items()}
    layers: list[tuple[str, ...]] = []
    while left:
        ready = tuple(name for name, after in left.items() if not after)
        if not ready:
            return tuple(layers), _cycle(left)
        layers.append(ready)
        for name in ready:
            del left[name]
        for after in left.values():
            after.difference_update(ready)
    return tuple(layers), []


def _cycle(left: Mapping[str, set[str]]) -> list[str]:
    start = next(iter(left))
    path, seen = [start], {start}
    while True:
        following = sorted(left[path[-1]])[0]
        if following in seen:
            return [*path[path.index(following) :], following]
        path.append(following)
        seen.add(following)
