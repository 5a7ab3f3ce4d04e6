"""The control socket nginx calls: token verdicts (auth_request) and the /metrics page."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from serving.router.config import RouterConfig, RouterSecrets
from serving.router.errors import TokenError
from serving.router.metrics import RouterMetrics
from serving.router.tokens import bearer, verify_token

# nginx caches a good verdict this long at most (and never past the token's expiry).
VERDICT_CACHE_S = 60
_MAX_HEAD = 64 * 1024


@dataclass
class ControlState:
    """What the control socket answers from; the supervisor swaps config and secrets on reload."""

    config: RouterConfig
    secrets: RouterSecrets
    metrics: RouterMetrics


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


_REASONS = {200: "OK", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed"}


class ControlApp:
    """Maps a request to a response; no I/O, so it is tested directly."""

    def __init__(self, state: ControlState) -> None:
        self.state = state

    def __call__(self, method: str, path: str, headers: dict[str, str]) -> Response:
        path = path.split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            return Response(405)
        if path == "/verify":
            return self.verify(headers.get("authorization"))
        if path == "/metrics":
            body = self.state.metrics.render().encode()
            return Response(200, {"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}, body)
        return Response(404)

    def verify(self, authorization: str | None, now: float | None = None) -> Response:
        secret = self.state.secrets.token_secret
        current = time.time() if now is None else now
        try:
            if secret is None:
                raise TokenError("token auth is not configured on this endpoint")
            claims = verify_token(
                secret.get_secret_value(),
                bearer(authorization),
                audience=self.state.config.endpoint,
                now=current,
            )
        except TokenError as exc:
            # nginx puts this text inside a JSON string literal: keep it free of quotes and backslashes.
            message = str(exc).replace('"', "'").replace("\\", "/")
            return Response(401, {"X-Mle-Auth-Message": message})
        ttl = int(min(VERDICT_CACHE_S, claims.expires_at - current))
        return Response(200, {"X-Accel-Expires": str(max(ttl, 0))})


def create_app(state: ControlState) -> ControlApp:
    return ControlApp(state)


async def _serve_connection(
    app: ControlApp, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path = lines[0].split(" ")[:2]
            headers = {}
            for line in lines[1:]:
                if line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length") or 0)
            if length:
                await reader.readexactly(length)
            response = app(method, path, headers)
            close = headers.get("connection", "").lower() == "close"
            out = [f"HTTP/1.1 {response.status} {_REASONS.get(response.status, 'Error')}"]
            out += [f"{name}: {value}" for name, value in response.headers.items()]
            out += [f"Content-Length: {len(response.body)}", *(["Connection: close"] if close else [])]
            writer.write(("\r\n".join(out) + "\r\n\r\n").encode())
            if method != "HEAD":
                writer.write(response.body)
            await writer.drain()
            if close:
                return
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError, IndexError):
        return
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def serve_control(app: ControlApp, socket_path: Path) -> asyncio.Server:
    """Listen on a unix socket that nginx workers (maybe another user) can connect to."""
    socket_path.unlink(missing_ok=True)
    server = await asyncio.start_unix_server(
        lambda r, w: _serve_connection(app, r, w), path=str(socket_path), limit=_MAX_HEAD
    )
    socket_path.chmod(0o666)
    return server
