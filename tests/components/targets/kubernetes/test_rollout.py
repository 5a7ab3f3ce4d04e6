"""The rollout waiter's judgement of a pod, with kubectl replaced by recorded answers."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from components.targets.kubernetes import rollout

# Props as the engine hands them back to the dynamic provider: numbers are floats.
PROPS: dict[str, Any] = {"namespace": "mle-e", "port": 5001.0, "kubeconfig": "", "context": ""}


def _pod(state: dict[str, Any], ready: bool = False) -> dict[str, Any]:
    return {
        "metadata": {"name": "e-red-1"},
        "status": {"containerStatuses": [{"ready": ready, "state": state}]},
    }


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    seen: list[tuple[str, ...]] = []

    def kubectl(_props: dict[str, Any], *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        seen.append(args)
        failed = args[-2:] == ("5001", "/readyz")  # only a well-formed probe reports the failure
        body = '{"message": "init() raised RuntimeError: no"}' if failed else "usage"
        return subprocess.CompletedProcess(list(args), rollout.FAILED if failed else 2, body, "")

    monkeypatch.setattr(rollout, "kubectl", kubectl)
    return seen


def test_a_running_pod_whose_script_failed_is_reported(calls: list[tuple[str, ...]]) -> None:
    reason = rollout._why_not(PROPS, _pod({"running": {"startedAt": "2026-12-01T23:23:27Z"}}))
    assert reason == "pod e-red-1: the scoring script failed: init() raised RuntimeError: no"
    assert calls[0][-4:] == ("serving.probe", "--readiness", "5001", "/readyz")


def test_a_crash_loop_is_reported_without_asking_the_pod(calls: list[tuple[str, ...]]) -> None:
    state = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s"}}
    assert rollout._why_not(PROPS, _pod(state)) == "pod e-red-1: CrashLoopBackOff: back-off 10s"
    assert calls == []


def test_a_ready_or_starting_pod_may_still_get_there(calls: list[tuple[str, ...]]) -> None:
    assert (
        rollout._why_not(PROPS, _pod({"running": {"startedAt": "2026-12-01T23:23:27Z"}}, ready=True)) is None
    )
    assert rollout._why_not(PROPS, _pod({"waiting": {"reason": "ContainerCreating"}})) is None
    assert calls == []


def test_kubeconfig_and_context_come_before_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []

    def run(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        seen.append(command)
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(rollout.subprocess, "run", run)
    props = {**PROPS, "kubeconfig": "/k/config", "context": "c1"}
    rollout.kubectl(props, "-n", "mle-e", "exec", "e-red-1", "--", "python", "-m", "serving.probe")
    # After `exec POD --` every word is the pod command's: flags there would reach the probe.
    flags = ["--kubeconfig", "/k/config", "--context", "c1"]
    assert seen == [
        ["kubectl", *flags, "-n", "mle-e", "exec", "e-red-1", "--", "python", "-m", "serving.probe"]
    ]


def test_a_pod_the_scheduler_cannot_place_says_why() -> None:
    pod = {
        "metadata": {"name": "e-red-1"},
        "status": {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/1 nodes are available: 1 Insufficient cpu.",
                }
            ],
        },
    }
    assert rollout.waiting_for(pod) == (
        "pod e-red-1 is not scheduled: Unschedulable: 0/1 nodes are available: 1 Insufficient cpu."
    )
    pulling = _pod({"waiting": {"reason": "ContainerCreating"}})
    assert rollout.waiting_for(pulling) == "pod e-red-1 is waiting: ContainerCreating"
    assert rollout.waiting_for(_pod({"running": {}}, ready=True)) is None


def test_the_timeout_names_what_the_pods_wait_for(monkeypatch: pytest.MonkeyPatch) -> None:
    pending = {
        "metadata": {"name": "e-red-1"},
        "status": {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                   "message": "0/1 nodes are available: 1 Insufficient cpu."}]},
    }  # fmt: skip

    def kubectl(_props: dict[str, Any], *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        if "rollout" in args:
            return subprocess.CompletedProcess(
                list(args), 1, "", "error: timed out waiting for the condition"
            )
        return subprocess.CompletedProcess(list(args), 0, json.dumps({"items": [pending]}), "")

    monkeypatch.setattr(rollout, "kubectl", kubectl)
    monkeypatch.setattr(rollout.time, "sleep", lambda _s: None)
    clock = iter(range(1000))
    monkeypatch.setattr(rollout.time, "monotonic", lambda: float(next(clock)))
    props = {**PROPS, "deployment": "e-red", "selector": {"app": "e-red"}, "timeout_s": 3.0}
    with pytest.raises(rollout.RolloutError) as failed:
        rollout.wait(props)
    assert str(failed.value) == (
        "deployment e-red not ready within 3s: pod e-red-1 is not scheduled: Unschedulable: "
        "0/1 nodes are available: 1 Insufficient cpu."
    )
