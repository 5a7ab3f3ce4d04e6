"""A job as Azure's batch endpoint answers it (BatchJobResource: id, name, type, properties{status, ...})."""

from __future__ import annotations

from typing import Any

from serving.batch.controller.joblogs import utc
from serving.batch.controller.step_store import StepRow
from serving.batch.controller.store_rows import Counts, JobRow

JOB_TYPE = "Microsoft.MachineLearningServices/workspaces/batchEndpoints/jobs"


def _iso_duration(seconds: int) -> str:
    return f"PT{seconds}S"


def job_resource(job: JobRow, counts: Counts, steps: list[StepRow] | None = None) -> dict[str, Any]:
    """Azure's shape (camelCase, as the SDK deserializes it) plus `progress`, `outputFileUri`, `logsUri`;
    a pipeline job's `steps` instead of mini-batches."""
    spec, settings = job.spec, job.spec.settings
    mb, files = counts.minibatches, counts.files
    error = None
    if job.error and job.status in ("Failed", "Canceled"):
        error = {"code": "JobCanceled" if job.status == "Canceled" else "JobFailed", "message": job.error}
    properties: dict[str, Any] = {
        "status": job.status,
        "endpointName": spec.endpoint,
        "deploymentName": spec.deployment,
        "description": spec.description,
        "tags": spec.tags,
        "properties": spec.properties,
        "inputData": {spec.input_name: {"jobInputType": spec.input_kind, "uri": spec.input_uri}},
        "outputData": {spec.output_name: {"jobOutputType": spec.output_kind, "uri": spec.output_uri}},
        "outputAction": settings.output_action,
        "outputFileName": settings.output_file_name,
        "miniBatchSize": settings.mini_batch_size,
        "maxConcurrencyPerInstance": settings.max_concurrency_per_instance,
        "compute": {"instanceCount": settings.instance_count},
        "retrySettings": {
            "maxRetries": settings.retry_settings.max_retries,
            "timeout": _iso_duration(settings.retry_settings.timeout),
        },
        "errorThreshold": settings.error_threshold,
        "loggingLevel": settings.logging_level.capitalize(),
        "overwrite": spec.overwrite,
        "creationTime": utc(job.created_at),
        "startTime": utc(job.started_at) or None,
        "endTime": utc(job.ended_at) or None,
        "progress": {
            "miniBatches": {
                "total": job.total_minibatches,
                "succeeded": mb["succeeded"],
                "failed": mb["failed"],
                "running": mb["leased"],
                "pending": mb["pending"],
                "canceled": mb["canceled"],
            },
            "files": {"total": job.total_files, "succeeded": files["succeeded"], "failed": files["failed"]},
            "rows": counts.rows,
            "failedTries": counts.failed_tries,
        },
        "outputFileUri": spec.output_file_uri if settings.output_action == "append_row" else None,
        "logsUri": spec.logs_uri,
        "error": error,
    }
    if spec.pipeline is not None:
        properties.update(_pipeline_properties(job, steps or []))
    return {
        "id": f"/jobs/{spec.name}",
        "name": spec.name,
        "type": JOB_TYPE,
        "properties": properties,
        "systemData": {"createdAt": utc(job.created_at)},
    }


def _pipeline_properties(job: JobRow, steps: list[StepRow]) -> dict[str, Any]:
    spec = job.spec
    assert spec.pipeline is not None
    home = spec.output_folder_uri
    states = [row.state for row in steps]
    return {
        "inputData": spec.pipeline.shown,
        "outputData": {
            name: {"jobOutputType": "UriFolder", "uri": f"{home}{name}/"}
            for name in spec.pipeline.config.outputs
        },
        "outputFileUri": None,
        "progress": {
            "steps": {state: states.count(state) for state in dict.fromkeys(states)},
            "total": len(steps),
        },
        "steps": {
            row.name: {
                "status": row.state,
                "startTime": utc(row.started_at) or None,
                "endTime": utc(row.ended_at) or None,
                "exitCode": row.exit_code,
                "error": row.error,
                "logUri": f"{spec.logs_uri}steps/{row.name}/std_log.txt",
            }
            for row in steps
        },
    }
