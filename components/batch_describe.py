"""Batch jobs as text: `mle batch show`, what `--wait` prints at the end, the `mle batch list` table."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from components.batch_datastore_paths import _shown


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def duration(props: Mapping[str, Any]) -> str:
    start, end = _time(props.get("startTime")), _time(props.get("endTime"))
    if start is None or end is None:
        return ""
    return f"{(end - start).total_seconds():.1f} s"


def _seconds(duration: Any) -> str:
    """Azure's `PT30S` as `30 s`; anything else as it is."""
    match = re.fullmatch(r"PT(\d+)S", str(duration))
    return f"{match[1]} s" if match else str(duration)


def _short_time(value: str | None) -> str:
    parsed = _time(value)
    return parsed.strftime("%Y-%m-%d %H:%M:%S") if parsed else "-"


def _single(entries: Any) -> tuple[str, dict[str, Any]]:
    if isinstance(entries, dict) and entries:
        name, entry = next(iter(entries.items()))
        return str(name), dict(entry or {})
    return "-", {}


def output_folder_uri(props: Mapping[str, Any]) -> str | None:
    """The job's score output folder (a UriFile output's parent)."""
    _, output = _single(props.get("outputData"))
    uri = output.get("uri")
    if not uri:
        return None
    if output.get("jobOutputType") == "UriFile":
        return str(PurePosixPath(str(uri))).rsplit("/", 1)[0] + "/"
    return str(uri)


def progress_text(props: Mapping[str, Any]) -> str:
    progress = props.get("progress") or {}
    mb = progress.get("miniBatches") or {}
    settled = int(mb.get("succeeded") or 0) + int(mb.get("failed") or 0)
    text = (
        f"{settled} of {mb.get('total', 0)} settled: {mb.get('succeeded', 0)} succeeded, "
        f"{mb.get('failed', 0)} failed, {mb.get('running', 0)} running, {mb.get('pending', 0)} pending"
    )
    return text + (f", {mb['canceled']} canceled" if mb.get("canceled") else "")


def _steps_text(props: Mapping[str, Any]) -> str:
    steps = props.get("steps") or {}
    counts: dict[str, int] = {}
    for step in steps.values():
        counts[str(step.get("status"))] = counts.get(str(step.get("status")), 0) + 1
    return f"{len(steps)} steps: " + ", ".join(f"{n} {state}" for state, n in counts.items())


def _header(job: Mapping[str, Any], kind: str = "") -> list[str]:
    props = job.get("properties") or {}
    took = duration(props)
    return [
        f"job:          {job.get('name')}",
        f"status:       {props.get('status')}",
        f"endpoint:     {props.get('endpointName')}",
        f"deployment:   {props.get('deploymentName')}{kind}",
        f"created:      {props.get('creationTime') or '-'}",
        f"started:      {props.get('startTime') or '-'}",
        f"ended:        {props.get('endTime') or '-'}" + (f" (took {took})" if took else ""),
    ]


def describe_pipeline_job(job: Mapping[str, Any], folders: Mapping[str, Path]) -> list[str]:
    """`mle batch show` of a pipeline job: its inputs and outputs, then one block per step."""
    props = job.get("properties") or {}
    lines = [*_header(job, " (pipeline)"), f"steps:        {_steps_text(props)}"]
    for name, data in (props.get("inputData") or {}).items():
        value = data.get("uri") or data.get("value") or data.get("path")
        lines.append(f"input:        {name} ({data.get('jobInputType')}) {value}")
        if data.get("uri"):
            lines.append(f"              host: {_shown(data.get('uri'), folders)}")
    for name, data in (props.get("outputData") or {}).items():
        lines += [
            f"output:       {name} ({data.get('jobOutputType')}) {data.get('uri')}",
            f"              host: {_shown(data.get('uri'), folders)}",
        ]
    for name, step in (props.get("steps") or {}).items():
        code = step.get("exitCode")
        times = f"{_short_time(step.get('startTime'))} -> {_short_time(step.get('endTime'))}"
        lines.append(
            f"step {name}: {step.get('status')}" + (f" (exit code {code})" if code is not None else "")
        )
        lines.append(f"              {times}; log: {_shown(step.get('logUri'), folders)}")
        if step.get("error"):
            lines.append(f"              {step['error']}")
    error = props.get("error") or {}
    if error.get("message"):
        lines.append(f"error:        {error['message']}")
    return lines


def describe_job(job: Mapping[str, Any], folders: Mapping[str, Path]) -> list[str]:
    """`mle batch show`: status, deployment, times, progress, URIs with their host paths, error."""
    props = job.get("properties") or {}
    if "steps" in props:
        return describe_pipeline_job(job, folders)
    progress = props.get("progress") or {}
    files = progress.get("files") or {}
    input_name, data = _single(props.get("inputData"))
    output_name, output = _single(props.get("outputData"))
    retry = props.get("retrySettings") or {}
    lines = [
        *_header(job),
        f"mini-batches: {progress_text(props)}",
        f"files:        {files.get('total', 0)} total, {files.get('succeeded', 0)} succeeded, "
        f"{files.get('failed', 0)} failed",
        f"rows:         {progress.get('rows', 0)}; failed tries {progress.get('failedTries', 0)}",
        f"settings:     mini_batch_size {props.get('miniBatchSize')}, instance_count "
        f"{(props.get('compute') or {}).get('instanceCount')}, max_retries {retry.get('maxRetries')}, "
        f"timeout {_seconds(retry.get('timeout'))}, error_threshold {props.get('errorThreshold')}, "
        f"{props.get('outputAction')}, overwrite {str(props.get('overwrite')).lower()}",
        f"input:        {input_name} ({data.get('jobInputType')}) {data.get('uri')}",
        f"              host: {_shown(data.get('uri'), folders)}",
        f"output:       {output_name} ({output.get('jobOutputType')}) {output.get('uri')}",
        f"              host: {_shown(output.get('uri'), folders)}",
    ]
    if props.get("outputFileUri"):
        lines += [
            f"output file:  {props['outputFileUri']}",
            f"              host: {_shown(props['outputFileUri'], folders)}",
        ]
    else:
        lines.append(f"output file:  none ({props.get('outputAction')}: counts only)")
    lines += [
        f"logs:         {props.get('logsUri')}",
        f"              host: {_shown(props.get('logsUri'), folders)}",
    ]
    error = props.get("error") or {}
    if error.get("message"):
        lines.append(f"error:        {error['message']}")
    return lines


def outcome_lines(job: Mapping[str, Any], folders: Mapping[str, Path]) -> list[str]:
    """What `invoke --wait` prints when the job ends."""
    props = job.get("properties") or {}
    progress = props.get("progress") or {}
    mb, files = progress.get("miniBatches") or {}, progress.get("files") or {}
    took = duration(props)
    if "steps" in props:
        lines = [f"job {job.get('name')}: {props.get('status')}" + (f" in {took}" if took else "")]
        lines.append(_steps_text(props))
        lines += [
            f"output {n}: {_shown(d.get('uri'), folders)}" for n, d in (props.get("outputData") or {}).items()
        ]
        error = props.get("error") or {}
        if props.get("status") != "Completed" and error.get("message"):
            lines.append(f"error: {error['message']}")
        return lines + [f"logs: scripts/mle batch logs {job.get('name')}"] * (
            props.get("status") != "Completed"
        )
    lines = [
        f"job {job.get('name')}: {props.get('status')}" + (f" in {took}" if took else ""),
        f"mini-batches: {mb.get('succeeded', 0)} succeeded, {mb.get('failed', 0)} failed of "
        f"{mb.get('total', 0)}; files: {files.get('succeeded', 0)} of {files.get('total', 0)} succeeded; "
        f"rows: {progress.get('rows', 0)}",
    ]
    if props.get("outputFileUri"):
        lines.append(f"output: {_shown(props['outputFileUri'], folders)}")
    else:
        lines.append(f"output: no output file ({props.get('outputAction')})")
    error = props.get("error") or {}
    if props.get("status") != "Completed":
        if error.get("message"):
            lines.append(f"error: {error['message']}")
        lines.append(f"logs: scripts/mle batch logs {job.get('name')}")
    return lines


def jobs_table(jobs: Sequence[Mapping[str, Any]]) -> list[str]:
    """`mle batch list`: newest first."""
    rows = [("NAME", "STATUS", "DEPLOYMENT", "CREATED (UTC)", "MINI-BATCHES", "ROWS")]
    ordered = sorted(jobs, key=lambda j: str((j.get("properties") or {}).get("creationTime")), reverse=True)
    for job in ordered:
        props = job.get("properties") or {}
        progress = props.get("progress") or {}
        mb = progress.get("miniBatches") or {}
        settled = int(mb.get("succeeded") or 0) + int(mb.get("failed") or 0)
        batches = f"{settled}/{mb.get('total', 0)}" + (
            f" ({mb['failed']} failed)" if mb.get("failed") else ""
        )
        if "steps" in props:
            steps = props.get("steps") or {}
            done = sum(1 for step in steps.values() if step.get("status") == "completed")
            batches = f"steps {done}/{len(steps)}"
        rows.append(
            (
                str(job.get("name")),
                str(props.get("status")),
                str(props.get("deploymentName")),
                _short_time(props.get("creationTime")),
                batches,
                str(progress.get("rows", 0)),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
