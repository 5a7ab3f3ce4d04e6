"""Pruning unused serving images, against the real Docker engine, in a repository of the test's own."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from typing import Any

import docker
import pytest

from components.environments import DEFAULT_BASE_IMAGE
from components.targets.local import image_prune


@pytest.fixture
def repository() -> Iterator[tuple[Any, str]]:
    client = docker.from_env()
    name = f"mlendpoints/prune-test-{uuid.uuid4().hex[:8]}"
    yield client, name
    for container in client.containers.list(all=True, filters={"label": f"io.mlendpoints.test={name}"}):
        container.remove(force=True)
    for image in client.images.list(name=name):
        for tag in image.tags:
            client.images.remove(tag, force=True)


def _image(client: Any, repository: str, tag: str) -> str:
    # A LABEL line makes a distinct image in a moment, with no network and no build context.
    dockerfile = f"FROM {DEFAULT_BASE_IMAGE}\nLABEL io.mlendpoints.test-image={repository}:{tag}\n"
    # rm/forcerm: docker-py keeps the builder's intermediate containers unless told otherwise.
    image, _ = client.images.build(
        fileobj=io.BytesIO(dockerfile.encode()), tag=f"{repository}:{tag}", pull=False, rm=True, forcerm=True
    )
    return str(image.id)


def test_only_tags_no_container_uses_are_removed(repository: tuple[Any, str]) -> None:
    client, name = repository
    _image(client, name, "old")
    _image(client, name, "in-use")
    _image(client, name, "stopped")
    client.containers.run(
        f"{name}:in-use", ["sleep", "60"], detach=True, labels={"io.mlendpoints.test": name}
    )
    client.containers.create(f"{name}:stopped", ["true"], labels={"io.mlendpoints.test": name})

    assert image_prune.prune(client, name, dry_run=True) == ([f"{name}:old"], [])
    assert {t for i in client.images.list(name=name) for t in i.tags} == {
        f"{name}:old",
        f"{name}:in-use",
        f"{name}:stopped",
    }
    assert image_prune.prune(client, name) == ([f"{name}:old"], [])
    assert {t for i in client.images.list(name=name) for t in i.tags} == {f"{name}:in-use", f"{name}:stopped"}
    assert image_prune.prune(client, name) == ([], [])
