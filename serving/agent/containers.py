"""What a container of ours is (one spec for every role) and the engine arguments that create it.

Shared by the local target's Pulumi provider (routers, scorer instances, controllers, agents) and
by the endpoint's agent, which creates batch nodes from templates `pulumi up` wrote.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import docker.types

MANAGED_LABEL = "io.mlendpoints.managed"


@dataclass(frozen=True)
class HealthCheck:
    """A Docker HEALTHCHECK: the engine runs `test` in the container and marks it unhealthy after
    `retries` failures in a row; the endpoint's agent then restarts it (Docker alone never would)."""

    test: list[str]
    interval_s: float
    timeout_s: float
    retries: int
    start_period_s: float = 0.0


# Every container's log (json-file) rotates: at most LOG_MAX_FILES files of LOG_MAX_SIZE each.
LOG_MAX_SIZE = "10m"
LOG_MAX_FILES = 3
# No network at all (the agent talks to the engine over its socket only).
NO_NETWORK = "none"


@dataclass(frozen=True)
class ContainerSpec:
    """What one container of the local target runs; built from a deployment or endpoint spec."""

    name: str
    image: str
    network: str
    command: list[str] | None
    env: dict[str, str]
    labels: dict[str, str]
    mounts: dict[str, str]  # container path -> host path, mounted read-only
    nano_cpus: int | None
    mem_limit_mb: int | None
    publish: dict[int, int | None]  # container port -> host port on 127.0.0.1 (None: a free one)
    aliases: list[str]
    ready_path: str | None
    ready_port: int | None
    ready_timeout_s: float
    user: str | None = None
    writable_mounts: dict[str, str] = field(default_factory=dict)  # container path -> host path
    health: HealthCheck | None = None
    # `always` for what must stay up; batch nodes are replaced by their controller, never restarted.
    restart_policy: str = "always"


def _seconds_ns(seconds: float) -> int:
    return int(seconds * 1e9)


def create_kwargs(spec: ContainerSpec, ports: Mapping[int, int] | None = None) -> dict[str, Any]:
    chosen = dict(ports or {})
    kwargs: dict[str, Any] = {
        "name": spec.name,
        "image": spec.image,
        "command": spec.command,
        "environment": spec.env,
        "labels": {**spec.labels, MANAGED_LABEL: "true"},
        "mounts": [
            docker.types.Mount(target=inside, source=host, type="bind", read_only=True)
            for inside, host in sorted(spec.mounts.items())
        ]
        + [
            docker.types.Mount(target=inside, source=host, type="bind", read_only=False)
            for inside, host in sorted(spec.writable_mounts.items())
        ],
        # Publish on loopback only: endpoints are reached through the router, never from outside.
        "ports": {
            f"{cport}/tcp": ("127.0.0.1", hport or chosen[cport]) for cport, hport in spec.publish.items()
        },
        # The engine restarts a container whose process dies (crash, OOM kill) and every container
        # when the engine itself restarts; what it does not restart (`docker kill`, a failing
        # liveness probe) the endpoint's agent does.
        "restart_policy": {"Name": spec.restart_policy},
        "log_config": docker.types.LogConfig(
            type="json-file", config={"max-size": LOG_MAX_SIZE, "max-file": str(LOG_MAX_FILES)}
        ),
        "detach": True,
    }
    if spec.network == NO_NETWORK:
        kwargs["network_mode"] = NO_NETWORK
    else:
        # Attached at creation, so the container is never on Docker's default bridge, where any
        # other container could reach it: only the endpoint's private network.
        kwargs["network"] = spec.network
        kwargs["networking_config"] = {
            spec.network: docker.types.EndpointConfig("1.41", aliases=spec.aliases or None)
        }
    if spec.health is not None:
        kwargs["healthcheck"] = {
            "test": ["CMD", *spec.health.test],
            "interval": _seconds_ns(spec.health.interval_s),
            "timeout": _seconds_ns(spec.health.timeout_s),
            "retries": spec.health.retries,
            "start_period": _seconds_ns(spec.health.start_period_s),
        }
    if spec.user:
        kwargs["user"] = spec.user
    if spec.nano_cpus:
        kwargs["nano_cpus"] = spec.nano_cpus
    if spec.mem_limit_mb:
        kwargs["mem_limit"] = f"{spec.mem_limit_mb}m"
    return kwargs


def spec_from_props(props: Mapping[str, Any]) -> ContainerSpec:
    """A ContainerSpec from its JSON-able props (Pulumi resource inputs, node templates)."""
    return ContainerSpec(
        name=props["name"],
        image=props["image"],
        network=props["network"],
        command=list(props["command"]) if props.get("command") else None,
        env={str(k): str(v) for k, v in (props.get("env") or {}).items()},
        labels={str(k): str(v) for k, v in (props.get("labels") or {}).items()},
        mounts=dict(props.get("mounts") or {}),
        nano_cpus=int(props["nano_cpus"]) if props.get("nano_cpus") else None,
        mem_limit_mb=int(props["mem_limit_mb"]) if props.get("mem_limit_mb") else None,
        publish={int(k): (int(v) if v else None) for k, v in (props.get("publish") or {}).items()},
        aliases=list(props.get("aliases") or []),
        ready_path=props.get("ready_path"),
        ready_port=int(props["ready_port"]) if props.get("ready_port") else None,
        ready_timeout_s=float(props.get("ready_timeout_s") or 120),
        user=props.get("user") or None,
        writable_mounts=dict(props.get("writable_mounts") or {}),
        health=_health(props.get("health")),
        restart_policy=str(props.get("restart_policy") or "always"),
    )


def _health(props: Mapping[str, Any] | None) -> HealthCheck | None:
    if not props:
        return None
    return HealthCheck(
        test=[str(part) for part in props["test"]],
        interval_s=float(props["interval_s"]),
        timeout_s=float(props["timeout_s"]),
        retries=int(props["retries"]),
        start_period_s=float(props.get("start_period_s") or 0),
    )
