"""Scorer settings come from Azure ML's environment variable names."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from serving.scorer.settings import ScorerSettings


def test_azure_ml_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "AML_APP_ROOT": "/app",
        "AZUREML_ENTRY_SCRIPT": "onlinescoring/score.py",
        "AZUREML_MODEL_DIR": "/models/m/1",
        "WORKER_COUNT": "3",
        "SCORING_TIMEOUT_MS": "1500",
        "MAX_CONCURRENT_REQUESTS_PER_INSTANCE": "4",
        "MAX_QUEUE_WAIT_MS": "250",
        "SERVER_PORT": "31311",
        "SERVER_HOST": "127.0.0.1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = ScorerSettings()
    assert settings.app_root == "/app"
    assert settings.entry_script == "onlinescoring/score.py"
    assert settings.model_dir == "/models/m/1"
    assert settings.worker_count == 3
    assert settings.request_timeout_ms == 1500
    assert settings.concurrency == 4
    assert settings.max_queue_wait_ms == 250
    assert (settings.host, settings.port) == ("127.0.0.1", 31311)


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in (
        "AML_APP_ROOT",
        "WORKER_COUNT",
        "SCORING_TIMEOUT_MS",
        "REQUEST_TIMEOUT_MS",
        "PORT",
        "SERVER_PORT",
    ):
        monkeypatch.delenv(key, raising=False)
    settings = ScorerSettings()
    assert settings.app_root == "/var/azureml-app"
    assert settings.port == 5001
    assert settings.request_timeout_ms == 5000
    assert settings.concurrency == settings.worker_count == 1
    assert settings.max_queue_wait_ms == 500


def test_request_timeout_alias_and_bad_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUEST_TIMEOUT_MS", "90")
    monkeypatch.delenv("SCORING_TIMEOUT_MS", raising=False)
    assert ScorerSettings().request_timeout_ms == 90
    monkeypatch.setenv("WORKER_COUNT", "0")
    with pytest.raises(ValidationError):
        ScorerSettings()
