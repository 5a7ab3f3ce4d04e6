"""Pipeline steps on request of the endpoint's controller: one container per step of a job, made from
the step's template `pulumi up` wrote (image, mounts, limits) with the command the controller filled in.

The controller chooses the command (the component's own, with the job's folders and literal inputs
in it, as Azure fills it) and the log file under the datastores; what the container is and what it
may touch comes from the template alone, as for nodes.
"""

from __future__ import annotations

import posixpath
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors

from serving.agent.containers import create_kwargs, spec_from_props
from serving.agent.engine import ENDPOINT_LABEL, MANAGED_LABEL, ROLE_LABEL
from serving.agent.nodes import (
    CLUSTER_LABEL,
    DEPLOYMENT_LABEL,
    TEMPLATE_LABEL,
    NodeError,
    live_on_cluster,
    load_templates,
    remove_container,
    template_digest,
)
from serving.batch.protocol import DATASTORES_ROOT

STEP_ROLE = "step"
JOB_LABEL = "io.mlendpoints.job"
STEP_LABEL = "io.mlendpoints.step"
# The step's log file (stdout and stderr) and code folder, as the step's shell finds them.
LOG_ENV = "MLE_STEP_LOG"
CODE_ENV = "MLE_STEP_CODE"
MAX_COMMAND = 64 * 1024


@dataclass(frozen=True)
class StepRun:
    """One step container: its job and step, and how it is doing (exit code once it has ended)."""

    name: str
    deployment: str
    job: str
    step: str
    status: str
    exit_code: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "deployment": self.deployment,
            "job": self.job,
            "step": self.step,
            "status": self.status,
            "exit_code": self.exit_code,
        }


def template_key(deployment: str, step: str) -> str:
    return f"{deployment}/{step}"


def _under_datastores(path: str) -> bool:
    normal = posixpath.normpath(path)
    return normal == path and normal.startswith(DATASTORES_ROOT + "/")


class StepManager:
    """Starts, lists and removes the endpoint's step containers."""

    def __init__(self, endpoint: str, templates_path: Path, client: Any = None) -> None:
        self.endpoint = endpoint
        self.templates_path = templates_path
        self.client = client or docker.from_env()
        self._lock = threading.Lock()

    def steps(self, job: str | None = None) -> list[StepRun]:
        labels = [f"{ENDPOINT_LABEL}={self.endpoint}", f"{ROLE_LABEL}={STEP_ROLE}", f"{MANAGED_LABEL}=true"]
        if job is not None:
            labels.append(f"{JOB_LABEL}={job}")
        found = []
        for summary in self.client.api.containers(all=True, filters={"label": labels}):
            tags = summary.get("Labels") or {}
            name = str((summary.get("Names") or ["?"])[0]).lstrip("/")
            status = str(summary.get("State") or "unknown")
            exit_code = None
            if status in ("exited", "dead"):
                exit_code = self._exit_code(name)
            found.append(
                StepRun(
                    name,
                    tags.get(DEPLOYMENT_LABEL, ""),
                    tags.get(JOB_LABEL, ""),
                    tags.get(STEP_LABEL, ""),
                    status,
                    exit_code,
                )
            )
        return sorted(found, key=lambda run: run.name)

    def _exit_code(self, name: str) -> int | None:
        try:
            state = self.client.api.inspect_container(name).get("State") or {}
        except docker.errors.NotFound:
            return None
        code = state.get("ExitCode")
        return int(code) if isinstance(code, int) else None

    def run(self, deployment: str, step: str, job: str, command: str, log_path: str) -> str:
        """Start the step's container (once per job and step: a repeated request gets the same one)."""
        if not command.strip() or len(command) > MAX_COMMAND:
            raise NodeError(f"the command must be 1 to {MAX_COMMAND} characters")
        if not _under_datastores(log_path):
            raise NodeError(f"the step's log must be a file under {DATASTORES_ROOT}/, got {log_path!r}")
        templates = load_templates(self.templates_path)
        template = templates.steps.get(template_key(deployment, step))
        if template is None:
            known = ", ".join(sorted(templates.steps)) or "none"
            raise NodeError(f"no step {step!r} of pipeline deployment {deployment!r} (steps: {known})", 404)
        with self._lock:
            for run in self.steps(job):
                if run.step == step and run.deployment == deployment:
                    return run.name
            live = live_on_cluster(self.client, template.cluster)
            if live >= template.max_instances:
                raise NodeError(
                    f"cluster {template.cluster} runs {live} of its max_instances {template.max_instances}: "
                    "the step starts when one ends",
                    409,
                )
            name = f"{self.endpoint}-{deployment}-{step}-{uuid.uuid4().hex[:8]}"[:120]
            props = dict(template.container)
            props["name"] = name
            shell = f'exec >>"${LOG_ENV}" 2>&1; cd "${CODE_ENV}" || exit 1\n{command}'
            props["command"] = ["/bin/sh", "-c", shell]
            props["env"] = {**(props.get("env") or {}), LOG_ENV: log_path}
            props["labels"] = {
                **(props.get("labels") or {}),
                ENDPOINT_LABEL: self.endpoint,
                DEPLOYMENT_LABEL: deployment,
                CLUSTER_LABEL: template.cluster,
                ROLE_LABEL: STEP_ROLE,
                TEMPLATE_LABEL: template_digest(template),
                JOB_LABEL: job,
                STEP_LABEL: step,
            }
            props["restart_policy"] = "no"
            props["publish"] = {}
            try:
                container = self.client.containers.create(**create_kwargs(spec_from_props(props)))
                container.start()
            except docker.errors.DockerException as exc:
                raise NodeError(f"step {step} of job {job} could not start: {exc}", status=503) from None
            return name

    def remove(self, name: str) -> None:
        if name not in {run.name for run in self.steps()}:
            raise NodeError(f"no step container {name!r} of endpoint {self.endpoint}", status=404)
        remove_container(self.client, name)
