"""The controller client against the fake controller, and the node's settings."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from pydantic import ValidationError

from serving.batch.node.client import ControllerClient, ControllerRejected, ControllerUnavailable
from serving.batch.node.settings import NodeSettings
from serving.batch.protocol import Completion, Heartbeat, LeaseRequest, Report
from tests.serving.batch.node.fake_controller import SECRET, FakeController

REQUEST = LeaseRequest(node="n", deployment="blue", process=0)


def client_for(controller: FakeController, secret: str = SECRET) -> ControllerClient:
    return ControllerClient(controller.url, secret, timeout_s=5)


def test_lease_204_is_no_lease_and_a_queued_lease_comes_back(
    controller: FakeController, tmp_path: Path
) -> None:
    client = client_for(controller)
    assert client.lease(REQUEST) == []
    queued = controller.add("job", [str(tmp_path / "a.csv")])
    assert client.lease(REQUEST) == [queued]
    assert controller.lease_requests == [REQUEST, REQUEST]


def test_keep_alive_survives_a_controller_restart(controller: FakeController) -> None:
    client = client_for(controller)
    assert client.heartbeat(Heartbeat(node="n")).abandon == []
    controller.stop()
    with pytest.raises(ControllerUnavailable):
        client.heartbeat(Heartbeat(node="n"))
    controller.start()
    assert client.heartbeat(Heartbeat(node="n")).abandon == []
    controller.stop()
    controller.start()  # the kept-alive connection is dead now: one quiet reconnect
    assert client.heartbeat(Heartbeat(node="n", tokens=["t"])).abandon == []
    assert [h.tokens for h in controller.heartbeats] == [[], [], ["t"]]


def test_refused_connections_and_5xx_are_unavailable(controller: FakeController) -> None:
    controller.fail_status = 503
    with pytest.raises(ControllerUnavailable, match="HTTP 503"):
        client_for(controller).lease(REQUEST)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ControllerUnavailable, match="ConnectionRefusedError"):
        ControllerClient(f"http://127.0.0.1:{port}", SECRET, 5).lease(REQUEST)


def test_a_wrong_secret_is_retried_not_fatal(controller: FakeController) -> None:
    with pytest.raises(ControllerUnavailable, match="HTTP 401"):
        client_for(controller, secret="wrong").lease(REQUEST)
    assert controller.unauthorized == 1


def test_report_answers(controller: FakeController) -> None:
    first, second = (
        Completion(token=token, node="n", process=0, outcome="succeeded", rows=1) for token in ("t1", "t2")
    )
    report = Report(completions=[first, second])
    client = client_for(controller)
    assert client.complete(report).accepted == [True, True]
    controller.accept = lambda completion: completion.token == "t2"
    assert client.complete(report).accepted == [False, True]
    controller.fail_status = 404  # the controller does not know the tokens: never accepted
    assert client.complete(report).accepted == [False, False]
    controller.fail_status = 400
    with pytest.raises(ControllerRejected):
        client.complete(report)


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLE_BATCH_CONTROLLER_URL", "http://ep-controller:8081/")
    monkeypatch.setenv("MLE_BATCH_NODE_SECRET", "hush-hush")
    monkeypatch.setenv("MLE_BATCH_DEPLOYMENT", "blue")
    monkeypatch.setenv("MLE_BATCH_PROCESSES", "3")
    monkeypatch.setenv("AML_APP_ROOT", "/code")
    monkeypatch.setenv("AZUREML_ENTRY_SCRIPT", "batch_driver.py")
    monkeypatch.setenv("AZUREML_MODEL_DIR", "/models")
    settings = NodeSettings()  # type: ignore[call-arg]
    assert settings.controller_url == "http://ep-controller:8081"
    assert settings.processes == 3 and settings.deployment == "blue"
    assert (settings.app_root, settings.entry_script, settings.model_dir) == (
        "/code",
        "batch_driver.py",
        "/models",
    )
    assert settings.node_name == socket.gethostname() and settings.idle_exit_s is None
    assert settings.node_secret.get_secret_value() == "hush-hush" and "hush" not in repr(settings)


def test_settings_name_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLE_BATCH_CONTROLLER_URL", "ep-controller:8081")
    monkeypatch.delenv("MLE_BATCH_NODE_SECRET", raising=False)
    monkeypatch.delenv("MLE_BATCH_DEPLOYMENT", raising=False)
    with pytest.raises(ValidationError) as caught:
        NodeSettings()  # type: ignore[call-arg]
    text = str(caught.value)
    assert "MLE_BATCH_CONTROLLER_URL must be an http(s) URL" in text
    assert "MLE_BATCH_NODE_SECRET" in text and "MLE_BATCH_DEPLOYMENT" in text
