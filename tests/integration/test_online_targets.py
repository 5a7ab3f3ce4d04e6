"""The online endpoint suite on every target: local Docker and the real Kubernetes cluster.

The same rows on both (the cluster is the one `make test` bootstraps, or KUBECONFIG's): preview and
up, a second preview with nothing to do, a 70/30 split within 3 % over 2 000 calls, header routing
and key auth through the router, traffic and mirror changed in place, an instance killed under load
replaced while serving goes on, `target_utilization` honoured as the target can, and a failing
score.py failing the update with its log. Local-only rows (code change, scaling, request logs) are
in test_online_endpoint.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.load import Load
from tests.integration.pulumi_stack import REPO, PulumiCommandError, TempStack
from tests.integration.scoring import post_score
from tests.integration.targets import DRIVERS, KubernetesDriver, LocalDriver, kubernetes_deployment

pytestmark = pytest.mark.integration
Driver = LocalDriver | KubernetesDriver


@pytest.fixture(scope="module", params=sorted(DRIVERS))
def driver(request: pytest.FixtureRequest) -> Driver:
    made: Driver = DRIVERS[request.param]()
    made.require()
    return made


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    for name in ("blue", "green"):
        shutil.copytree(REPO / "examples" / "online" / f"model-{name}", root / f"model-{name}")
    return root


def _config(
    driver: Driver,
    root: Path,
    traffic: dict[str, int],
    mirror: dict[str, int] | None = None,
    more: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    endpoint: dict[str, Any] = {"name": driver.endpoint, "auth_mode": "key", "traffic": traffic}
    if mirror:
        endpoint["mirror_traffic"] = mirror
    deployments = [driver.deployment("blue", root, 2), driver.deployment("green", root, 1), *(more or [])]
    return driver.config(endpoint, deployments)


@pytest.fixture(scope="module")
def stack(driver: Driver, models: Path) -> Iterator[TempStack]:
    driver.clear_leftovers()
    created = TempStack.create(_config(driver, models, {"blue": 70, "green": 30}))
    try:
        planned = created.preview()
        assert planned["_returncode"] == 0, planned["_stderr"]
        kinds = Counter(s["newState"]["type"] for s in planned["steps"] if s["op"] == "create")
        # blue and green (and on Kubernetes the router too) are planned; nothing runs before `up`
        assert kinds[driver.workload_type] == (3 if driver.target == "kubernetes" else 2), kinds
        assert driver.instances() == {}
        created.up()
        yield created
    finally:
        created.destroy_and_remove()
    driver.gone()


@pytest.fixture(scope="module")
def endpoint(driver: Driver, stack: TempStack) -> tuple[str, str]:
    out = stack.outputs(show_secrets=True)
    assert out[f"{driver.endpoint}.deployments"] == {"blue": "Succeeded", "green": "Succeeded"}
    return out[f"{driver.endpoint}.scoring_uri"], out[f"{driver.endpoint}.primary_key"]


def test_a_second_preview_has_nothing_to_do(stack: TempStack) -> None:
    again = stack.preview("--expect-no-changes")
    changed = [(s["op"], s["urn"].rsplit("::", 1)[-1]) for s in again["steps"] if s["op"] != "same"]
    assert again["_returncode"] == 0, changed


def test_the_policy_pack_reviews_the_targets_real_resources(
    driver: Driver, stack: TempStack, tmp_path: Path
) -> None:
    policies = str(REPO / "policies")
    clean = stack.run("preview", "--stack", stack.name, "--policy-pack", policies, check=False)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "mlendpoints@v0.1.0" in clean.stdout and "mandatory" not in clean.stdout
    # On a stack marked private, what is reachable from outside is a violation: the endpoint
    # (public_network_access defaults to enabled, as on Azure) and, on Kubernetes, the router's real
    # NodePort Service as the provider will create it.
    private = tmp_path / "private.json"
    private.write_text(json.dumps({"no-public-network-access": {"private": True}}))
    marked = stack.run(
        "preview", "--stack", stack.name, "--policy-pack", policies, "--policy-pack-config", str(private),
        check=False,
    )  # fmt: skip
    out = marked.stdout + marked.stderr
    assert marked.returncode != 0, out
    assert f"endpoint '{driver.endpoint}' has public network access enabled" in out
    exposed_service = f"(kubernetes:core/v1:Service: {driver.endpoint}-router-service)"
    assert (exposed_service in out) == (driver.target == "kubernetes"), out


def test_split_header_routing_and_auth(driver: Driver, endpoint: tuple[str, str]) -> None:
    uri, key = endpoint
    assert len(driver.instances("blue")) == 2 and len(driver.instances("green")) == 1
    seen = Counter(post_score(uri, key)[1]["model"] for _ in range(2000))
    assert set(seen) == {"blue", "green"}
    assert abs(seen["blue"] / 2000 - 0.70) <= 0.03, seen
    assert post_score(uri, key, "green")[1]["model"] == "green"
    status, body = post_score(uri, None)
    assert status == 401 and "key" in body["message"]
    assert post_score(uri, "not-the-key")[0] == 401
    status, body = post_score(uri, key, "purple")
    assert status == 404 and "blue" in body["message"] and "green" in body["message"]


def test_logs_of_one_instance_by_index(driver: Driver, stack: TempStack, endpoint: tuple[str, str]) -> None:
    uri, key = endpoint
    assert post_score(uri, key, "blue")[0] == 200  # a request line in some blue instance's log
    second = sorted(driver.instances("blue"))[1]
    shown = subprocess.run(
        [sys.executable, "-m", "components.endpoint_cli", "--stack", stack.name, "logs", driver.endpoint,
         "--deployment", "blue", "--instance", "1", "--tail", "20"],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines, shown.stderr
    if driver.target == "kubernetes":
        assert all(line.startswith(f"[pod/{second}/") for line in lines), lines[:3]
    else:
        assert [line for line in lines if line.startswith("==> ")] == [f"==> {second} <=="], lines[:3]


def test_traffic_and_mirror_change_in_place(
    driver: Driver, stack: TempStack, endpoint: tuple[str, str], models: Path
) -> None:
    before = driver.generations()
    stack.reconfigure(_config(driver, models, {"blue": 100, "green": 0}, mirror={"green": 50}))
    planned = stack.preview()
    replaced = [s["urn"] for s in planned["steps"] if s["op"] in ("replace", "create-replacement")]
    assert replaced == [], replaced
    stack.up()  # returns once the router serves the new split
    assert driver.generations() == before  # no instance restarted, none replaced
    uri, key = endpoint
    (green,) = driver.instances("green")
    counted = driver.scored(green)
    assert {post_score(uri, key)[1]["model"] for _ in range(40)} == {"blue"}
    for _ in range(50):  # mirrored copies are sent after the live answers
        if driver.scored(green) - counted >= 5:
            break
        time.sleep(0.2)
    assert driver.scored(green) - counted >= 5


def test_a_killed_instance_is_replaced_and_serving_goes_on(driver: Driver, endpoint: tuple[str, str]) -> None:
    victim = sorted(driver.instances("blue"))[0]
    with Load(*endpoint, deployment="blue") as load:
        time.sleep(1.0)
        assert any(ok for _, ok in list(load.results)), "blue does not serve before the kill"
        moment = time.monotonic()
        replaced = driver.kill(victim)
        back, failed = load.recovery_after(moment, deadline_s=60)
    print(f"\n{driver.target}: a blue instance killed: serving again after {back:.2f} s; "
          f"{failed} of {len(load.results)} requests failed")  # fmt: skip
    deadline = time.monotonic() + 120
    while not replaced():
        assert time.monotonic() < deadline, f"{victim} was not replaced within 120 s"
        time.sleep(1)
    assert len(driver.instances("blue")) == 2


def test_target_utilization_is_honoured_as_the_target_can(
    driver: Driver, stack: TempStack, models: Path
) -> None:
    # Kubernetes: a HorizontalPodAutoscaler with Azure's numbers; local: the minimum, with a warning.
    shutil.copytree(models / "model-blue", models / "model-teal", dirs_exist_ok=True)
    teal = kubernetes_deployment(driver.endpoint, "teal", models, None)
    stack.reconfigure(_config(driver, models, {"blue": 100, "green": 0}, more=[teal]))
    done = stack.up()
    assert driver.autoscaled_instances("teal", done.stdout + done.stderr) == 1


def test_a_failing_score_script_fails_the_update_with_its_log(
    driver: Driver, stack: TempStack, endpoint: tuple[str, str], models: Path
) -> None:
    shutil.copytree(models / "model-blue", models / "model-red", dirs_exist_ok=True)
    score = models / "model-red" / "onlinescoring" / "score.py"
    score.write_text(
        score.read_text().replace(
            "def init():",
            "def init():\n    raise RuntimeError('red refuses to start')\n\n\ndef _unused():",
            1,
        )
    )
    red = driver.deployment("red", models, 1)
    stack.reconfigure(_config(driver, models, {"blue": 100, "green": 0}, more=[red]))
    with pytest.raises(PulumiCommandError) as failed:
        stack.up()
    text = str(failed.value)
    assert "the scoring script failed" in text and "red refuses to start" in text, text[-3000:]
    assert post_score(*endpoint)[1]["model"] == "blue"  # the live deployments kept serving
    stack.reconfigure(_config(driver, models, {"blue": 100, "green": 0}))
    stack.up()  # and the next update can finish
    assert driver.instances("red") == {}
