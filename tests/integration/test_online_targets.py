"""An online endpoint on the real Kubernetes cluster (the one `make test` bootstraps, or KUBECONFIG's).

Pods pull images the target pushed to the cluster's registry; requests go through the router's
NodePort; traffic changes apply in place; Kubernetes replaces a killed pod; an autoscaler is made
for `target_utilization`; a failing score.py fails the update with its log.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.load import Load
from tests.integration.pulumi_stack import REPO, PulumiCommandError, TempStack
from tests.integration.scoring import post_score

pytestmark = pytest.mark.integration
ENDPOINT = "it-k8s"
NAMESPACE = f"mle-{ENDPOINT}"
SMALL = {"requests": {"cpu": "0.1", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}


def kubectl(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", *args], capture_output=True, text=True, check=check, timeout=60)


def _require_cluster() -> None:
    missing = [
        v for v in ("KUBECONFIG", "MLENDPOINTS_REGISTRY", "MLENDPOINTS_NODE_ADDRESS") if not os.environ.get(v)
    ]
    if missing or shutil.which("kubectl") is None:
        raise AssertionError(
            f"no cluster set up ({', '.join(missing) or 'kubectl'}): run the tests with `make test`"
        )
    kubectl("get", "nodes")


def _deployment(name: str, root: Path, count: int, **more: Any) -> dict[str, Any]:
    return {
        "$schema": "https://azuremlschemas.azureedge.net/latest/kubernetesOnlineDeployment.schema.json",
        "name": name,
        "type": "kubernetes",
        "endpoint_name": ENDPOINT,
        "model": {"path": str(root / f"model-{name}" / "model")},
        "code_configuration": {
            "code": str(root / f"model-{name}" / "onlinescoring"),
            "scoring_script": "score.py",
        },
        "environment": {
            "conda_file": str(root / f"model-{name}" / "environment" / "conda.yaml"),
            "image": "mlendpoints/base:bookworm-py311",
        },
        "instance_type": "defaultinstancetype",
        "instance_count": count,
        "resources": SMALL,
        **more,
    }


def _config(
    root: Path, traffic: dict[str, int], mirror: dict[str, int] | None = None, **extra: Any
) -> dict[str, Any]:
    endpoint: dict[str, Any] = {
        "$schema": "https://azuremlschemas.azureedge.net/latest/kubernetesOnlineEndpoint.schema.json",
        "name": ENDPOINT,
        "auth_mode": "key",
        "traffic": traffic,
    }
    if mirror:
        endpoint["mirror_traffic"] = mirror
    deployments = [_deployment("blue", root, 2), _deployment("green", root, 1)]
    deployments += extra.get("more", [])
    return {
        "mlendpoints:target": "kubernetes",
        "mlendpoints:serving": {"endpoints": [endpoint], "deployments": deployments},
        "mlendpoints:quota": {"total_cores": 16, "total_memory_gb": 64},
    }


def _reconfigure(stack: TempStack, config: dict[str, Any]) -> None:
    current = yaml.safe_load(stack.config_file.read_text()) or {}
    salt = {k: v for k, v in current.items() if k == "encryptionsalt"}
    stack.config_file.write_text(json.dumps({"config": config, **salt}, indent=2))


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    for name in ("blue", "green"):
        shutil.copytree(REPO / "examples" / "online" / f"model-{name}", root / f"model-{name}")
    return root


@pytest.fixture(scope="module")
def stack(models: Path) -> Iterator[TempStack]:
    _require_cluster()
    # An interrupted earlier run (its stack state gone with its temporary stack) may have left the
    # namespace: its objects would conflict with this stack's (server-side apply field managers).
    kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=true", "--timeout=50s")
    created = TempStack.create(_config(models, {"blue": 70, "green": 30}))
    try:
        planned = created.preview()
        assert planned["_returncode"] == 0, planned["_stderr"]
        kinds = Counter(s["newState"]["type"] for s in planned["steps"] if s["op"] == "create")
        assert kinds["kubernetes:apps/v1:Deployment"] == 3  # blue, green, the router
        created.up()
        yield created
    finally:
        created.destroy_and_remove()
    gone = kubectl("get", "namespace", NAMESPACE, check=False)
    assert gone.returncode != 0 or "Terminating" in gone.stdout, gone.stdout


@pytest.fixture(scope="module")
def endpoint(stack: TempStack) -> tuple[str, str]:
    out = stack.outputs(show_secrets=True)
    return out[f"{ENDPOINT}.scoring_uri"], out[f"{ENDPOINT}.primary_key"]


def _uids(kind: str) -> dict[str, str]:
    found = json.loads(kubectl("-n", NAMESPACE, "get", kind, "-o", "json").stdout)["items"]
    return {item["metadata"]["name"]: item["metadata"]["uid"] for item in found}


def test_a_second_preview_has_nothing_to_do(stack: TempStack) -> None:
    again = stack.preview("--expect-no-changes")
    changed = [(s["op"], s["urn"].rsplit("::", 1)[-1]) for s in again["steps"] if s["op"] != "same"]
    assert again["_returncode"] == 0, changed


def test_split_header_routing_and_auth(endpoint: tuple[str, str]) -> None:
    uri, key = endpoint
    seen = Counter(post_score(uri, key)[1]["model"] for _ in range(2000))
    assert set(seen) == {"blue", "green"}
    assert abs(seen["blue"] / 2000 - 0.70) <= 0.03, seen
    assert post_score(uri, key, "green")[1]["model"] == "green"
    status, body = post_score(uri, None)
    assert status == 401 and "key" in body["message"]
    status, body = post_score(uri, key, "purple")
    assert status == 404 and "blue" in body["message"]


def test_traffic_and_mirror_change_in_place(
    stack: TempStack, endpoint: tuple[str, str], models: Path
) -> None:
    before = {**_uids("deployments"), **_uids("pods")}
    _reconfigure(stack, _config(models, {"blue": 100, "green": 0}, mirror={"green": 50}))
    planned = stack.preview()
    replaced = [s["urn"] for s in planned["steps"] if s["op"] in ("replace", "create-replacement")]
    assert replaced == [], replaced
    stack.up()  # returns once the router serves the new split
    assert {**_uids("deployments"), **_uids("pods")} == before  # no pod restarted, none replaced
    uri, key = endpoint
    green_pod = next(name for name in _uids("pods") if name.startswith(f"{ENDPOINT}-green-"))

    def green_requests() -> int:
        logs = kubectl("-n", NAMESPACE, "logs", green_pod).stdout
        return sum(1 for line in logs.splitlines() if '"path": "/score"' in line)

    counted = green_requests()
    assert {post_score(uri, key)[1]["model"] for _ in range(40)} == {"blue"}
    for _ in range(50):  # mirrored copies are sent after the live answers
        if green_requests() - counted >= 5:
            break
        time.sleep(0.2)
    assert green_requests() - counted >= 5


def test_a_killed_pod_is_replaced_and_serving_goes_on(stack: TempStack, endpoint: tuple[str, str]) -> None:
    victim = next(name for name in _uids("pods") if name.startswith(f"{ENDPOINT}-blue-"))
    with Load(*endpoint, deployment="blue") as load:
        time.sleep(1.0)
        moment = time.monotonic()
        kubectl("-n", NAMESPACE, "delete", "pod", victim, "--grace-period=0", "--force", "--wait=false")
        back, failed = load.recovery_after(moment, deadline_s=60)
    total = len(load.results)
    print(f"\nblue pod killed: serving again after {back:.2f} s; {failed} of {total} requests failed")
    deadline = time.monotonic() + 120
    while True:
        pods = json.loads(
            kubectl(
                "-n", NAMESPACE, "get", "pods", "-l", "io.mlendpoints.deployment=blue", "-o", "json"
            ).stdout
        )
        ready = [
            p["metadata"]["name"]
            for p in pods["items"]
            if all(c.get("ready") for c in p["status"].get("containerStatuses") or [{}])
            and p["metadata"].get("deletionTimestamp") is None
        ]
        if len(ready) == 2 and victim not in ready:
            break
        assert time.monotonic() < deadline, ready
        time.sleep(1)


def test_target_utilization_makes_an_autoscaler(stack: TempStack, models: Path) -> None:
    shutil.copytree(models / "model-blue", models / "model-teal", dirs_exist_ok=True)
    teal = _deployment(
        "teal",
        models,
        1,
        scale_settings={"type": "target_utilization", "min_instances": 1, "max_instances": 3,
                        "target_utilization_percentage": 65},
    )  # fmt: skip
    del teal["instance_count"]
    _reconfigure(stack, _config(models, {"blue": 100, "green": 0}, more=[teal]))
    stack.up()
    hpa = json.loads(kubectl("-n", NAMESPACE, "get", "hpa", f"{ENDPOINT}-teal", "-o", "json").stdout)
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 3)
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 65
    assert hpa["spec"]["scaleTargetRef"]["name"] == f"{ENDPOINT}-teal"


def test_a_failing_score_script_fails_the_update_with_its_log(stack: TempStack, models: Path) -> None:
    shutil.copytree(models / "model-blue", models / "model-red", dirs_exist_ok=True)
    score = models / "model-red" / "onlinescoring" / "score.py"
    score.write_text(
        score.read_text().replace(
            "def init():",
            "def init():\n    raise RuntimeError('red refuses to start')\n\n\ndef _unused():",
            1,
        )
    )
    red = _deployment("red", models, 1)
    _reconfigure(stack, _config(models, {"blue": 100, "green": 0}, more=[red]))
    with pytest.raises(PulumiCommandError) as failed:
        stack.up()
    text = str(failed.value)
    assert "the scoring script failed" in text and "red refuses to start" in text, text[-3000:]
    _reconfigure(stack, _config(models, {"blue": 100, "green": 0}))
    stack.up()  # and the next update can finish
