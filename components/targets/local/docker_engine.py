"""Plain Docker Engine operations the local target's resource providers are built from."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Mapping
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container

from serving.agent.containers import (
    MANAGED_LABEL,
    NO_NETWORK,
    ContainerSpec,
    HealthCheck,
    create_kwargs,
)

__all__ = ["MANAGED_LABEL", "NO_NETWORK", "ContainerSpec", "DockerEngineError", "HealthCheck"]


class DockerEngineError(Exception):
    """A Docker Engine operation of the local target failed; the message says which and what to do."""


def client() -> docker.DockerClient:
    """A client for the engine in DOCKER_HOST (or the default socket); a clear error when none answers."""
    try:
        c = docker.from_env()
        c.ping()
    except docker.errors.DockerException as exc:
        raise DockerEngineError(
            f"no Docker engine answers ({exc}); start one (scripts/bootstrap does) or set DOCKER_HOST"
        ) from exc
    return c


def ensure_network(name: str, labels: Mapping[str, str]) -> str:
    """Create a bridge network (or adopt ours of that name) and return its id."""
    c = client()
    for net in c.networks.list(names=[name]):
        if net.name == name:
            if (net.attrs.get("Labels") or {}).get(MANAGED_LABEL) != "true":
                raise DockerEngineError(
                    f"a Docker network named {name!r} exists and is not managed by mlendpoints; "
                    "remove it or choose another endpoint name"
                )
            return str(net.id)
    net = c.networks.create(name, driver="bridge", labels={**labels, MANAGED_LABEL: "true"})
    return str(net.id)


def remove_network(net_id: str) -> None:
    """Remove a network; already gone is fine (destroy must be able to finish).

    A network that still has containers was adopted by another resource of the same name (a rename
    in the program creates the new resource before deleting the old one): it is left to that one.
    """
    try:
        net = client().networks.get(net_id)
        net.reload()
        if net.attrs.get("Containers"):
            return
        net.remove()
    except docker.errors.NotFound:
        return


def network_exists(net_id: str) -> bool:
    try:
        client().networks.get(net_id)
    except docker.errors.NotFound:
        return False
    return True


def free_port() -> int:
    """A free port on 127.0.0.1 now. Chosen here rather than by the engine so that the port is part
    of the container's own config: a container the agent starts again keeps its port (and the
    endpoint its scoring URI), where an engine-chosen port would change at every start."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_container(spec: ContainerSpec) -> dict[str, Any]:
    """Start a container, wait until it is ready, return its id and published ports.

    A container that does not become ready is removed before the error is raised, so a failed
    `pulumi up` leaves nothing behind that the next one would collide with.
    """
    c = client()
    with contextlib.suppress(docker.errors.NotFound):
        c.containers.get(spec.name).remove(force=True)  # a leftover of an interrupted run
    try:
        c.images.get(spec.image)
    except docker.errors.ImageNotFound as exc:
        raise DockerEngineError(f"image {spec.image!r} is not on this Docker engine; build it first") from exc
    for host in spec.writable_mounts.values():
        # Writable mounts are folders of ours (state, datastores): made on first use. A socket or
        # file that is missing is an error the engine reports.
        if not os.path.exists(host) and not host.endswith(".sock"):
            os.makedirs(host, exist_ok=True)
    for attempt in range(_PORT_ATTEMPTS):
        chosen = {cport: free_port() for cport, hport in spec.publish.items() if not hport}
        container = c.containers.create(**create_kwargs(spec, chosen))
        try:
            container.start()
            break
        except docker.errors.APIError as exc:
            container.remove(force=True)
            # Another program took the free port between choosing and binding it: choose again.
            if not chosen or "port is already allocated" not in str(exc) or attempt == _PORT_ATTEMPTS - 1:
                raise DockerEngineError(f"container {spec.name} did not start: {exc}") from exc
    try:
        container.reload()
        ports = published_ports(container)
        if spec.ready_path is not None and spec.ready_port is not None:
            _wait_ready(container, spec)
    except BaseException:
        container.remove(force=True)
        raise
    return {"id": container.id, "ports": {str(k): v for k, v in ports.items()}}


_PORT_ATTEMPTS = 3


def published_ports(container: Container) -> dict[int, int]:
    out: dict[int, int] = {}
    for key, binds in (container.attrs["NetworkSettings"]["Ports"] or {}).items():
        if binds:
            out[int(key.split("/")[0])] = int(binds[0]["HostPort"])
    return out


def _wait_ready(container: Container, spec: ContainerSpec) -> None:
    assert spec.ready_port is not None
    deadline = time.monotonic() + spec.ready_timeout_s
    last = "no answer yet"
    while time.monotonic() < deadline:
        container.reload()
        state = container.attrs.get("State") or {}
        # The restart policy brings an exiting process back ("restarting"): a container that exits
        # again and again before it is ever ready will not get ready by waiting.
        if container.status in ("exited", "dead") or (
            container.status == "restarting" and int(container.attrs.get("RestartCount") or 0) >= 2
        ):
            last = f"container exited with code {state.get('ExitCode')}"
            break
        # Probe from inside the container: scorer instances publish no port (the router reaches them).
        try:
            code, output = container.exec_run(
                ["python3", "-c", _PROBE.format(port=spec.ready_port, path=spec.ready_path)]
            )
        except docker.errors.APIError as exc:  # restarting or stopping between reload and exec
            last = f"container is {container.status}: {exc.explanation or exc}"
            time.sleep(0.5)
            continue
        text = output.decode("utf-8", "replace").strip()
        if code == 0:
            return
        if code == _FAILED:
            # The scorer says its script failed: waiting longer cannot help.
            last = f"the scoring script failed: {_message(text)}"
            break
        last = text or "readiness probe failed"
        time.sleep(0.5)
    else:
        last = f"not ready within {spec.ready_timeout_s:.0f}s ({last})"
    logs = container.logs(tail=30).decode("utf-8", "replace")
    raise DockerEngineError(f"container {spec.name} did not become ready: {last}. Last log lines:\n{logs}")


def _message(body: str) -> str:
    try:
        return str(json.loads(body)["message"])
    except (ValueError, KeyError, TypeError):
        return body


_FAILED = 3
# Runs inside the container with its own python3; exit 3 when the scorer reports a failed script.
_PROBE = """
import sys, urllib.request, urllib.error
try:
    sys.exit(0 if urllib.request.urlopen("http://127.0.0.1:{port}{path}", timeout=2).status == 200 else 1)
except urllib.error.HTTPError as e:
    sys.stdout.write(e.read().decode("utf-8", "replace"))
    sys.exit(3 if e.headers.get("x-ms-scorer-state") == "failed" else 1)
except Exception as e:
    sys.stdout.write(str(e))
    sys.exit(1)
"""


def remove_container(container_id: str) -> None:
    """Stop and remove a container; already gone is fine."""
    try:
        client().containers.get(container_id).remove(force=True)
    except docker.errors.NotFound:
        return


def remove_labelled(labels: Mapping[str, str]) -> None:
    """Remove every container of ours carrying all these labels."""
    wanted = [f"{key}={value}" for key, value in sorted(labels.items())] + [f"{MANAGED_LABEL}=true"]
    for container in client().containers.list(all=True, filters={"label": wanted}):
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)


def container_present(container_id: str) -> bool:
    """Whether a container exists and runs (or the engine is restarting its process).

    A stopped container counts as gone: `pulumi up --refresh` then creates it again.
    """
    try:
        return client().containers.get(container_id).status in ("running", "restarting")
    except docker.errors.NotFound:
        return False
