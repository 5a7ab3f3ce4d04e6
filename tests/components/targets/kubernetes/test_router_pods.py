"""Every router pod is asked for the config it serves; kubectl is replaced by recorded answers."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from components.targets.kubernetes import router_pods

PROPS: dict[str, Any] = {
    "namespace": "mle-e",
    "selector": {"io.mlendpoints.endpoint": "e", "io.mlendpoints.role": "router"},
    "port": 8080.0,  # numbers come back from the engine as floats
    "digest": "new",
    "timeout_s": 2.0,
    "kubeconfig": "",
    "context": "",
}


def _pod(name: str, ready: bool = True, leaving: bool = False) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if leaving:
        metadata["deletionTimestamp"] = "2026-12-02T03:00:00Z"
    return {"metadata": metadata, "status": {"containerStatuses": [{"ready": ready}]}}


class FakeCluster:
    def __init__(self, pods: list[dict[str, Any]], serving: dict[str, list[str]]) -> None:
        self.pods = pods
        self.serving = serving  # pod -> the digests it reports, one per ask (the last one repeats)
        self.asked: list[tuple[str, ...]] = []

    def __call__(
        self, _props: dict[str, Any], *args: str, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        if "get" in args:
            return subprocess.CompletedProcess(list(args), 0, json.dumps({"items": self.pods}), "")
        self.asked.append(args)
        pod = args[args.index("exec") + 1]
        answers = self.serving[pod]
        digest = answers.pop(0) if len(answers) > 1 else answers[0]
        return subprocess.CompletedProcess(list(args), 0, digest + "\n", "")


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> FakeCluster:
    fake = FakeCluster([], {})
    monkeypatch.setattr(router_pods, "kubectl", fake)
    monkeypatch.setattr("components.targets.kubernetes.rollout.kubectl", fake)
    monkeypatch.setattr(router_pods.time, "sleep", lambda _s: None)
    return fake


def test_waits_until_every_live_pod_serves_the_digest(cluster: FakeCluster) -> None:
    cluster.pods = [_pod("r-1"), _pod("r-2"), _pod("r-3", leaving=True), _pod("r-4", ready=False)]
    cluster.serving = {"r-1": ["new"], "r-2": ["old", "old", "new"]}
    router_pods.wait_every_pod(PROPS)
    asked = [a[a.index("exec") + 1] for a in cluster.asked]
    assert asked.count("r-2") == 3 and "r-3" not in asked and "r-4" not in asked
    # asked inside the pod, on the router's port (an integer), for the config header
    assert cluster.asked[0][-2:] == ("8080", router_pods.CONFIG_HEADER)


def test_a_pod_that_never_applies_fails_the_update_naming_it(
    cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster.pods = [_pod("r-1"), _pod("r-2")]
    cluster.serving = {"r-1": ["new"], "r-2": ["old"]}
    clock = iter(range(0, 1000))
    monkeypatch.setattr(router_pods.time, "monotonic", lambda: float(next(clock)))
    with pytest.raises(RuntimeError) as failed:
        router_pods.wait_every_pod(PROPS)
    assert "{'r-2': 'old'}" in str(failed.value) and "r-1" not in str(failed.value)


def test_no_live_pod_is_not_success(cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster.pods = [_pod("r-1", ready=False)]
    clock = iter(range(0, 1000))
    monkeypatch.setattr(router_pods.time, "monotonic", lambda: float(next(clock)))
    with pytest.raises(RuntimeError, match="no live pod"):
        router_pods.wait_every_pod(PROPS)
