"""HTTP clients for router tests: one request (http.client) and many requests (asyncio, counted)."""

from __future__ import annotations

import asyncio
import http.client
from collections import Counter

from tests.serving.harness import Answer


def call(
    port: int,
    path: str = "/score",
    *,
    method: str = "POST",
    headers: dict[str, str] | None = None,
    body: bytes | None = b"{}",
    timeout: float = 30.0,
) -> Answer:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        sent = dict(headers or {})
        if body is not None:
            sent.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=body if method != "GET" else None, headers=sent)
        response = conn.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        conn.close()


async def _count(
    port: int, total: int, connections: int, headers: dict[str, str], keepalive: bool
) -> Counter[str]:
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    close = "" if keepalive else "Connection: close\r\n"
    request = (
        f"POST /score HTTP/1.1\r\nHost: test\r\n{extra}{close}Content-Type: application/json\r\n"
        "Content-Length: 2\r\n\r\n{}"
    ).encode()
    counts: Counter[str] = Counter()

    async def client(requests: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for done in range(requests):
            if not keepalive and done:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            lines = head.split("\r\n")
            fields = {k.lower(): v for k, _, v in (line.partition(": ") for line in lines[1:]) if k}
            await reader.readexactly(int(fields.get("content-length", "0")))
            counts[fields.get("x-backend") or f"status-{lines[0].split(' ')[1]}"] += 1
            if not keepalive:
                writer.close()
        writer.close()

    share, rest = divmod(total, connections)
    await asyncio.gather(*(client(share + (i < rest)) for i in range(connections)))
    return counts


def count_answers(
    port: int,
    total: int,
    *,
    connections: int = 16,
    headers: dict[str, str] | None = None,
    keepalive: bool = True,
) -> Counter[str]:
    """Send exactly `total` POST /score requests; count answers by the backend that gave them."""
    return asyncio.run(_count(port, total, connections, headers or {}, keepalive))
