"""How the controller asks the endpoint's agent for nodes: HTTP on a unix socket, behind a Protocol."""

from __future__ import annotations

import http.client
import json
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from serving.batch.controller.errors import AgentError


@dataclass(frozen=True)
class NodeInfo:
    name: str
    deployment: str
    status: str
    started_at: str = ""
    # Made from its deployment's current template; False once `pulumi up` changed the deployment or its
    # cluster (new image, size, ...): such a node gets no new work and goes when it holds none.
    current: bool = True


@dataclass(frozen=True)
class StepInfo:
    """A pipeline step's container: running, or ended with an exit code."""

    name: str
    step: str
    status: str
    exit_code: int | None = None


class Agent(Protocol):
    """GET /nodes, POST /nodes/{deployment}/ensure {"count": N}, DELETE /nodes/{name}; pipeline steps:
    GET /steps?job=J, POST /steps, DELETE /steps/{name}."""

    def nodes(self) -> list[NodeInfo]: ...

    def ensure(self, deployment: str, count: int) -> list[str]: ...

    def remove(self, name: str) -> None: ...

    def steps(self, job: str) -> list[StepInfo]: ...

    def run_step(self, deployment: str, step: str, job: str, command: str, log: str) -> str: ...

    def remove_step(self, name: str) -> None: ...


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("agent", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self._path))
        except OSError:
            sock.close()
            raise
        self.sock = sock


class UnixSocketAgent:
    """The agent's node API; every failure is an AgentError (the scheduler logs it and retries later)."""

    def __init__(self, path: Path, timeout_s: float = 30.0) -> None:
        self._path = path
        self._timeout = timeout_s

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        connection = _UnixConnection(self._path, self._timeout)
        try:
            data = json.dumps(body).encode() if body is not None else None
            headers = {"Content-Type": "application/json"} if data is not None else {}
            connection.request(method, path, body=data, headers=headers)
            answer = connection.getresponse()
            raw = answer.read()
        except OSError as exc:
            raise AgentError(f"agent at {self._path}: {method} {path} failed: {exc}") from None
        finally:
            connection.close()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        if answer.status >= 300:
            message = (
                parsed.get("message") if isinstance(parsed, dict) else raw[:200].decode(errors="replace")
            )
            raise AgentError(f"agent refused {method} {path} ({answer.status}): {message}")
        return parsed

    def nodes(self) -> list[NodeInfo]:
        answer = self._call("GET", "/nodes")
        try:
            return [
                NodeInfo(
                    str(n["name"]),
                    str(n["deployment"]),
                    str(n["status"]),
                    str(n.get("started_at", "")),
                    n.get("current", True) is not False,
                )
                for n in answer["nodes"]
            ]
        except (TypeError, KeyError) as exc:
            raise AgentError(f"agent answered GET /nodes without a proper node list ({exc})") from None

    def ensure(self, deployment: str, count: int) -> list[str]:
        answer = self._call("POST", f"/nodes/{quote(deployment, safe='')}/ensure", {"count": count})
        nodes = answer.get("nodes") if isinstance(answer, dict) else None
        return [str(n) for n in nodes] if isinstance(nodes, list) else []

    def remove(self, name: str) -> None:
        self._call("DELETE", f"/nodes/{quote(name, safe='')}")

    def steps(self, job: str) -> list[StepInfo]:
        answer = self._call("GET", f"/steps?job={quote(job, safe='')}")
        try:
            return [
                StepInfo(str(s["name"]), str(s["step"]), str(s["status"]), s.get("exit_code"))
                for s in answer["steps"]
            ]
        except (TypeError, KeyError) as exc:
            raise AgentError(f"agent answered GET /steps without a proper step list ({exc})") from None

    def run_step(self, deployment: str, step: str, job: str, command: str, log: str) -> str:
        body = {"deployment": deployment, "step": step, "job": job, "command": command, "log": log}
        answer = self._call("POST", "/steps", body)
        return str(answer.get("name", "")) if isinstance(answer, dict) else ""

    def remove_step(self, name: str) -> None:
        self._call("DELETE", f"/steps/{quote(name, safe='')}")
