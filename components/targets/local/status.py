"""What an endpoint's containers are really doing on the local engine (for `mle show`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

ENDPOINT_LABEL = "io.mlendpoints.endpoint"
DEPLOYMENT_LABEL = "io.mlendpoints.deployment"
ROLE_LABEL = "io.mlendpoints.role"


@dataclass(frozen=True)
class ContainerState:
    """One container: what the engine says, and what its last health probe said."""

    name: str
    role: str  # router | agent | instance
    deployment: str | None
    status: str  # running | restarting | exited | paused | ...
    health: str | None  # starting | healthy | unhealthy | None (no health check)
    ready: bool | None  # None: not known (no readiness probe recorded yet)
    restarts: int
    started_at: str

    @property
    def summary(self) -> str:
        """running/ready, running/not ready, restarting, exited (code ...), ..."""
        if self.status != "running":
            return self.status
        if self.health == "unhealthy":
            return "running/unhealthy"
        if self.ready is None:
            return "running" if self.role != "instance" else "running/starting"
        return "running/ready" if self.ready else "running/not ready"


def container_state(attrs: Mapping[str, Any]) -> ContainerState:
    """An inspect document -> ContainerState. Readiness comes from serving.probe's output."""
    state = attrs.get("State") or {}
    labels = (attrs.get("Config") or {}).get("Labels") or {}
    health = state.get("Health") or {}
    ready: bool | None = None
    for entry in reversed(health.get("Log") or []):
        output = str(entry.get("Output") or "").strip()
        if output in ("ready", "not-ready"):
            ready = output == "ready"
            break
    status = str(state.get("Status") or "unknown")
    if status in ("exited", "dead"):
        status = f"{status} (code {state.get('ExitCode')})"
    return ContainerState(
        name=str(attrs.get("Name", "")).lstrip("/"),
        role=labels.get(ROLE_LABEL) or "instance",
        deployment=labels.get(DEPLOYMENT_LABEL),
        status=status,
        health=health.get("Status"),
        ready=ready,
        restarts=int(attrs.get("RestartCount") or 0),
        started_at=str(state.get("StartedAt") or ""),
    )


def _instance_order(state: ContainerState) -> tuple[int, str]:
    # Instance names are <endpoint>-<deployment>-<index>-<digest>.
    parts = state.name.rsplit("-", 2)
    index = int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else 0
    return index, state.name


def group(states: Iterable[ContainerState]) -> dict[str, list[ContainerState]]:
    """`router`, `agent` and each deployment's instances (by index)."""
    grouped: dict[str, list[ContainerState]] = {}
    for state in states:
        key = state.deployment if state.role == "instance" and state.deployment else state.role
        grouped.setdefault(key, []).append(state)
    return {key: sorted(items, key=_instance_order) for key, items in sorted(grouped.items())}


def endpoint_containers(client: Any, endpoint: str) -> list[ContainerState]:
    """Every container of the endpoint on the engine `client` (docker-py) talks to."""
    import docker.errors

    found = []
    for summary in client.api.containers(all=True, filters={"label": f"{ENDPOINT_LABEL}={endpoint}"}):
        try:
            found.append(container_state(client.api.inspect_container(summary["Id"])))
        except docker.errors.NotFound:
            continue
    return found
