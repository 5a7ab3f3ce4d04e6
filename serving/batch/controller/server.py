"""Threaded stdlib HTTP servers (HTTP/1.1 keep-alive) that hand each request to an app callable."""

from __future__ import annotations

import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from serving.batch.controller.api import App, Response

log = logging.getLogger("serving.batch.controller")
MAX_BODY_BYTES = 1 << 20  # invoke bodies and node messages are small


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    app: App


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # small answers on kept-alive connections must not wait for an ACK
    server_version = "mlendpoints-batch"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http: " + format, *args)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # The stdlib answers malformed requests with HTML; ours are JSON like every other answer.
        self._send(
            Response(
                code,
                json.dumps({"message": message or explain or "bad request"}).encode(),
                {"Content-Type": "application/json", "Connection": "close"},
            )
        )
        self.close_connection = True

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD" and response.body:
            self.wfile.write(response.body)

    def _handle(self) -> None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.send_error(411, "send the body with Content-Length")
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.send_error(400, "Content-Length is not a number")
            return
        if length > MAX_BODY_BYTES or length < 0:
            self.send_error(413, f"request body over {MAX_BODY_BYTES} bytes")
            return
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        self._send(self.server.app(self.command, self.path, headers, body, self._connected))

    def _connected(self) -> bool:
        """Whether the client still has its end of the connection open. A client waits for the answer
        before it sends anything else, so anything to read here is its end closing (or data: open)."""
        try:
            data = self.connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            return True  # nothing to read: still open
        except OSError:
            return False  # reset
        return bool(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle


def serve(app: App, host: str, port: int, name: str) -> _Server:
    """Bind now (port 0 picks a free one) and serve in a daemon thread."""
    server = _Server((host, port), _Handler)
    server.app = app
    # A short poll only makes shutdown() quick; requests are served as they come either way.
    threading.Thread(target=server.serve_forever, args=(0.05,), name=name, daemon=True).start()
    return server
