"""The agent client over a unix socket, against a small stand-in for the agent's node API."""

from __future__ import annotations

import http.server
import json
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from serving.batch.controller.agent import NodeInfo, UnixSocketAgent
from serving.batch.controller.errors import AgentError


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    calls: list[tuple[str, str, Any]]


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: Any) -> None:
        pass

    def address_string(self) -> str:
        return "controller"

    def _answer(self, status: int, body: Any = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.server.calls.append((self.command, self.path, body))
        if self.path == "/nodes":
            self._answer(
                200,
                {
                    "nodes": [
                        {"name": "n1", "deployment": "blue", "status": "running", "started_at": "t"},
                        {"name": "n0", "deployment": "blue", "status": "running", "current": False},
                    ]
                },
            )
        elif self.path.endswith("/ensure"):
            self._answer(200, {"nodes": ["n1", "n2"]})
        elif self.path == "/nodes/broken":
            self._answer(500, {"message": "engine said no"})
        else:
            self._answer(204)

    do_GET = do_POST = do_DELETE = _handle


@pytest.fixture
def agent_socket(tmp_path: Path) -> Iterator[tuple[Path, _Server]]:
    path = tmp_path / "agent.sock"
    server = _Server(str(path), _Handler)
    server.calls = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield path, server
    server.shutdown()
    server.server_close()


def test_the_three_calls(agent_socket: tuple[Path, _Server]) -> None:
    path, server = agent_socket
    agent = UnixSocketAgent(path)
    # A node of an older template says so; an answer without the field means current.
    assert agent.nodes() == [
        NodeInfo("n1", "blue", "running", "t"),
        NodeInfo("n0", "blue", "running", "", False),
    ]
    assert agent.ensure("blue", 2) == ["n1", "n2"]
    agent.remove("n1")
    assert server.calls == [
        ("GET", "/nodes", None),
        ("POST", "/nodes/blue/ensure", {"count": 2}),
        ("DELETE", "/nodes/n1", None),
    ]


def test_failures_are_agent_errors(agent_socket: tuple[Path, _Server], tmp_path: Path) -> None:
    with pytest.raises(AgentError, match=r"refused DELETE /nodes/broken \(500\): engine said no"):
        UnixSocketAgent(agent_socket[0]).remove("broken")
    with pytest.raises(AgentError, match="failed"):
        UnixSocketAgent(tmp_path / "no-agent.sock").nodes()
