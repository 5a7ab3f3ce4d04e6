"""The config and secrets files: applied at start, re-read on change, bad content kept out."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from serving.batch.controller.config import ConfigWatcher
from serving.batch.controller.errors import ConfigError
from serving.batch.controller.settings import ControllerSettings
from tests.serving.batch.controller.helpers import config, deployment, write_config


def test_a_changed_config_applies_and_changes_the_digest(
    make_settings: Callable[..., ControllerSettings],
) -> None:
    settings = make_settings()
    watcher = ConfigWatcher(settings)
    before = watcher.current
    assert before.config.default_deployment == "blue"
    assert watcher.poll() is False
    write_config(settings.config, config(deployment("blue"), deployment("green"), default="green"))
    assert watcher.poll() is True
    assert watcher.current.config.default_deployment == "green"
    assert watcher.current.digest != before.digest


def test_invalid_new_content_keeps_the_config_in_force(
    make_settings: Callable[..., ControllerSettings], caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings()
    watcher = ConfigWatcher(settings)
    applied = watcher.current
    settings.config.write_text('{"endpoint": "batch-ep", "deployments": 3}')
    with caplog.at_level(logging.ERROR, logger="serving.batch.controller"):
        assert watcher.poll() is False
        assert watcher.poll() is False  # the same bad file is reported once
    assert watcher.current == applied
    assert len([r for r in caplog.records if "deployments" in r.getMessage()]) == 1


def test_rotated_secrets_apply_without_echoing_them(
    make_settings: Callable[..., ControllerSettings], caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings()
    watcher = ConfigWatcher(settings)
    assert settings.secrets_file is not None
    settings.secrets_file.write_text('{"primary_key": "short"}')
    os.utime(settings.secrets_file, ns=(1, 1))
    with caplog.at_level(logging.ERROR, logger="serving.batch.controller"):
        watcher.poll()
    assert "short" not in caplog.text and "primary_key" in caplog.text
    settings.secrets_file.write_text('{"primary_key": "another-key-0123456789"}')
    assert watcher.poll() is True
    assert watcher.current.secrets.accepted_keys() == ("another-key-0123456789",)


def test_a_bad_config_at_start_is_an_error_naming_the_field(
    make_settings: Callable[..., ControllerSettings], tmp_path: Path
) -> None:
    settings = make_settings()
    settings.config.write_text('{"endpoint": "x", "deployments": {"a": {"name": "a"}}}')
    with pytest.raises(ConfigError, match=r"deployments.a.settings: Field required"):
        ConfigWatcher(settings)
