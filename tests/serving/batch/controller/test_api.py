"""The public jobs API over HTTP: health, auth, invoke errors, get/list/cancel, Azure's job shape."""

from __future__ import annotations

import http.client
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from serving.batch.controller.app import STORE_FILE, Controller
from serving.batch.controller.settings import ControllerSettings
from serving.router.config import files_digest
from serving.router.tokens import issue_token
from tests.serving.batch.controller.helpers import (
    ENDPOINT,
    KEY,
    TOKEN_SECRET,
    Client,
    config,
    deployment,
    invoke_body,
    public_client,
    write_config,
    write_inputs,
)


def test_health_needs_no_auth_and_reports_the_config_digest(controller: Controller) -> None:
    answer = Client(controller.public_port).request("GET", "/")
    assert (answer.status, answer.body) == (200, b"Healthy")
    settings = controller.settings
    assert settings.secrets_file is not None
    expected = files_digest(settings.config.read_text(), settings.secrets_file.read_text())
    assert answer.headers["x-mlendpoints-config"] == expected


def test_the_jobs_api_needs_a_key_or_token(controller: Controller, root: Path) -> None:
    answer = Client(controller.public_port).request("GET", "/jobs")
    assert answer.status == 401
    assert "missing bearer token" in answer.json()["message"]
    assert public_client(controller.public_port, "wrong-key-000000000").request("GET", "/jobs").status == 401
    token = issue_token(TOKEN_SECRET, 60, audience=ENDPOINT)
    assert public_client(controller.public_port, token).request("GET", "/jobs").status == 200


def test_invoke_answers_at_once_with_the_job_as_azure_shapes_it(controller: Controller, root: Path) -> None:
    write_inputs(root, 25)
    client = public_client(controller.public_port)
    answer = client.request("POST", "/jobs", invoke_body(mini_batch_size=10, name="my-job"))
    assert answer.status == 200, answer.body
    job = answer.json()
    assert (job["name"], job["id"], job["properties"]["status"]) == ("my-job", "/jobs/my-job", "Queued")
    props = job["properties"]
    assert props["deploymentName"] == "blue" and props["miniBatchSize"] == 10
    assert props["retrySettings"] == {"maxRetries": 1, "timeout": "PT30S"}
    assert props["outputData"] == {
        "score": {
            "jobOutputType": "UriFolder",
            "uri": "azureml://datastores/workspaceblobstore/paths/azureml/my-job/score/",
        }
    }
    assert props["progress"]["miniBatches"]["total"] == 3 and props["progress"]["files"]["total"] == 25
    assert (root / "workspaceblobstore" / "azureml" / "my-job" / "score").is_dir()  # AZUREML_BI_OUTPUT_PATH
    assert client.request("GET", "/jobs/my-job").json()["name"] == "my-job"
    assert [j["name"] for j in client.request("GET", "/jobs").json()["value"]] == ["my-job"]
    assert client.request("GET", "/jobs?deployment=green").json()["value"] == []
    again = client.request("POST", "/jobs", invoke_body(name="my-job"))
    assert again.status == 409 and "already exists" in again.json()["message"]
    canceled = client.request("POST", "/jobs/my-job/cancel")
    assert canceled.status == 200 and canceled.json()["properties"]["status"] == "Canceled"


def test_invoke_records_each_mini_batch_s_input_bytes(controller: Controller, root: Path) -> None:
    # Bundles are sized by the work the bytes predict (pace.py); files 0-9 hold 1 byte, 10-24 two.
    write_inputs(root, 25)
    answer = public_client(controller.public_port).request("POST", "/jobs", invoke_body(mini_batch_size=10))
    assert answer.status == 200, answer.body
    with sqlite3.connect(controller.settings.state_dir / STORE_FILE) as db:
        sizes = db.execute("SELECT nbytes FROM minibatches ORDER BY idx").fetchall()
    assert sizes == [(10,), (20,), (10,)]


@pytest.mark.parametrize(
    ("body", "headers", "status", "message"),
    [
        (
            invoke_body(),
            {"azureml-model-deployment": "purple"},
            404,
            "deployment 'purple' does not exist on endpoint batch-ep; its deployments: blue",
        ),
        (invoke_body(miniBatchSize=-1), {}, 400, "properties.miniBatchSize must be between 1"),
        (invoke_body(colour="red"), {}, 400, "properties.colour is not a known field"),
        (invoke_body("missing"), {}, 400, "does not exist"),
        (invoke_body("empty"), {}, 400, "has no files"),
        (
            {
                "properties": {
                    "InputData": {
                        "d": {"JobInputType": "UriFolder", "Uri": "https://x.blob.core.windows.net/c"}
                    }
                }
            },
            {},
            400,
            "not supported here",
        ),
    ],
)
def test_invoke_errors(
    controller: Controller, root: Path, body: object, headers: dict[str, str], status: int, message: str
) -> None:
    write_inputs(root, 1)
    (root / "data" / "empty").mkdir()
    answer = public_client(controller.public_port).request("POST", "/jobs", body, headers)
    assert answer.status == status
    assert message in answer.json()["message"]


def test_invalid_json_and_unknown_routes_are_json_errors(controller: Controller) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", controller.public_port, timeout=10)
    conn.request("POST", "/jobs", body=b"{not json", headers={"Authorization": f"Bearer {KEY}"})
    answer = conn.getresponse()
    assert answer.status == 400
    assert "not valid JSON" in json.loads(answer.read())["message"]
    conn.close()
    client = public_client(controller.public_port)
    unknown = client.request("GET", "/nope")
    assert unknown.status == 404 and "the jobs API is /jobs" in unknown.json()["message"]
    assert client.request("DELETE", "/jobs").status == 405
    assert client.request("GET", "/jobs/nope").status == 404


def test_no_default_deployment_names_the_deployments(
    make_settings: Callable[..., ControllerSettings], root: Path
) -> None:
    running = Controller(make_settings(config(deployment("blue"), deployment("green"), default=None)))
    running.start()
    try:
        write_inputs(root, 1)
        client = public_client(running.public_port)
        answer = client.request("POST", "/jobs", invoke_body())
        assert answer.status == 400
        assert (
            "no default deployment; name one in the azureml-model-deployment header: blue, green"
            in answer.json()["message"]
        )
        chosen = client.request("POST", "/jobs", invoke_body(), {"azureml-model-deployment": "Green"})
        assert chosen.status == 200 and chosen.json()["properties"]["deploymentName"] == "green"
    finally:
        running.stop()


def test_a_new_default_deployment_applies_without_a_restart(controller: Controller, root: Path) -> None:
    write_inputs(root, 1)
    before = Client(controller.public_port).request("GET", "/").headers["x-mlendpoints-config"]
    write_config(controller.settings.config, config(deployment("blue"), deployment("green"), default="green"))
    controller.scheduler.wake.set()
    client = Client(controller.public_port)
    while client.request("GET", "/").headers["x-mlendpoints-config"] == before:
        controller.stopping.wait(0.02)
    answer = public_client(controller.public_port).request("POST", "/jobs", invoke_body())
    assert answer.json()["properties"]["deploymentName"] == "green"


def test_the_node_api_needs_the_node_secret(controller: Controller) -> None:
    answer = Client(controller.internal_port).request(
        "POST", "/internal/lease", {"node": "n", "deployment": "blue", "process": 0}
    )
    assert answer.status == 401
    assert "X-Mle-Node-Secret" in answer.json()["message"]
    bad = Client(controller.internal_port, {"X-Mle-Node-Secret": "node-secret-for-tests"}).request(
        "POST", "/internal/lease", {"node": "n", "process": -1}
    )
    assert bad.status == 400
    assert "deployment: Field required" in bad.json()["message"] and "process" in bad.json()["message"]
