"""The router supervisor's once-a-second re-resolve: a full reload only when an address changed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest

from serving.router import supervisor
from serving.router.config import RouterConfig, RouterSecrets
from serving.router.control import ControlState
from serving.router.metrics import RouterMetrics
from serving.router.settings import RouterSettings

CONFIG = {
    "endpoint": "edge",
    "deployments": {"blue": {"instances": ["blue-0:5001"]}},
    "traffic": {"blue": 100},
}


@pytest.fixture
def sup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> supervisor.Supervisor:
    (tmp_path / "router.json").write_text(json.dumps(CONFIG))
    settings = RouterSettings(config=tmp_path / "router.json", run_dir=tmp_path / "run")
    monkeypatch.setattr(supervisor.os, "geteuid", lambda: 1000)  # no chown to nobody in a test
    made = supervisor.Supervisor(settings, supervisor.prepare_run_dir(settings))
    config = RouterConfig.model_validate(CONFIG)
    made.state = ControlState(config=config, secrets=RouterSecrets(), metrics=RouterMetrics("edge"))
    made.addresses = {"blue-0:5001": ["172.18.0.5:5001"]}
    return made


def _run(coroutine: Coroutine[Any, Any, bool]) -> bool:
    # Not asyncio.run: it leaves the thread without an event loop, which Pulumi's mocks in later
    # tests of the same process need.
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


def _reloads(sup: supervisor.Supervisor, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    reasons: list[str] = []

    async def reload(reason: str) -> bool:
        reasons.append(reason)
        return True

    monkeypatch.setattr(sup, "reload", reload)
    return reasons


@pytest.mark.parametrize(
    ("address", "reloads"),
    [
        ("172.18.0.5:5001", []),  # the same address: the lookups cost, the config is not read again
        ("172.18.0.9:5001", ["instance addresses re-resolved"]),  # back elsewhere: nginx must follow
    ],
)
def test_only_a_changed_address_costs_a_reload(
    sup: supervisor.Supervisor, monkeypatch: pytest.MonkeyPatch, address: str, reloads: list[str]
) -> None:
    reasons = _reloads(sup, monkeypatch)
    monkeypatch.setattr(supervisor, "resolve_all", lambda names: {n: [address] for n in names})
    assert _run(sup.re_resolve()) is bool(reloads)
    assert reasons == reloads


def test_a_reload_that_failed_part_way_is_retried_even_with_the_same_addresses(
    sup: supervisor.Supervisor, monkeypatch: pytest.MonkeyPatch
) -> None:
    sup._settled = False
    reasons = _reloads(sup, monkeypatch)
    monkeypatch.setattr(supervisor, "resolve_all", lambda names: {n: ["172.18.0.5:5001"] for n in names})
    _run(sup.re_resolve())
    assert reasons == ["instance addresses re-resolved"]
