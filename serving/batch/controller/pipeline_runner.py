"""The scheduler's pass over pipeline jobs: start the steps that may start as the agent's step
containers, record how the running ones ended, and end the job when its steps are settled.

Every decision is made from the store and the agent's view, so a restarted controller picks up
where it was: a step that runs is found again by its job and step labels (the agent starts one
container per job and step), one that ended while nobody watched is read from its exit code.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

from serving.batch.commands import CommandError
from serving.batch.controller.agent import Agent, StepInfo
from serving.batch.controller.errors import AgentError
from serving.batch.controller.jobs import JobSpec
from serving.batch.controller.pipeline_runs import (
    SETTLED,
    StepState,
    blocked,
    outcome,
    output_folders,
    ready,
    step_command,
)
from serving.batch.controller.step_store import StepRow, StepStore
from serving.batch.controller.store import Store
from serving.batch.controller.store_rows import JobRow

log = logging.getLogger("serving.batch.controller")
_ENDED = frozenset({"exited", "dead"})


def step_log(spec: JobSpec, step: str) -> str:
    """Where a step's stdout and stderr go, beside the job's other logs (Azure: one std_log per step)."""
    return os.path.join(spec.logs_folder, "steps", step, "std_log.txt")


class PipelineRunner:
    def __init__(
        self, store: Store, steps: StepStore, agent: Agent | None, clock: Callable[[], float] = time.time
    ) -> None:
        self.store, self.steps, self.agent, self.clock = store, steps, agent, clock

    def tick(self) -> None:
        # Every scheduler pass: only the pipeline jobs still open, not every canceled job ever.
        for job in self.store.open_pipeline_jobs():
            self.advance(job)

    def advance(self, job: JobRow) -> None:
        spec, now = job.spec, self.clock()
        assert spec.pipeline is not None
        config = spec.pipeline.config
        rows = {row.name: row for row in self.steps.steps(spec.name)}
        if self.agent is None:
            self._end(job, "Failed", "this controller has no agent to start pipeline steps with", rows)
            return
        try:
            running = {info.step: info for info in self.agent.steps(spec.name)}
        except AgentError as exc:
            log.warning("job %s: steps not checked: %s", spec.name, exc)
            return
        for name, row in rows.items():
            if row.state == "running":
                self._check(spec, row, running.get(name), now)
        if job.status == "Canceled":
            self._cancel(job, rows, running)
            return
        rows = {row.name: row for row in self.steps.steps(spec.name)}
        states: dict[str, StepState] = {name: row.state for name, row in rows.items()}
        for name in blocked(config, states):
            self.steps.ended(spec.name, name, "skipped", now, error="a step it reads from did not complete")
            states[name] = "skipped"
        failed = any(state == "failed" for state in states.values())
        if not failed or config.continue_on_step_failure:
            for name in ready(config, states):
                states[name] = self._start(spec, name, now)
        result = outcome(config, states)
        if result != "Running":
            self._end(job, result, None, {row.name: row for row in self.steps.steps(spec.name)})

    def _check(self, spec: JobSpec, row: StepRow, info: StepInfo | None, now: float) -> None:
        """A running step that ended: completed on exit code 0, else failed (its log says why)."""
        assert self.agent is not None
        if info is not None and info.status not in _ENDED:
            return
        if info is None:
            error = "its container is gone (removed or lost with the engine) before it ended"
            self.steps.ended(spec.name, row.name, "failed", now, None, error)
            log.warning("job %s step %s: %s", spec.name, row.name, error)
            return
        code = info.exit_code
        if code == 0:
            self.steps.ended(spec.name, row.name, "completed", now, 0)
            log.info("job %s step %s completed", spec.name, row.name)
        else:
            error = f"its command exited with code {code}; see {step_log(spec, row.name)}"
            self.steps.ended(spec.name, row.name, "failed", now, code, error)
            log.warning("job %s step %s failed: %s", spec.name, row.name, error)
        try:
            self.agent.remove_step(info.name)
        except AgentError as exc:  # the next pass tries again: the step's outcome is recorded already
            log.warning("job %s step %s: container not removed: %s", spec.name, row.name, exc)

    def _start(self, spec: JobSpec, name: str, now: float) -> StepState:
        assert self.agent is not None and spec.pipeline is not None
        run = spec.pipeline
        try:
            command = step_command(run.config, name, run.values, spec.job_folder)
        except CommandError as exc:
            self.steps.ended(spec.name, name, "failed", now, error=f"its command cannot be filled in: {exc}")
            return "failed"
        log_file = step_log(spec, name)
        try:
            for folder in [os.path.dirname(log_file), *output_folders(run.config, name, spec.job_folder)]:
                os.makedirs(folder, exist_ok=True)
        except OSError as exc:
            self.steps.ended(spec.name, name, "failed", now, error=f"its folders cannot be created: {exc}")
            return "failed"
        try:
            container = self.agent.run_step(spec.deployment, name, spec.name, command, log_file)
        except AgentError as exc:  # the cluster is full, or the engine is busy: the next pass tries again
            log.info("job %s step %s not started yet: %s", spec.name, name, exc)
            return "waiting"
        self.steps.started(spec.name, name, container, now)
        log.info("job %s step %s started (%s)", spec.name, name, container)
        return "running"

    def _cancel(self, job: JobRow, rows: dict[str, StepRow], running: dict[str, StepInfo]) -> None:
        assert self.agent is not None
        now = self.clock()
        for name, row in rows.items():
            if row.state in SETTLED:
                continue
            info = running.get(name)
            if info is not None:
                try:
                    self.agent.remove_step(info.name)
                except AgentError as exc:
                    log.warning("job %s step %s: not stopped yet: %s", job.spec.name, name, exc)
                    return  # the next pass tries again before the job is closed
            self.steps.ended(job.spec.name, name, "canceled", now, error="the job was canceled")
        self._end(job, "Canceled", job.error, {row.name: row for row in self.steps.steps(job.spec.name)})

    def _end(self, job: JobRow, status: str, error: str | None, rows: dict[str, StepRow]) -> None:
        spec, now = job.spec, self.clock()
        for name, row in rows.items():
            if row.state == "waiting":  # the job stopped before they could start
                self.steps.ended(spec.name, name, "skipped", now, error=f"the job {status.lower()} first")
        rows = {row.name: row for row in self.steps.steps(spec.name)}
        if status == "Failed" and error is None:
            failed = [f"{name}: {row.error}" for name, row in rows.items() if row.state == "failed"]
            skipped = [name for name, row in rows.items() if row.state == "skipped"]
            error = "; ".join(f"step {line}" for line in failed) or "not every step completed"
            if skipped:
                error += f"; not run: {', '.join(skipped)}"
        try:
            os.makedirs(spec.logs_folder, exist_ok=True)
            lines = [f"{spec.name}: {status}" + (f": {error}" if error else "")]
            lines += [
                f"step {name}: {row.state}" + (f" ({row.error})" if row.error else "")
                for name, row in rows.items()
            ]
            with open(os.path.join(spec.logs_folder, "job_result.txt"), "w", encoding="utf-8") as handle:
                handle.write("\n".join(lines) + "\n")
        except OSError as exc:
            log.error("job %s: its result could not be written: %s", spec.name, exc)
        self.store.finish(spec.name, status, error, now)
        log.info("job %s %s", spec.name, status.lower())
