"""An online endpoint's life on the real engine and Docker: up, invoke, traffic, code, scale, destroy."""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.integration.fixtures.tiny_endpoint import local_stack
from tests.integration.pulumi_stack import REPO, TempStack
from tests.integration.scoring import post_score
from tests.integration.targets import scorer_deployment

pytestmark = pytest.mark.integration
ENDPOINT = "it-online"


def _deployment(name: str, root: Path, count: int, insights: bool = False) -> dict[str, Any]:
    return {
        **scorer_deployment(ENDPOINT, name, root),
        "app_insights_enabled": insights,
        "instance_type": "Standard_DS1_v2",
        "instance_count": count,
    }


def _config(
    root: Path,
    traffic: dict[str, int],
    mirror: dict[str, int] | None = None,
    blue: int = 1,
    blue_insights: bool = False,
) -> dict[str, Any]:
    endpoint: dict[str, Any] = {"name": ENDPOINT, "auth_mode": "key", "traffic": traffic}
    if mirror:
        endpoint["mirror_traffic"] = mirror
    return local_stack(
        {
            "endpoints": [endpoint],
            "deployments": [_deployment("blue", root, blue, blue_insights), _deployment("green", root, 1)],
        }
    )


def _containers() -> dict[str, str]:
    """container name -> id of this endpoint's scorer instances."""
    found = docker.from_env().containers.list(filters={"label": f"io.mlendpoints.endpoint={ENDPOINT}"})
    return {c.name: c.id for c in found if c.labels.get("io.mlendpoints.deployment")}


def _by_deployment(containers: dict[str, str], deployment: str) -> dict[str, str]:
    return {n: i for n, i in containers.items() if n.startswith(f"{ENDPOINT}-{deployment}-")}


def _request_lines(container: str) -> int:
    logs = docker.from_env().containers.get(container).logs().decode("utf-8", "replace")
    # The scorer writes one JSON line per request.
    return sum(1 for line in logs.splitlines() if '"path": "/score"' in line)


def _router_lines(container: str, deployment: str) -> int:
    logs = docker.from_env().containers.get(container).logs(stderr=False).decode("utf-8", "replace")
    # The router prints nginx's JSON request lines of deployments with app_insights_enabled.
    return sum(1 for line in logs.splitlines() if f'"deployment":"{deployment}"' in line)


def test_online_endpoint_lifecycle(tmp_path: Path) -> None:
    root = tmp_path / "models"
    for name in ("blue", "green"):
        shutil.copytree(REPO / "examples" / "online" / f"model-{name}", root / f"model-{name}")
    stack = TempStack.create(_config(root, {"blue": 50, "green": 50}))
    try:
        # --- preview plans the whole endpoint and creates nothing
        planned = stack.preview()
        assert planned["_returncode"] == 0, planned["_stderr"]
        creates = Counter(s["newState"]["type"] for s in planned["steps"] if s["op"] == "create")
        assert creates["mlendpoints:online:OnlineEndpoint"] == 1
        assert creates["mlendpoints:online:OnlineDeployment"] == 2
        assert creates["mlendpoints:quota:QuotaCheck"] == 1
        assert _containers() == {}

        # --- up from empty, then a second preview has nothing to do
        stack.up()
        again = stack.preview("--expect-no-changes")
        changed = [(s["op"], s["urn"].rsplit("::", 1)[-1], s.get("diffReasons")) for s in again["steps"]]
        assert again["_returncode"] == 0, [c for c in changed if c[0] != "same"]
        out = stack.outputs(show_secrets=True)
        uri, key, key2 = (out[f"{ENDPOINT}.{k}"] for k in ("scoring_uri", "primary_key", "secondary_key"))
        assert out[f"{ENDPOINT}.provisioning_state"] == "Succeeded"
        assert out[f"{ENDPOINT}.deployments"] == {"blue": "Succeeded", "green": "Succeeded"}
        assert uri.startswith("http://127.0.0.1:")
        secret_view = stack.outputs()
        assert secret_view[f"{ENDPOINT}.primary_key"] == "[secret]"
        first = _containers()
        assert len(first) == 2

        # --- invoke with the secondary key (split, header routing and auth: test_online_targets.py)
        assert post_score(uri, key2, "blue")[1]["model"] == "blue"

        # --- request logging is off by default (Azure's app_insights_enabled default)
        router = out[f"{ENDPOINT}.router_container"]
        assert _router_lines(router, "blue") == 0 and _router_lines(router, "green") == 0

        # --- traffic, mirror and request logging change in place: no container replaced
        stack.reconfigure(_config(root, {"blue": 100, "green": 0}, mirror={"green": 50}, blue_insights=True))
        planned = stack.preview()
        replaced = [
            s["urn"] for s in planned.get("steps", []) if s["op"] in ("replace", "create-replacement")
        ]
        assert replaced == [], replaced
        stack.up()
        assert _containers() == first
        green_name = next(iter(_by_deployment(first, "green")))
        before = _request_lines(green_name)
        assert {post_score(uri, key)[1]["model"] for _ in range(40)} == {"blue"}
        # The mirror got a share of the live requests (answers discarded); about 20 of 40 expected.
        # Copies are sent after the live answers, so give them a bounded moment to arrive.
        for _ in range(50):
            if _request_lines(green_name) - before >= 5:
                break
            time.sleep(0.2)
        assert _request_lines(green_name) - before >= 5
        for _ in range(50):  # the router drains nginx's log buffers on its own schedule
            if _router_lines(router, "blue") >= 40:
                break
            time.sleep(0.2)
        assert _router_lines(router, "blue") >= 40
        assert _router_lines(router, "green") == 0  # green's mirror copies: its logging is still off

        # --- code change: only green's instances are replaced, new code answers
        score = root / "model-green" / "onlinescoring" / "score.py"
        score.write_text(
            score.read_text().replace('"model": model["name"]', '"model": model["name"] + "-v2"')
        )
        stack.reconfigure(_config(root, {"blue": 50, "green": 50}))
        stack.up()
        now = _containers()
        assert _by_deployment(now, "blue") == _by_deployment(first, "blue")
        assert set(_by_deployment(now, "green")).isdisjoint(_by_deployment(first, "green"))
        assert post_score(uri, key, "green")[1]["model"] == "green-v2"

        # --- scale blue 1 -> 2 -> 1: instances added and removed, the first one kept
        stack.reconfigure(_config(root, {"blue": 50, "green": 50}, blue=2))
        stack.up()
        two = _by_deployment(_containers(), "blue")
        assert len(two) == 2 and set(_by_deployment(first, "blue")) <= set(two)

        # --- an instance dies: the router serves from the other one, the engine restarts it
        client = docker.from_env()
        victim = client.containers.get(sorted(two)[0])
        os.kill(victim.attrs["State"]["Pid"], signal.SIGKILL)
        answers = [post_score(uri, key, "blue")[0] for _ in range(30)]
        assert answers == [200] * 30, Counter(answers)
        for _ in range(100):
            victim.reload()
            if victim.status == "running" and victim.attrs["RestartCount"] >= 1:
                break
            time.sleep(0.2)
        assert victim.status == "running" and victim.attrs["RestartCount"] >= 1
        stack.reconfigure(_config(root, {"blue": 50, "green": 50}, blue=1))
        stack.up()
        assert _by_deployment(_containers(), "blue") == _by_deployment(first, "blue")
        assert post_score(uri, key, "blue")[0] == 200
    finally:
        stack.destroy_and_remove()
    client = docker.from_env()
    assert not client.containers.list(all=True, filters={"label": f"io.mlendpoints.endpoint={ENDPOINT}"})
    assert not client.networks.list(filters={"label": f"io.mlendpoints.endpoint={ENDPOINT}"})
