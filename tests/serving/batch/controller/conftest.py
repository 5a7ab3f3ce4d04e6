"""Fixtures: a tmp datastore layout, settings, and an in-process controller on loopback ports."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from serving.batch.controller.app import Controller
from serving.batch.controller.settings import ControllerSettings
from serving.batch.protocol import ControllerConfig
from tests.serving.batch.controller.helpers import (
    KEY,
    NODE_SECRET,
    SECONDARY,
    TOKEN_SECRET,
    config,
    write_config,
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    datastores = tmp_path / "datastores"
    (datastores / "workspaceblobstore").mkdir(parents=True)
    (datastores / "data").mkdir()
    return datastores


@pytest.fixture
def make_settings(tmp_path: Path, root: Path) -> Callable[..., ControllerSettings]:
    def make(cfg: ControllerConfig | None = None, **overrides: object) -> ControllerSettings:
        config_path = tmp_path / "controller.json"
        if cfg is not None or not config_path.exists():
            write_config(config_path, cfg or config())
        secrets = tmp_path / "secrets.json"
        if not secrets.exists():
            secrets.write_text(
                json.dumps({"primary_key": KEY, "secondary_key": SECONDARY, "token_secret": TOKEN_SECRET})
            )
        values: dict[str, object] = {
            "config": config_path,
            "state_dir": tmp_path / "state",
            "datastores_root": root,
            "host": "127.0.0.1",
            "port": 0,
            "internal_host": "127.0.0.1",
            "internal_port": 0,
            "node_secret": NODE_SECRET,
            "secrets_file": secrets,
            "tick_interval_s": 0.05,
            "progress_interval_s": 0.2,
        }
        values.update(overrides)
        return ControllerSettings.model_validate(values)

    return make


@pytest.fixture
def controller(make_settings: Callable[..., ControllerSettings]) -> Iterator[Controller]:
    running = Controller(make_settings())
    running.start()
    yield running
    running.stop()
