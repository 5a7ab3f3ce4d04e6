"""The agent's node API on a unix socket that only the endpoint's controller mounts.

GET /nodes; POST /nodes/<deployment>/ensure {"count": N}; DELETE /nodes/<name>; pipeline steps:
GET /steps[?job=J]; POST /steps {"deployment", "step", "job", "command", "log"}; DELETE /steps/<name>.
JSON in and out, errors as {"message": ...}. No TCP port: nothing but the controller can ask.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import logging
import os
import socketserver
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from serving.agent.nodes import NodeError, NodeManager
from serving.agent.steps import StepManager

log = logging.getLogger("serving.agent")
_MAX_BODY = 64 * 1024


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    manager: NodeManager
    steps: StepManager


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("node api: " + format, *args)

    def address_string(self) -> str:
        return "controller"

    def _answer(self, status: int, body: dict[str, Any] | None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            raise NodeError("request body too large")
        try:
            parsed = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            raise NodeError("request body is not JSON") from None
        if not isinstance(parsed, dict):
            raise NodeError("request body must be a JSON object")
        return parsed

    def _handle(self, method: str) -> None:
        parts = [p for p in self.path.split("?")[0].split("/") if p]
        try:
            manager = self.server.manager
            if method == "GET" and parts == ["nodes"]:
                self._answer(200, {"nodes": manager.listing()})
            elif method == "POST" and len(parts) == 3 and parts[0] == "nodes" and parts[2] == "ensure":
                count = self._body().get("count")
                if not isinstance(count, int) or isinstance(count, bool):
                    raise NodeError("`count` must be a whole number")
                self._answer(200, {"nodes": manager.ensure(parts[1], count)})
            elif method == "DELETE" and len(parts) == 2 and parts[0] == "nodes":
                manager.remove(parts[1])
                self._answer(204, None)
            elif parts[:1] == ["steps"]:
                self._steps(method, parts)
            else:
                self._answer(404, {"message": f"no route {method} {self.path}"})
        except NodeError as exc:
            self._answer(exc.status, {"message": str(exc)})
        except Exception as exc:  # the engine failed us: say so, keep serving
            log.error("node api %s %s failed: %s", method, self.path, exc)
            self._answer(500, {"message": f"agent error: {exc}"})

    def _steps(self, method: str, parts: list[str]) -> None:
        steps = self.server.steps
        if method == "GET" and parts == ["steps"]:
            job = parse_qs(urlsplit(self.path).query).get("job", [None])[0]
            self._answer(200, {"steps": [run.as_json() for run in steps.steps(job)]})
        elif method == "POST" and parts == ["steps"]:
            body = self._body()
            fields = ("deployment", "step", "job", "command", "log")
            values = [body.get(name) for name in fields]
            missing = [name for name, value in zip(fields, values, strict=True) if not isinstance(value, str)]
            if missing:
                raise NodeError(f"{', '.join(missing)} must be given as text")
            deployment, step, job, command, log_path = (str(value) for value in values)
            self._answer(200, {"name": steps.run(deployment, step, job, command, log_path)})
        elif method == "DELETE" and len(parts) == 2:
            steps.remove(parts[1])
            self._answer(204, None)
        else:
            self._answer(404, {"message": f"no route {method} {self.path}"})

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")


def serve(manager: NodeManager, socket_path: Path, steps: StepManager | None = None) -> _Server:
    """Listen on `socket_path` (replacing a stale socket) in a background thread."""
    socket_path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        socket_path.unlink()
    server = _Server(str(socket_path), _Handler)
    server.manager = manager
    server.steps = steps or StepManager(manager.endpoint, manager.templates_path, manager.client)
    # The controller runs as another user than the agent (root): it must be able to connect.
    os.chmod(socket_path, 0o666)
    threading.Thread(target=server.serve_forever, daemon=True, name="node-api").start()
    return server
