"""The router's config for an endpoint: the same file on every target (serving.router.config reads it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def router_config(
    endpoint: str,
    auth_mode: str,
    instances: Mapping[str, list[str]],
    timeouts_ms: Mapping[str, int],
    traffic: Mapping[str, int],
    mirror_traffic: Mapping[str, int],
    request_logs: Mapping[str, bool],
) -> dict[str, Any]:
    """The router config JSON (serving.router.config.RouterConfig) for the current deployments.

    `request_logs` is each deployment's `app_insights_enabled`: locally the switch means the router
    prints a JSON line for every request that deployment serves (requests no deployment serves,
    such as 401s, are always printed: they are the endpoint's own traffic log).
    """
    return {
        "endpoint": endpoint,
        "auth_mode": "key" if auth_mode == "key" else "aml_token",
        "deployments": {
            name: {
                "instances": sorted(addrs),
                "request_timeout_ms": timeouts_ms[name],
                "log_requests": bool(request_logs.get(name, False)),
            }
            for name, addrs in sorted(instances.items())
        },
        "traffic": dict(sorted(traffic.items())),
        "mirror_traffic": {k: v for k, v in sorted(mirror_traffic.items()) if v},
    }
