"""Tiny keep-alive HTTP backends on loopback that stand in for scorer instances in router tests."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Behaviour:
    """How a backend answers; tests change it while the backend runs."""

    status: int = 200
    delay_s: float = 0.0


@dataclass
class Stats:
    requests: int = 0
    completed: int = 0
    paths: Counter[str] = field(default_factory=Counter)
    headers: list[dict[str, str]] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)


class _Protocol(asyncio.Protocol):
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.backend.transports.add(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.backend.transports.discard(self.transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            lines = self.buffer[:head_end].decode("latin-1").split("\r\n")
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            if len(self.buffer) < head_end + 4 + length:
                return
            body = self.buffer[head_end + 4 : head_end + 4 + length]
            self.buffer = self.buffer[head_end + 4 + length :]
            method, path = lines[0].split(" ")[:2]
            self.backend.record(path, headers, body)
            asyncio.get_running_loop().create_task(self.answer(method, path))

    async def answer(self, method: str, path: str) -> None:
        behaviour = self.backend.behaviour
        if behaviour.delay_s:
            await asyncio.sleep(behaviour.delay_s)
        body = f'{{"backend": "{self.backend.name}", "path": "{path}"}}'.encode()
        head = (
            f"HTTP/1.1 {behaviour.status} X\r\nContent-Type: application/json\r\n"
            f"x-backend: {self.backend.name}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.backend.stats.completed += 1
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(head + body)


class Backend:
    """One backend on 127.0.0.1:<port>, served from its own thread; stop() and start() reuse the port."""

    def __init__(self, name: str, port: int | None = None) -> None:
        self.name = name
        self.port = port or free_port()
        self.behaviour = Behaviour()
        self.stats = Stats()
        self.keep_requests = False
        self.transports: set[asyncio.Transport] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server: asyncio.Server | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def record(self, path: str, headers: dict[str, str], body: bytes) -> None:
        self.stats.requests += 1
        self.stats.paths[path] += 1
        if self.keep_requests:
            self.stats.headers.append(headers)
            self.stats.bodies.append(body)

    def start(self) -> Backend:
        async def serve() -> asyncio.Server:
            return await self._loop.create_server(
                lambda: _Protocol(self), "127.0.0.1", self.port, reuse_address=True, backlog=1024
            )

        self._server = asyncio.run_coroutine_threadsafe(serve(), self._loop).result(5)
        return self

    def stop(self) -> None:
        """Close the listener and every open connection: the instance is dead."""
        server = self._server
        if server is None:
            return

        async def close() -> None:
            server.close()
            for transport in list(self.transports):
                transport.abort()
            await server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._server = None

    def close(self) -> None:
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
