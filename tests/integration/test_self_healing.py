"""Instances and the router heal themselves; `pulumi up --refresh` repairs drift; scorers are private.

Real engine, real Docker: containers are killed under a bounded load, and the time until the
endpoint serves again and the requests that failed meanwhile are printed (`pytest -s` shows them).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from docker.models.containers import Container

from tests.integration.fixtures.tiny_endpoint import local_stack, plain_serving
from tests.integration.load import Load
from tests.integration.pulumi_stack import REPO, TempStack
from tests.integration.scoring import post_score

pytestmark = pytest.mark.integration
ENDPOINT = "it-heal"
# Short probes so that a hung instance is restarted within seconds (Azure default: 30 probes 10 s apart).
LIVENESS = {"initial_delay": 1, "period": 1, "timeout": 1, "failure_threshold": 3}


@pytest.fixture(scope="module")
def stack() -> Iterator[TempStack]:
    created = TempStack.create(local_stack(plain_serving(ENDPOINT, liveness_probe=LIVENESS)))
    try:
        created.up()
        yield created
    finally:
        created.destroy_and_remove()
    assert not docker.from_env().containers.list(
        all=True, filters={"label": f"io.mlendpoints.endpoint={ENDPOINT}"}
    )


@pytest.fixture(scope="module")
def endpoint(stack: TempStack) -> tuple[str, str]:
    out = stack.outputs(show_secrets=True)
    return out[f"{ENDPOINT}.scoring_uri"], out[f"{ENDPOINT}.primary_key"]


def _one(role_or_deployment: str) -> Container:
    label = (
        f"io.mlendpoints.role={role_or_deployment}"
        if role_or_deployment in ("router", "agent")
        else f"io.mlendpoints.deployment={role_or_deployment}"
    )
    found = docker.from_env().containers.list(
        all=True, filters={"label": [f"io.mlendpoints.endpoint={ENDPOINT}", label]}
    )
    assert len(found) == 1, [c.name for c in found]
    return found[0]


def _heal(endpoint: tuple[str, str], what: str, victim: Container, kill: Any) -> None:
    with Load(*endpoint) as load:
        time.sleep(1.0)
        assert any(ok for _, ok in list(load.results)), "the endpoint does not serve before the kill"
        moment = time.monotonic()
        kill(victim)
        # Judged from when the kill has taken effect: freezing every process takes a moment, and
        # answers given meanwhile are no sign of recovery. Failures count from the start.
        effective = time.monotonic()
        back, _ = load.recovery_after(effective, deadline_s=30)
        back += effective - moment
        failed = sum(1 for at, ok in list(load.results) if at > moment and not ok)
    print(f"\n{what}: serving again after {back:.2f} s; {failed} of {len(load.results)} requests failed")
    victim.reload()
    assert victim.status == "running"


def test_killed_instance_serves_again(endpoint: tuple[str, str]) -> None:
    # `docker kill`: the engine's restart policy does not apply; the endpoint's agent starts it.
    _heal(endpoint, "docker kill of the only instance", _one("blue"), lambda c: c.kill())


def test_killed_router_serves_again_on_the_same_uri(endpoint: tuple[str, str]) -> None:
    _heal(endpoint, "docker kill of the router", _one("router"), lambda c: c.kill())


def test_dead_scorer_process_is_restarted(endpoint: tuple[str, str]) -> None:
    # The process dies (SIGKILL from the host, like an OOM kill): the engine's restart policy.
    def sigkill(container: Container) -> None:
        os.kill(container.attrs["State"]["Pid"], signal.SIGKILL)

    instance = _one("blue")
    restarts = instance.attrs["RestartCount"]
    _heal(endpoint, "SIGKILL of the scorer process", instance, sigkill)
    assert instance.attrs["RestartCount"] == restarts + 1


def test_hung_instance_is_restarted_by_its_liveness_probe(endpoint: tuple[str, str]) -> None:
    # Every process of the instance stopped: it accepts connections but never answers, like a
    # deadlock. Its liveness probe fails three times in a row, and the agent restarts it.
    def freeze(container: Container) -> None:
        # Until no process is left running: a worker may be forked while the first list is taken
        # (the scorer respawns workers), and one left running would keep serving.
        stopped: set[int] = set()
        for _ in range(50):
            pids = {int(row[0]) for row in container.top(ps_args="-eo pid")["Processes"]}
            if pids and pids <= stopped and all(_state(pid) in ("T", "t", None) for pid in pids):
                return
            for pid in pids - stopped:
                os.kill(pid, signal.SIGSTOP)
            stopped |= pids
            time.sleep(0.1)
        raise AssertionError(f"the processes of {container.name} could not all be stopped")

    instance = _one("blue")
    started = instance.attrs["State"]["StartedAt"]
    _heal(endpoint, "a hung instance (all processes stopped)", instance, freeze)
    assert instance.attrs["State"]["StartedAt"] != started


def _state(pid: int) -> str | None:
    """The process's state letter from /proc (None when it is gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def _connects(container_args: list[str], address: str) -> bool:
    code = (
        "import socket, sys\n"
        "try:\n"
        f"    socket.create_connection(({address!r}, 5001), timeout=3).close()\n"
        "except OSError:\n"
        "    sys.exit(1)\n"
    )
    return subprocess.run([*container_args, "python3", "-c", code], capture_output=True).returncode == 0


def test_only_the_router_reaches_a_scorer(endpoint: tuple[str, str]) -> None:
    instance = _one("blue")
    networks = instance.attrs["NetworkSettings"]["Networks"]
    assert list(networks) == [f"mle-{ENDPOINT}"], "a scorer must be on its endpoint's network only"
    address = networks[f"mle-{ENDPOINT}"]["IPAddress"]
    base = "mlendpoints/base:bookworm-py311"
    # A container on Docker's default bridge (what `docker run` gives) cannot connect at all.
    assert not _connects(["docker", "run", "--rm", "--network", "bridge", base], address)
    assert _connects(["docker", "exec", _one("router").name], address)
    assert _one("agent").attrs["HostConfig"]["NetworkMode"] == "none"


def _show(stack: TempStack) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "components.endpoint_cli", "--stack", stack.name, "show"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout


def test_up_recreates_what_was_removed_and_show_tells_the_truth(
    stack: TempStack, endpoint: tuple[str, str]
) -> None:
    _one("agent").remove(force=True)
    _one("blue").remove(force=True)
    shown = _show(stack)
    assert "no instance is running" in shown and "no agent container" in shown, shown
    # The router re-resolves its instances every second: until it has, a request may still go to
    # the removed container's address and time out (504) rather than find no instance (503).
    deadline = time.monotonic() + 15
    status, _ = post_score(*endpoint)
    while status != 503 and time.monotonic() < deadline:
        time.sleep(0.5)
        status, _ = post_score(*endpoint)
    assert status == 503
    stack.up()
    shown = _show(stack)
    assert "running/" in shown.split("deployment blue")[1].split("router:")[0], shown
    # `up` returns once the new instance is ready; the router learns its address at its next look-up
    # (every second) and reloads nginx. Until then a request may get 503; one CI run on a loaded
    # machine also saw a connection reset here (not reproduced under a 2-core CPU hog, and nginx
    # reloads under steady new connections reset none: 21 000 requests across 12 reloads).
    deadline = time.monotonic() + 15
    while True:
        try:
            status, body = post_score(*endpoint)
        except OSError as exc:
            status, body = 0, {"error": repr(exc)}
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert status == 200 and body["echo"], body
    _one("agent")
