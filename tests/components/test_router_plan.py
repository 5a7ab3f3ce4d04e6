"""The router config an endpoint gets: instances, timeouts, traffic, mirror, request logs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.router_plan import router_config
from components.targets.local import plan as local_plan
from serving.router.config import parse_config
from serving.router.errors import ConfigError


def two_deployments(**changes: Any) -> dict[str, Any]:
    blue = [f"{local_plan.instance_name('shop', 'blue', i, 'abcdef012345')}:5001" for i in (1, 0)]
    args: dict[str, Any] = {
        "endpoint": "shop",
        "auth_mode": "key",
        "instances": {"green": ["shop-green-0-00000000:5001"], "blue": blue},
        "timeouts_ms": {"blue": 5000, "green": 90_000},
        "traffic": {"green": 10, "blue": 90},
        "mirror_traffic": {},
        "request_logs": {"blue": True, "green": False},
    }
    return {**args, **changes}


def test_router_config_routes_every_instance_with_its_deployment_settings() -> None:
    cfg = router_config(**two_deployments())
    assert cfg["deployments"] == {
        # Sorted, so the file (and its digest) does not change with the order instances came in.
        "blue": {
            "instances": ["shop-blue-0-abcdef01:5001", "shop-blue-1-abcdef01:5001"],
            "request_timeout_ms": 5000,
            "log_requests": True,
        },
        "green": {
            "instances": ["shop-green-0-00000000:5001"],
            "request_timeout_ms": 90_000,
            "log_requests": False,
        },
    }
    router = parse_config(json.dumps(cfg), "test")
    assert router.endpoint == "shop"
    assert router.auth_mode == "key"
    assert router.live_traffic == {"blue": 90, "green": 10}
    assert router.deployments["blue"].instances == ("shop-blue-0-abcdef01:5001", "shop-blue-1-abcdef01:5001")
    assert router.deployments["green"].request_timeout_ms == 90_000
    assert {n: d.log_requests for n, d in router.deployments.items()} == {"blue": True, "green": False}


def test_request_logs_follow_app_insights_and_default_off() -> None:
    # The router's own default is on; a deployment missing from request_logs must still come out off.
    cfg = router_config(**two_deployments(request_logs={"green": True}))
    router = parse_config(json.dumps(cfg), "test")
    assert {n: d.log_requests for n, d in router.deployments.items()} == {"blue": False, "green": True}


@pytest.mark.parametrize(
    ("mode", "router_mode"), [("key", "key"), ("aml_token", "aml_token"), ("aad_token", "aml_token")]
)
def test_token_modes_become_our_own_tokens(mode: str, router_mode: str) -> None:
    # README: locally aml_token and aad_token are both tokens signed by the endpoint's own secret.
    cfg = router_config(**two_deployments(auth_mode=mode))
    assert parse_config(json.dumps(cfg), "test").auth_mode == router_mode


def test_zero_mirror_is_dropped_and_a_share_is_kept() -> None:
    off = router_config(**two_deployments(mirror_traffic={"green": 0}))
    assert off["mirror_traffic"] == {}
    assert parse_config(json.dumps(off), "test").mirror is None
    on = router_config(**two_deployments(traffic={"blue": 100}, mirror_traffic={"green": 20}))
    assert parse_config(json.dumps(on), "test").mirror == ("green", 20)


def test_deployment_without_instances_is_still_routed() -> None:
    cfg = router_config(**two_deployments(instances={"blue": [], "green": []}))
    assert parse_config(json.dumps(cfg), "test").deployments["blue"].instances == ()


def test_router_rejects_traffic_to_a_deployment_it_has_no_route_for() -> None:
    # router_config passes traffic through; the router is the side that refuses an inconsistent file.
    cfg = router_config(**two_deployments(traffic={"blue": 90, "red": 10}))
    with pytest.raises(ConfigError, match=r"test: .*traffic names deployment 'red'"):
        parse_config(json.dumps(cfg), "test")
