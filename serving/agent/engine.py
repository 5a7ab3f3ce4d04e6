"""The agent's view of the Docker engine: the containers it looks after, start and restart."""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

import docker
import docker.errors

from serving.agent.healing import Action, Observed

log = logging.getLogger("serving.agent")
ENDPOINT_LABEL = "io.mlendpoints.endpoint"
MANAGED_LABEL = "io.mlendpoints.managed"
ROLE_LABEL = "io.mlendpoints.role"


def observed(attrs: dict[str, Any]) -> Observed:
    """An inspect document -> what healing decides on."""
    state = attrs.get("State") or {}
    health = (state.get("Health") or {}).get("Status")
    labels = (attrs.get("Config") or {}).get("Labels") or {}
    code = state.get("ExitCode") if state.get("Status") in ("exited", "dead") else None
    return Observed(
        id=str(attrs["Id"]),
        name=str(attrs.get("Name", "")).lstrip("/"),
        status=str(state.get("Status", "unknown")),
        health=health,
        role=labels.get(ROLE_LABEL),
        exit_code=code,
    )


class Engine:
    """Only containers carrying the endpoint's label and ours: the agent touches nothing else."""

    def __init__(self, endpoint: str, client: docker.DockerClient | None = None) -> None:
        self.client = client or docker.from_env()
        self.filters = {"label": [f"{ENDPOINT_LABEL}={endpoint}", f"{MANAGED_LABEL}=true"]}

    def containers(self) -> list[Observed]:
        found = []
        for summary in self.client.api.containers(all=True, filters=self.filters):
            try:
                found.append(observed(self.client.api.inspect_container(summary["Id"])))
            except docker.errors.NotFound:
                continue  # removed since the listing
        return found

    def apply(self, action: Action) -> bool:
        """Carry an action out; False when the container went away or is being removed meanwhile."""
        container = action.container
        try:
            if action.verb == "start":
                self.client.api.start(container.id)
            else:
                self.client.api.restart(container.id, timeout=5)
        except docker.errors.NotFound:
            return False
        except docker.errors.APIError as exc:
            if "removal" in str(exc).lower():
                return False  # a deployer is deleting it on purpose
            log.error("could not %s %s: %s", action.verb, container.name, exc)
            return False
        return True

    def watch(self, wake: queue.Queue[str], stop: threading.Event) -> None:
        """Put a container name in `wake` for every event that may need healing, until `stop`."""
        while not stop.is_set():
            try:
                events = self.client.events(decode=True, filters={**self.filters, "type": "container"})
                # What happened while the stream was not there (the agent's start, a reconnect) is
                # found by a sweep, not by events.
                wake.put("")
                for event in events:
                    action = str(event.get("Action") or event.get("status") or "")
                    if action in ("die", "kill", "stop", "oom") or action.startswith("health_status"):
                        wake.put((event.get("Actor") or {}).get("Attributes", {}).get("name", ""))
                    if stop.is_set():
                        break
            except (docker.errors.DockerException, OSError) as exc:
                log.warning("engine event stream broke (%s); sweeping until it is back", exc)
                stop.wait(1.0)
