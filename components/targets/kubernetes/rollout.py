"""Waiting for a deployment's rollout, and failing fast with the script's log when it cannot succeed.

pulumi-kubernetes would wait up to ten minutes for pods whose score.py raised in init(); the scorer
says so on its readiness route (`x-ms-scorer-state: failed`), so this waiter asks each pod that is
not ready (serving.probe --readiness, inside the pod), and fails the update with the last lines of
that pod's log, as the local target does. kubectl (on PATH after `source scripts/env`) talks to
the cluster the kubeconfig names.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

FAILED = 3
CRASHING = frozenset(
    {"CrashLoopBackOff", "ErrImagePull", "ImagePullBackOff", "CreateContainerError", "InvalidImageName"}
)


class RolloutError(RuntimeError):
    """The rollout cannot succeed; the message says why and shows the pod's log."""


def kubectl(props: dict[str, Any], *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    # Global flags first: after `exec POD --` they would be the command's own arguments.
    command = ["kubectl"]
    if props.get("kubeconfig"):
        command += ["--kubeconfig", props["kubeconfig"]]
    if props.get("context"):
        command += ["--context", props["context"]]
    command += args
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise RolloutError(
            "kubectl is not on PATH: `source scripts/env` (the bootstrap installs it)"
        ) from None


def pods(props: dict[str, Any]) -> list[dict[str, Any]]:
    selector = ",".join(f"{k}={v}" for k, v in sorted(props["selector"].items()))
    done = kubectl(props, "-n", props["namespace"], "get", "pods", "-l", selector, "-o", "json")
    if done.returncode != 0:
        return []
    return list(json.loads(done.stdout).get("items") or [])


def _tail(props: dict[str, Any], pod: str) -> str:
    done = kubectl(props, "-n", props["namespace"], "logs", pod, "--tail", "30")
    return (done.stdout or done.stderr).strip()


def _why_not(props: dict[str, Any], pod: dict[str, Any]) -> str | None:
    """Why this pod will never be ready (None: it may still get there)."""
    name = pod["metadata"]["name"]
    for status in pod.get("status", {}).get("containerStatuses") or []:
        waiting = (status.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in CRASHING:
            why = waiting.get("message") or "the container keeps exiting"
            return f"pod {name}: {waiting.get('reason')}: {why}"
        if status.get("ready"):
            return None
        if (status.get("state") or {}).get("running"):
            probe = kubectl(
                props,
                "-n",
                props["namespace"],
                "exec",
                name,
                "--",
                "python",
                "-m",
                "serving.probe",
                "--readiness",
                # Numbers come back from the engine as floats: "5001.0" would be a usage error.
                str(int(props["port"])),
                "/readyz",
            )
            if probe.returncode == FAILED:
                return f"pod {name}: the scoring script failed: {_message(probe.stdout)}"
    return None


def waiting_for(pod: dict[str, Any]) -> str | None:
    """What a not-ready pod waits for, as the scheduler or kubelet says it (None: nothing said)."""
    name = pod["metadata"]["name"]
    status = pod.get("status", {})
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return f"pod {name} is not scheduled: {condition.get('reason')}: {condition.get('message')}"
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting and not container.get("ready"):
            return f"pod {name} is waiting: {waiting.get('reason')}: {waiting.get('message') or ''}".rstrip(
                ": "
            )
    return None


def _message(body: str) -> str:
    try:
        return str(json.loads(body)["message"])
    except (ValueError, KeyError, TypeError):
        return body.strip()


def wait(props: dict[str, Any]) -> None:
    """Until the Deployment's new pods are all ready; RolloutError as soon as one cannot be."""
    deadline = time.monotonic() + float(props["timeout_s"])
    target = f"deployment/{props['deployment']}"
    last = "no answer yet"
    waiting: list[str] = []
    while time.monotonic() < deadline:
        done = kubectl(props, "-n", props["namespace"], "rollout", "status", target, "--timeout=5s")
        if done.returncode == 0:
            return
        last = (done.stderr or done.stdout).strip() or last
        waiting = []
        for pod in pods(props):
            reason = _why_not(props, pod)
            if reason is not None:
                raise RolloutError(
                    f"deployment {props['deployment']} did not become ready: {reason}. Last log lines:\n"
                    + _tail(props, pod["metadata"]["name"])
                )
            waiting += [w for w in [waiting_for(pod)] if w]
        time.sleep(1)
    # Why it is still waiting, as the cluster says (e.g. 0/1 nodes are available: 1 Insufficient cpu).
    why = "; ".join(waiting) or last
    raise RolloutError(f"deployment {props['deployment']} not ready within {props['timeout_s']:.0f}s: {why}")


class _RolloutProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        wait(props)
        return CreateResult(id_=f"{props['namespace']}/{props['deployment']}", outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in ("namespace", "deployment", "revision") if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        wait(news)
        return UpdateResult(outs=news)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_=id_, outs=props)


class RolloutReady(Resource):
    """Completes once the Deployment's pods for `revision` (what the pod template depends on) are ready."""

    def __init__(
        self,
        resource_name: str,
        namespace: pulumi.Input[str],
        deployment: str,
        selector: dict[str, str],
        revision: pulumi.Input[str],
        timeout_s: float,
        port: int,
        kubeconfig: str | None = None,
        context: str | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "namespace": namespace,
            "deployment": deployment,
            "selector": selector,
            "revision": revision,
            "timeout_s": timeout_s,
            "port": port,
            "kubeconfig": kubeconfig or os.environ.get("KUBECONFIG", ""),
            "context": context or "",
        }
        super().__init__(_RolloutProvider(), resource_name, props, opts)
