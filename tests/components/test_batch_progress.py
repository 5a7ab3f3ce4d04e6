"""Waiting for a batch job: the progress bar, and riding out (or giving up on) controller outages."""

from __future__ import annotations

import io
from typing import Any

import pytest

from components.batch_jobs_api import ControllerDown
from components.batch_progress import Progress, wait_for_job


def _job(status: str, succeeded: int, failed: int, total: int, rows: int, name: str = "j") -> dict[str, Any]:
    return {
        "name": name,
        "properties": {
            "status": status,
            "progress": {
                "miniBatches": {"total": total, "succeeded": succeeded, "failed": failed},
                "rows": rows,
            },
        },
    }


def test_progress_draws_settled_of_total_with_failed_and_rows() -> None:
    out = io.StringIO()
    progress = Progress(out)
    progress.update(_job("Queued", 0, 0, 4, 0))
    progress.update(_job("Queued", 0, 0, 4, 0))  # unchanged, not a terminal: not drawn again
    progress.update(_job("Running", 1, 1, 4, 50))
    progress.update(_job("Running", 1, 1, 4, 50), note="controller not answering, retrying")
    progress.update(_job("Completed", 3, 1, 4, 150))
    progress.close()
    frames = [f.strip() for f in out.getvalue().split("\r") if f.strip()]
    assert frames[0].startswith("Queued:   0%|") and "0/4 mini-batches" in frames[0]
    assert "failed=0, rows=0" in frames[0]
    assert len([f for f in frames if f.startswith("Queued")]) == 1
    running = [f for f in frames if f.startswith("Running")]
    assert "2/4 mini-batches" in running[0] and "failed=1, rows=50]" in running[0]
    assert running[1].endswith("failed=1, rows=50, controller not answering, retrying]")
    assert frames[-1].startswith("Completed: 100%|") and "4/4 mini-batches" in frames[-1]
    assert "failed=1, rows=150]" in frames[-1] and "/s" in frames[-1]  # tqdm's rate
    assert out.getvalue().endswith("\n")


class _ScriptedApi:
    """Answers GET /jobs/<name> from a script: a job dict, or an exception to raise."""

    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers

    def job(self, name: str) -> dict[str, Any]:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        result: dict[str, Any] = answer
        return result


def test_wait_rides_out_a_short_controller_outage_and_returns_the_ended_job() -> None:
    down = ControllerDown("the batch controller of b does not answer")
    api = _ScriptedApi(
        [
            _job("Running", 0, 0, 2, 0),
            down,
            down,
            _job("Running", 1, 0, 2, 10),
            _job("Completed", 2, 0, 2, 20),
        ]
    )
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    out = io.StringIO()
    job = wait_for_job(api, "j", out, interval=0.5, grace=5, sleep=sleep, clock=lambda: now[0])  # type: ignore[arg-type]
    assert job["properties"]["status"] == "Completed" and sleeps == [0.5] * 4
    assert "controller not answering, retrying" in out.getvalue()


def test_wait_gives_up_when_the_controller_stays_away() -> None:
    down = ControllerDown("the batch controller of b does not answer")
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    api = _ScriptedApi([_job("Running", 0, 0, 2, 0), *[down] * 20])
    with pytest.raises(ControllerDown):
        wait_for_job(api, "j", io.StringIO(), interval=1, grace=3, sleep=sleep, clock=lambda: now[0])  # type: ignore[arg-type]
