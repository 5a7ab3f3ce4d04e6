"""A pipeline job as `mle batch show`, `invoke --wait`, `mle batch list` and `mle batch logs` print it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from components.batch_describe import describe_job, jobs_table, outcome_lines
from components.batch_job_files import log_files
from components.endpoint_cli import CliError

URI = "azureml://datastores/workspaceblobstore/paths/azureml/job-1/"


def _job(status: str = "Failed") -> dict[str, Any]:
    return {
        "name": "job-1",
        "properties": {
            "status": status,
            "deploymentName": "prep-score",
            "creationTime": "2026-12-02T08:00:00Z",
            "startTime": "2026-12-02T08:00:01Z",
            "endTime": "2026-12-02T08:00:09Z",
            "inputData": {
                "input_data": {"jobInputType": "UriFolder", "uri": "azureml://datastores/data/paths/heart/"},
                "score_mode": {"jobInputType": "Literal", "value": "append"},
            },
            "outputData": {"scores": {"jobOutputType": "UriFolder", "uri": URI + "scores/"}},
            "steps": {
                "prepare": {
                    "status": "failed",
                    "startTime": "2026-12-02T08:00:01Z",
                    "endTime": "2026-12-02T08:00:05Z",
                    "exitCode": 4,
                    "error": "its command exited with code 4",
                    "logUri": URI + "logs/steps/prepare/std_log.txt",
                },
                "score": {
                    "status": "skipped",
                    "exitCode": None,
                    "error": None,
                    "logUri": URI + "logs/steps/score/std_log.txt",
                },
            },
            "error": {
                "code": "JobFailed",
                "message": "step prepare: its command exited with code 4; not run: score",
            },
        },
    }


def test_show_prints_inputs_outputs_and_each_step(tmp_path: Path) -> None:
    folders = {"workspaceblobstore": tmp_path / "ws", "data": tmp_path / "data"}
    text = "\n".join(describe_job(_job(), folders))
    assert "deployment:   prep-score (pipeline)" in text
    assert "steps:        2 steps: 1 failed, 1 skipped" in text
    assert "input:        score_mode (Literal) append" in text
    assert f"host: {tmp_path / 'ws' / 'azureml' / 'job-1' / 'scores'}" in text
    assert "step prepare: failed (exit code 4)" in text and "step score: skipped" in text
    assert str(tmp_path / "ws" / "azureml" / "job-1" / "logs" / "steps" / "prepare" / "std_log.txt") in text
    ended = outcome_lines(_job(), folders)
    assert ended[0] == "job job-1: Failed in 8.0 s" and ended[-1] == "logs: scripts/mle batch logs job-1"
    assert (
        jobs_table([_job("Completed")])[1].split()[-2:] == ["steps", "0/2"]
        or "steps 0/2" in jobs_table([_job()])[1]
    )


def test_logs_include_each_step_s_log_in_the_order_they_ran(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    for step, when in (("score", 200), ("prepare", 100)):
        path = logs / "steps" / step / "std_log.txt"
        path.parent.mkdir(parents=True)
        path.write_text(f"{step} ran\n")
        os.utime(path, (when, when))
    (logs / "job_result.txt").write_text("job-1: Completed\n")
    assert [p.relative_to(logs).as_posix() for p in log_files(logs)] == [
        "job_result.txt", "steps/prepare/std_log.txt", "steps/score/std_log.txt",
    ]  # fmt: skip
    assert [p.relative_to(logs).as_posix() for p in log_files(logs, step="score")] == [
        "job_result.txt", "steps/score/std_log.txt",
    ]  # fmt: skip
    with pytest.raises(
        CliError, match="no step 'nope' has a log in this job; steps with logs: prepare, score"
    ):
        log_files(logs, step="nope")
