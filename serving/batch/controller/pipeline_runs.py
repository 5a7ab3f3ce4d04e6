"""A pipeline job's steps (pure): its inputs from the invoke body, which steps may start, the job's
outcome, and each step's command with the job's paths filled in.

Azure's REST invoke of a pipeline deployment names every pipeline input in InputData: data as
`{"JobInputType": "UriFolder" | "UriFile", "Uri": ...}`, literals as `{"JobInputType": "Literal",
"Value": ...}` (https://learn.microsoft.com/azure/machine-learning/how-to-use-batch-pipeline-deployments).
A step starts once every step whose output it reads has completed; a failed step stops the job from
starting more unless `continue_on_step_failure`, and then only what needs the failed step is skipped.
"""

from __future__ import annotations

import math
import posixpath
from collections.abc import Callable, Mapping
from typing import Any, Literal

from serving.batch.commands import render_command
from serving.batch.controller.datastores import DatastorePath, parse_uri
from serving.batch.controller.errors import BadRequest
from serving.batch.controller.invoke import field_key
from serving.batch.protocol import PipelineConfig, PipelineInput, StepConfig

StepState = Literal["waiting", "running", "completed", "failed", "skipped", "canceled"]
SETTLED: frozenset[str] = frozenset({"completed", "failed", "skipped", "canceled"})
_DATA_KINDS = {"uri_folder": "UriFolder", "uri_file": "UriFile"}


def _literal(value: Any, declared: PipelineInput, where: str) -> str:
    """A literal input's text, checked against its declared type."""
    boolean = isinstance(value, bool) or (isinstance(value, str) and value.lower() in ("true", "false"))
    if boolean and declared.type == "boolean":
        return str(value if isinstance(value, bool) else value.lower() == "true")
    if declared.type == "boolean":
        raise BadRequest(f"{where} must be true or false, got {value!r}")
    if declared.type in ("integer", "number"):
        try:
            number = float(value) if not isinstance(value, bool) else math.nan
        except (TypeError, ValueError):
            number = math.nan
        whole = declared.type == "integer"
        if math.isnan(number) or (whole and not number.is_integer()):
            raise BadRequest(f"{where} must be {'a whole number' if whole else 'a number'}, got {value!r}")
        return str(int(number)) if whole else str(value)
    if not isinstance(value, str | int | float):
        raise BadRequest(f"{where} must be a string, got {value!r}")
    return str(value)


def pipeline_inputs(
    entries: Any, config: PipelineConfig, container_path: Callable[[DatastorePath], str]
) -> dict[str, str | None]:
    """The pipeline inputs of an invocation as text (data as paths in the containers), defaults
    filled in; BadRequest naming the input for anything missing, unknown or of the wrong type."""
    if entries is None:
        entries = {}
    if not isinstance(entries, dict):
        raise BadRequest("properties.InputData must be a JSON object of the pipeline's inputs")
    values: dict[str, str | None] = {}
    for name, entry in entries.items():
        where = f"InputData.{name}"
        declared = config.inputs.get(name)
        if declared is None:
            known = ", ".join(config.inputs) or "none"
            raise BadRequest(f"{where}: the pipeline has no input {name!r} (its inputs: {known})")
        if not isinstance(entry, dict):
            raise BadRequest(f"{where} must be a JSON object with JobInputType")
        fields = {field_key(key): value for key, value in entry.items()}
        kind = fields.get("jobinputtype")
        wanted = _DATA_KINDS.get(declared.type, "Literal")
        if not isinstance(kind, str) or kind.lower() != wanted.lower():
            raise BadRequest(
                f"{where}.JobInputType must be {wanted} for a {declared.type} input, got {kind!r}"
            )
        if wanted == "Literal":
            if "value" not in fields:
                raise BadRequest(f"{where} has no Value")
            values[name] = _literal(fields["value"], declared, f"{where}.Value")
        else:
            if not isinstance(fields.get("uri"), str):
                raise BadRequest(f"{where} has no Uri")
            values[name] = container_path(parse_uri(fields["uri"], f"{where}.Uri"))
    for name, declared in config.inputs.items():
        if name in values:
            continue
        if declared.default is None and not declared.optional:
            raise BadRequest(f"InputData.{name} is required: the pipeline's input {name!r} ({declared.type})")
        values[name] = declared.default
    return values


def ready(config: PipelineConfig, states: Mapping[str, StepState]) -> list[str]:
    """Waiting steps whose every predecessor completed, in the config's order."""
    return [
        name
        for name, step in config.steps.items()
        if states.get(name) == "waiting" and all(states.get(before) == "completed" for before in step.after)
    ]


def blocked(config: PipelineConfig, states: Mapping[str, StepState]) -> list[str]:
    """Waiting steps that can never run: a step they read failed, was skipped or canceled."""
    return [
        name
        for name, step in config.steps.items()
        if states.get(name) == "waiting"
        and any(states.get(before) in ("failed", "skipped", "canceled") for before in step.after)
    ]


def outcome(
    config: PipelineConfig, states: Mapping[str, StepState]
) -> Literal["Running", "Completed", "Failed"]:
    """Running while a step runs or may still start; then Completed only if every step completed."""
    failed = any(state == "failed" for state in states.values())
    if any(state == "running" for state in states.values()):
        return "Running"
    if failed and not config.continue_on_step_failure:
        return "Failed"
    if any(state == "waiting" for state in states.values()):
        return "Running"
    return "Completed" if all(states.get(name) == "completed" for name in config.steps) else "Failed"


def output_path(job_folder: str, step: str, output: str, parent: str | None) -> str:
    """Where a step output lives: the pipeline's named output folder, or the step's own."""
    if parent is not None:
        return posixpath.join(job_folder, parent)
    return posixpath.join(job_folder, "steps", step, output)


def step_command(
    config: PipelineConfig, name: str, parent_values: Mapping[str, str | None], job_folder: str
) -> str:
    """The step's command with its inputs (the pipeline's, earlier steps' output folders, values)
    and its output folders filled in; CommandError when it cannot be."""
    step = config.steps[name]
    values: dict[str, str | None] = {declared: step.defaults.get(declared) for declared in step.declared}
    for input_name, source in step.inputs.items():
        if source.kind == "parent":
            values[input_name] = parent_values.get(source.name or "")
        elif source.kind == "step":
            before = config.steps[source.step or ""]
            parent = before.bound_outputs.get(source.output or "")
            values[input_name] = output_path(job_folder, source.step or "", source.output or "", parent)
        else:
            values[input_name] = source.value
    outputs = {out: output_path(job_folder, name, out, step.bound_outputs.get(out)) for out in step.outputs}
    return render_command(step.command, values, outputs)


def output_folders(config: PipelineConfig, name: str, job_folder: str) -> list[str]:
    """The folders a step writes (created before it starts)."""
    step: StepConfig = config.steps[name]
    return [output_path(job_folder, name, out, step.bound_outputs.get(out)) for out in step.outputs]
