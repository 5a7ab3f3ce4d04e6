"""What an endpoint's pods are doing on the cluster (for `mle show` and `mle logs`), through kubectl."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from typing import Any

from components.targets.kubernetes import plan


@dataclass(frozen=True)
class PodState:
    name: str
    deployment: str | None  # None for the router
    summary: str  # running/ready, running/not ready, pending, ...
    restarts: int
    started_at: str


def pod_state(item: dict[str, Any]) -> PodState:
    labels = item["metadata"].get("labels") or {}
    status = item.get("status") or {}
    containers = status.get("containerStatuses") or []
    phase = str(status.get("phase") or "unknown").lower()
    waiting = next(
        (
            (c.get("state") or {}).get("waiting") or {}
            for c in containers
            if (c.get("state") or {}).get("waiting")
        ),
        {},
    )
    if item["metadata"].get("deletionTimestamp"):
        summary = "terminating"
    elif waiting.get("reason"):
        summary = str(waiting["reason"])
    elif phase == "running":
        summary = (
            "running/ready" if containers and all(c.get("ready") for c in containers) else "running/not ready"
        )
    else:
        summary = phase
    return PodState(
        name=item["metadata"]["name"],
        deployment=labels.get("io.mlendpoints.deployment"),
        summary=summary,
        restarts=sum(int(c.get("restartCount") or 0) for c in containers),
        started_at=str(status.get("startTime") or ""),
    )


def endpoint_pods(endpoint: str) -> list[PodState] | None:
    """The endpoint's pods now; None when the cluster does not answer (or kubectl is missing)."""
    try:
        done = subprocess.run(
            ["kubectl", "-n", plan.namespace(endpoint), "get", "pods", "-o", "json"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return [pod_state(item) for item in json.loads(done.stdout).get("items") or []]


def logs_command(endpoint: str, deployment: str | None, tail: int) -> list[str]:
    """kubectl logs of a deployment's pods (or the router's), each line prefixed with its pod."""
    selector = (
        f"io.mlendpoints.endpoint={endpoint},io.mlendpoints.deployment={deployment}"
        if deployment
        else f"io.mlendpoints.endpoint={endpoint},io.mlendpoints.role=router"
    )
    return [
        "kubectl",
        "-n",
        plan.namespace(endpoint),
        "logs",
        "-l",
        selector,
        "--prefix",
        "--tail",
        str(tail),
    ]


def pod_logs_command(endpoint: str, pod: str, tail: int) -> list[str]:
    """kubectl logs of one of the endpoint's pods."""
    return ["kubectl", "-n", plan.namespace(endpoint), "logs", pod, "--prefix", "--tail", str(tail)]
