"""A pipeline deployment's invocation -> its JobSpec: the pipeline's inputs, the job's folders.

The body is Azure's (`{"properties": {"InputData": {...}}}`, every pipeline input by name); the
settings of model deployments (mini-batch size, retries, output file) do not apply to a pipeline
and are refused by name rather than ignored.
"""

from __future__ import annotations

from typing import Any

from serving.batch.controller.datastores import DatastorePath, Datastores
from serving.batch.controller.errors import BadRequest
from serving.batch.controller.invoke import field_key
from serving.batch.controller.jobs import JobSpec, PipelineRun
from serving.batch.controller.pipeline_runs import pipeline_inputs
from serving.batch.protocol import DEFAULT_DATASTORE, DeploymentConfig

_TEXT_FIELDS = ("description", "displayname")


def build_pipeline_job(
    body: Any, endpoint: str, deployment: DeploymentConfig, datastores: Datastores, name: str
) -> JobSpec:
    """400 for a body the pipeline cannot take (unknown or missing inputs, data that is not there)."""
    config = deployment.pipeline
    assert config is not None
    if not isinstance(body, dict) or not isinstance(body.get("properties"), dict):
        raise BadRequest('the body must be {"properties": {"InputData": {...}}} (Azure\'s batch invoke body)')
    fields = {field_key(key): (key, value) for key, value in body["properties"].items()}
    extra = [key for norm, (key, _) in fields.items() if norm not in ("inputdata", "tags", *_TEXT_FIELDS)]
    if extra:
        raise BadRequest(
            f"{', '.join(extra)}: not taken by a pipeline deployment ({deployment.name}); its job takes "
            "InputData (every pipeline input by name), description and tags"
        )
    shown: dict[str, dict[str, str]] = {}

    def container_path(location: DatastorePath) -> str:
        path = datastores.resolve(location, "InputData")
        if not path.exists():
            raise BadRequest(f"input {location.uri()!r} does not exist")
        return str(path)

    entries = fields.get("inputdata", (None, None))[1]
    values = pipeline_inputs(entries, config, container_path)
    for input_name, value in values.items():
        entry = (entries or {}).get(input_name) if isinstance(entries, dict) else None
        if isinstance(entry, dict):
            shown[input_name] = {str(k)[0].lower() + str(k)[1:]: str(v) for k, v in entry.items()}
        elif value is not None:
            shown[input_name] = {"jobInputType": "Literal", "value": value}
    tags = fields.get("tags", (None, {}))[1]
    if not isinstance(tags, dict):
        raise BadRequest("tags must be a JSON object of strings")
    description = fields.get("description", (None, None))[1]
    home = DatastorePath(DEFAULT_DATASTORE, f"azureml/{name}")
    job_folder = str(datastores.resolve(home, "job folder"))
    first_output = config.outputs[0] if config.outputs else "outputs"
    return JobSpec(
        name=name,
        endpoint=endpoint,
        deployment=deployment.name,
        settings=deployment.settings,
        input_name=", ".join(config.inputs),
        input_kind="Pipeline",
        input_uri="",
        output_name=first_output,
        output_uri=home.child(first_output).uri(folder=True),
        output_folder_uri=home.uri(folder=True),
        output_folder=job_folder,
        output_file="",
        job_folder=job_folder,
        description=str(description) if description is not None else None,
        tags={str(k): str(v) for k, v in tags.items()},
        pipeline=PipelineRun(config=config, values=values, shown=shown),
    )
