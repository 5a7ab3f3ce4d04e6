"""An interrupted run's containers and networks are removed by label; nothing else is touched."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import docker
import pytest

from components import environments
from tests.integration.leftovers import ENDPOINT_LABEL, remove_test_leftovers

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
