"""The scorer stand-in for bench/router_bench.py: a keep-alive asyncio HTTP server that burns a fixed CPU
time per request. Answers carry `x-backend: NAME` (the traffic-split count reads it); DELAY_MS holds each
answer back without using CPU (the slow mirror deployment).

Run as `python bench/standin_backend.py PORT NAME WORK_US DELAY_MS` (router_procs.backend does).
"""

from __future__ import annotations

import asyncio
import sys
import time


class _BackendProtocol(asyncio.Protocol):
    """Keep-alive HTTP answerer; `work_us` of busy CPU per request stands in for a scorer's run()."""

    def __init__(self, name: bytes, work_s: float, delay_s: float) -> None:
        self.name, self.work_s, self.delay_s = name, work_s, delay_s
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[:end].lower()
            length = 0
            if (at := head.find(b"content-length:")) >= 0:
                length = int(head[at + 15 :].split(b"\r\n", 1)[0])
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            if self.work_s:
                until = time.perf_counter() + self.work_s
                while time.perf_counter() < until:
                    pass
            body = b'{"result": [1]}'
            answer = (
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nx-backend: "
                + self.name
                + b"\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
                + body
            )
            if self.delay_s:
                asyncio.get_running_loop().call_later(self.delay_s, self._send, answer)
            else:
                self._send(answer)

    def _send(self, answer: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(answer)


async def _serve_backend(port: int, name: str, work_us: float, delay_ms: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: _BackendProtocol(name.encode(), work_us / 1e6, delay_ms / 1e3),
        "127.0.0.1",
        port,
        backlog=4096,
    )
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    port, name, work, delay = sys.argv[1:5]
    asyncio.run(_serve_backend(int(port), name, float(work), float(delay)))
