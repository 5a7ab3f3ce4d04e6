"""Job logs in Azure's layout under the job folder: azureml/<job>/logs/ on the default datastore.

Layout and names as Azure's batch jobs write them (the ParallelRunStep runtime behind batch deployments):
https://learn.microsoft.com/en-us/azure/machine-learning/how-to-troubleshoot-batch-endpoints and
https://learn.microsoft.com/en-us/azure/machine-learning/v1/how-to-debug-parallel-run-step --
`logs/job_progress_overview.<timestamp>.txt` (progress as the job runs, then its result),
`logs/job_result.txt`, `logs/job_error.txt` (a summary of the errors) and
`logs/sys/job_report/processed_mini-batches.csv` (one row per processing of a mini-batch, with Azure's
column names where they apply: Mini-batch Id, Picked Count, Process, Start Time, Total, Succeeded,
Failed, Elapsed Seconds, Status, Error Category, Error Message). The nodes write logs/user/.
Where Azure says "There is no succeeded mini batch item returned from run()", we name the
mini-batch, its files, how it failed and the script's own error.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

from serving.batch.controller.jobs import JobSpec
from serving.batch.controller.store_rows import AttemptRow, Counts, JobRow, MiniBatchRow

_FAILURES = {
    "exception": "run() raised an exception",
    "timeout": "run() took longer than retry_settings.timeout and was stopped",
    "too_few_rows": "run() returned fewer rows than the mini-batch has files",
    "init_failed": "init() failed in the worker process",
    "worker_died": "the worker process died",
    "no_run": "the scoring script has no run() function",
}
REPORT_COLUMNS = (
    "Mini-batch Id", "Picked Count", "Node", "Process", "Start Time", "End Time", "Total", "Succeeded",
    "Failed", "Elapsed Seconds", "Rows", "Status", "Error Category", "Error Message", "Files",
)  # fmt: skip


def utc(ts: float | None) -> str:
    if ts is None:
        return ""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1e6):06d}Z"


def _tries(count: int) -> str:
    return f"{count} {'try' if count == 1 else 'tries'}"


def describe_failure(kind: str | None) -> str:
    return _FAILURES.get(kind or "", kind or "unknown failure")


def progress_line(job: JobRow, counts: Counts, now: float) -> str:
    mb, files = counts.minibatches, counts.files
    done = mb["succeeded"] + mb["failed"]
    return (
        f"{utc(now)} {job.status}: mini-batches {done} of {job.total_minibatches} processed "
        f"({mb['succeeded']} succeeded, {mb['failed']} failed, "
        f"{mb['leased']} running, {mb['pending']} pending"
        + (f", {mb['canceled']} canceled" if mb["canceled"] else "")
        + f"); files {files['succeeded']} succeeded, {files['failed']} failed of {job.total_files}; "
        f"rows {counts.rows}; failed tries {counts.failed_tries}\n"
    )


def failed_minibatch_text(batch: MiniBatchRow, limit_files: int | None = None) -> str:
    files = batch.files if limit_files is None else batch.files[:limit_files]
    more = len(batch.files) - len(files)
    listed = ", ".join(os.path.basename(f) for f in files) + (f" and {more} more" if more else "")
    error = (batch.last_error or "").strip() or "no error text"
    return (
        f"mini-batch {batch.idx} ({listed}) failed after {_tries(batch.failures)}: "
        f"{describe_failure(batch.failure)}: {error}"
    )


def failure_summary(error: str, failed: Sequence[MiniBatchRow], limit: int = 5) -> str:
    """The job's error: why it failed and which mini-batches and files, in one paragraph."""
    if not failed:
        return error
    shown = "; ".join(failed_minibatch_text(b, limit_files=3) for b in failed[:limit])
    more = f"; and {len(failed) - limit} more" if len(failed) > limit else ""
    return f"{error} Failed {shown}{more}. Every failed mini-batch is in logs/job_error.txt."


def error_text(failed: Sequence[MiniBatchRow]) -> str:
    blocks = []
    for batch in failed:
        error = (batch.last_error or "no error text").strip()
        blocks.append(
            f"Mini-batch {batch.idx}: failed after {_tries(batch.failures)}: "
            f"{describe_failure(batch.failure)} ({batch.failure})\n"
            + "".join(f"  file: {f}\n" for f in batch.files)
            + "  error:\n"
            + "".join(f"    {line}\n" for line in error.splitlines())
        )
    return "\n".join(blocks)


def result_text(job: JobRow, counts: Counts, failed: Sequence[MiniBatchRow]) -> str:
    spec, mb, files = job.spec, counts.minibatches, counts.files
    lines = [
        f"Job {spec.name}: {job.status}",
        f"Endpoint {spec.endpoint}, deployment {spec.deployment}",
        f"Input {spec.input_name}: {spec.input_uri}",
        f"Mini-batches: {job.total_minibatches} total, {mb['succeeded']} succeeded, {mb['failed']} failed"
        + (f", {mb['canceled']} canceled" if mb["canceled"] else ""),
        f"Files: {job.total_files} total, {files['succeeded']} succeeded, {files['failed']} failed",
        f"Failed tries (retried or final): {counts.failed_tries}",
    ]
    if spec.settings.output_action == "append_row":
        lines.append(f"Rows: {counts.rows} in {spec.output_file_uri}")
    else:
        lines.append(f"Rows: {counts.rows} counted (summary_only: no output file)")
    lines.append(f"Started {utc(job.started_at) or '-'}, ended {utc(job.ended_at) or '-'}")
    if job.error:
        lines.append(f"Error: {job.error}")
    if failed:
        lines.append(
            f"{len(failed)} mini-batches failed; each one with its files and error is in logs/job_error.txt"
        )
    return "\n".join(lines) + "\n"


def report_csv(attempts: Sequence[AttemptRow], batches: Sequence[MiniBatchRow]) -> str:
    files = {b.idx: b.files for b in batches}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(REPORT_COLUMNS)
    for a in attempts:
        total = len(files.get(a.idx, []))
        status = a.outcome or "running"
        succeeded = total if a.outcome == "succeeded" and a.accepted else 0
        writer.writerow([
            a.idx, a.attempt + 1, a.node, a.process, utc(a.started_at), utc(a.ended_at), total, succeeded,
            total - succeeded if a.outcome in ("succeeded", "failed") else 0,
            "" if a.elapsed is None else f"{a.elapsed:.3f}", "" if a.rows is None else a.rows, status,
            a.failure or "", (a.error or "").strip(), json.dumps(files.get(a.idx, [])),
        ])  # fmt: skip
    return out.getvalue()


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


class JobLogs:
    """Writes one job's logs; the progress file is named after when this controller first wrote it."""

    def __init__(self) -> None:
        self._overview: dict[str, Path] = {}

    @staticmethod
    def folder(spec: JobSpec) -> Path:
        return Path(spec.logs_folder)

    def progress(self, job: JobRow, counts: Counts, now: float) -> None:
        path = self._overview.get(job.spec.name)
        if path is None:
            stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(now))
            path = self._overview[job.spec.name] = (
                self.folder(job.spec) / f"job_progress_overview.{stamp}.txt"
            )
            path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as out:
            out.write(progress_line(job, counts, now))

    def final(
        self,
        job: JobRow,
        counts: Counts,
        batches: Sequence[MiniBatchRow],
        attempts: Sequence[AttemptRow],
        now: float,
    ) -> None:
        folder = self.folder(job.spec)
        failed = [b for b in batches if b.state == "failed"]
        self.progress(job, counts, now)
        write_atomic(
            folder / "sys" / "job_report" / "processed_mini-batches.csv", report_csv(attempts, batches)
        )
        if failed:
            write_atomic(folder / "job_error.txt", error_text(failed))
        write_atomic(folder / "job_result.txt", result_text(job, counts, failed))
        self._overview.pop(job.spec.name, None)
