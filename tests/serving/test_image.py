"""The serving image builds offline from host-downloaded wheels and its containers serve real models."""

from __future__ import annotations

import contextlib
import http.client
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components.environments import plan_environment
from components.image_build import build_image
from tests.conformance_scripts import ABSENT, ENDPOINTS, code_folder
from tests.serving.harness import REPO

pytestmark = pytest.mark.integration

MODEL_1 = ENDPOINTS / "online" / "model-1"
EXAMPLES = REPO / "examples" / "online"
APP = "/var/azureml-app"


@pytest.fixture(scope="module")
def docker_client() -> Any:
    # Failures, not skips: `make test` bootstraps the engine and the base image, so missing means broken.
    import docker

    try:
        client = docker.from_env()
        client.ping()
    except Exception as ex:
        raise AssertionError(f"no Docker engine answers ({ex}): run the tests with `make test`") from ex
    try:
        client.images.get("mlendpoints/base:bookworm-py311")
    except docker.errors.ImageNotFound as ex:
        raise AssertionError("base image mlendpoints/base:bookworm-py311 is missing: run `make test`") from ex
    return client


@pytest.fixture(scope="module")
def serving_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """serving/ frozen for this module: the tag hashes it, and others may edit serving/ meanwhile."""
    from components.environments import SERVING_ROOT, runtime_files

    target = tmp_path_factory.mktemp("snapshot") / "serving"
    for path in runtime_files(SERVING_ROOT):
        destination = target / path.relative_to(SERVING_ROOT)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination)
    return target


@contextlib.contextmanager
def serving_container(client: Any, tag: str, code: Path, model: Path, model_name: str) -> Iterator[int]:
    """Laid out as on Azure ML: code under AML_APP_ROOT, the model folder inside AZUREML_MODEL_DIR."""
    model_dir = f"{APP}/azureml-models/{model_name}/1"
    container = client.containers.run(
        tag,
        detach=True,
        environment={
            "AZUREML_ENTRY_SCRIPT": f"{code.name}/score.py",
            "AZUREML_MODEL_DIR": model_dir,
            "WORKER_COUNT": "2",
        },
        volumes={
            str(code): {"bind": f"{APP}/{code.name}", "mode": "ro"},
            str(model): {"bind": f"{model_dir}/{model.name}", "mode": "ro"},
        },
        ports={"5001/tcp": ("127.0.0.1", None)},
    )
    try:
        container.reload()
        port = int(container.attrs["NetworkSettings"]["Ports"]["5001/tcp"][0]["HostPort"])
        _wait_ready(port, container)
        yield port
    finally:
        container.remove(force=True)


def _wait_ready(port: int, container: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, http.client.HTTPException):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                return
        time.sleep(0.2)
    raise AssertionError("container never became ready:\n" + container.logs().decode(errors="replace"))


def _score(port: int, body: bytes) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", "/score", body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    return response.status, json.loads(response.read())


@pytest.mark.conformance
def test_container_serves_azureml_examples_model_1(docker_client: Any, serving_snapshot: Path) -> None:
    if not MODEL_1.is_dir():
        pytest.skip(ABSENT)
    plan = plan_environment(
        conda_file=MODEL_1 / "environment" / "conda.yaml",
        image="mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest",
    )
    tag = build_image(plan, client=docker_client)
    # ../shared is data only: our own score.py (same behaviour) unless a developer put Azure's in place.
    code = code_folder("online/model-1/onlinescoring")
    with serving_container(docker_client, tag, code, MODEL_1 / "model", "model-1") as port:
        status, answer = _score(port, (MODEL_1 / "sample-request.json").read_bytes())
    assert status == 200
    assert answer == pytest.approx([11055.977245525679, 4503.079536107787], rel=1e-9)


def test_container_serves_the_blue_example_and_does_not_rebuild(
    docker_client: Any, serving_snapshot: Path
) -> None:
    root = EXAMPLES / "model-blue"
    plan = plan_environment(conda_file=root / "environment" / "conda.yaml")
    tag = build_image(plan, client=docker_client, serving_root=serving_snapshot)
    second_log: list[str] = []
    assert (
        build_image(plan, client=docker_client, serving_root=serving_snapshot, on_log=second_log.append)
        == tag
    )
    assert any("is up to date" in line for line in second_log)
    assert not any(line.startswith("Step ") for line in second_log)
    with serving_container(docker_client, tag, root / "onlinescoring", root / "model", "blue") as port:
        status, answer = _score(port, (root / "sample-request.json").read_bytes())
    assert status == 200
    assert answer["model"] == "blue"
    assert answer["predictions"] == pytest.approx([1959.2839567386, 739.4902814977], rel=1e-9)
