"""An interrupted run's containers and networks are removed by label; nothing else is touched."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from components import environments
from tests.integration.leftovers import ENDPOINT_LABEL, claim_engine, remove_test_leftovers
from tests.integration.pulumi_stack import REPO

pytestmark = pytest.mark.integration


@pytest.fixture
def client() -> Iterator[docker.DockerClient]:
    client = docker.from_env()
    yield client
    client.close()


def test_what_an_interrupted_run_left_is_removed_and_nothing_else(client: docker.DockerClient) -> None:
    tag = uuid.uuid4().hex[:6]
    prefix = f"it-leftover-{tag}"
    kept_endpoint = f"keep-{tag}"
    image = environments.DEFAULT_BASE_IMAGE
    left = [
        client.containers.create(image, ["true"], name=f"{prefix}-blue-0", labels={ENDPOINT_LABEL: prefix}),
        client.containers.create(image, ["true"], name=f"{prefix}-agent", labels={ENDPOINT_LABEL: prefix}),
    ]
    network = client.networks.create(f"mle-{prefix}", labels={ENDPOINT_LABEL: prefix})
    kept = client.containers.create(
        image, ["true"], name=f"{kept_endpoint}-0", labels={ENDPOINT_LABEL: kept_endpoint}
    )
    try:
        removed = remove_test_leftovers(client, prefix=prefix)
        assert sorted(removed) == sorted([f"container {c.name}" for c in left] + [f"network mle-{prefix}"])
        assert client.containers.list(all=True, filters={"label": f"{ENDPOINT_LABEL}={prefix}"}) == []
        assert client.networks.list(filters={"label": f"{ENDPOINT_LABEL}={prefix}"}) == []
        kept.reload()  # a user's endpoint (no test prefix) is left alone
    finally:
        kept.remove(force=True)
        for container in left:
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)
        with contextlib.suppress(docker.errors.NotFound):
            network.remove()


def _claim_in_another_process(lock: Path, hold: bool = False) -> subprocess.Popen[str]:
    """Another test session, as far as the lock goes: exits 0 when it got the claim, 3 when not; with
    `hold`, it keeps the claim and waits to be killed."""
    code = (
        "import pathlib, sys, time\n"
        "from tests.integration.leftovers import claim_engine\n"
        "claim = claim_engine(pathlib.Path(sys.argv[1]))\n"
        "print('claimed' if claim else 'busy', flush=True)\n"
        "if claim and sys.argv[2] == 'hold': time.sleep(600)\n"
        "sys.exit(0 if claim else 3)\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, str(lock), "hold" if hold else "once"],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_a_second_session_removes_nothing_while_another_runs_and_a_killed_one_frees_the_engine(
    tmp_path: Path,
) -> None:
    lock = tmp_path / "session.lock"
    mine = claim_engine(lock)
    assert mine is not None
    assert _claim_in_another_process(lock).wait(30) == 3  # busy: this session's stacks are not leftovers
    mine.close()
    holder = _claim_in_another_process(lock, hold=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "claimed"
        assert claim_engine(lock) is None
        holder.send_signal(signal.SIGKILL)  # an interrupted session: the kernel drops its lock
        holder.wait(30)
        again = claim_engine(lock)
        assert again is not None
        again.close()
    finally:
        if holder.poll() is None:
            holder.kill()
