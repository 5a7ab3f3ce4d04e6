"""Raw-socket HTTP for size-limit tests: heads of an exact size, floods, and answers read to the end."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from typing import Any


@dataclass
class RawAnswer:
    status: int
    head: str
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def message(self) -> str:
        return str(self.json()["message"])


def head(size: int, start: bytes, pad: bytes = b"X-Pad") -> bytes:
    """`start` (request line and header lines, CRLF-terminated) plus one padding header: exactly `size`
    bytes up to and including the blank line that ends the head."""
    filler = size - len(start) - len(pad) - len(b": \r\n\r\n")
    if filler < 0:
        raise ValueError(f"{size} bytes cannot hold {len(start)} bytes of start plus a padding header")
    return start + pad + b": " + b"a" * filler + b"\r\n\r\n"


def chunked(body: bytes, piece: int) -> bytes:
    """`body` in the chunked transfer coding, `piece` bytes a chunk, with the last chunk."""
    pieces = [body[i : i + piece] for i in range(0, len(body), piece)]
    parts = [b"%x\r\n%s\r\n" % (len(part), part) for part in pieces]
    return b"".join(parts) + b"0\r\n\r\n"


def answers(data: bytes) -> list[RawAnswer]:
    """Every complete answer (Content-Length framed) in `data`, in order."""
    found: list[RawAnswer] = []
    while data:
        head_end = data.find(b"\r\n\r\n")
        if head_end < 0:
            break
        text = data[:head_end].decode("latin-1")
        if text.startswith("HTTP/1.1 100 "):
            data = data[head_end + 4 :]
            continue
        lines = (line.partition(":") for line in text.split("\r\n")[1:])
        fields = {name.strip().lower(): value.strip() for name, _, value in lines}
        end = head_end + 4 + int(fields.get("content-length", "0"))
        if len(data) < end:
            break
        found.append(RawAnswer(int(text.split(" ")[1]), text, data[head_end + 4 : end]))
        data = data[end:]
    return found


@dataclass
class Exchange:
    answers: list[RawAnswer]
    raw: bytes
    closed: bool  # the server closed the connection after the answers


def exchange(
    port: int, payload: bytes, expect: int = 1, *, wait_close_s: float = 0.0, timeout: float = 10.0
) -> Exchange:
    """Send `payload` (maybe a head announcing a body that never comes) and read `expect` answers;
    then wait up to `wait_close_s` for the server to close the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(payload)
        data, closed = b"", False
        try:
            while len(answers(data)) < expect:
                chunk = sock.recv(65536)
                if not chunk:
                    closed = True
                    break
                data += chunk
        except TimeoutError:
            pass  # the answer did not come: the caller's assertions say what was missing
        if wait_close_s and not closed:
            closed = _closed_soon(sock, wait_close_s)
        return Exchange(answers(data), data, closed)


def flood(port: int, start: bytes, line: bytes, total: int, timeout: float = 20.0) -> tuple[bytes, int]:
    """Send `start`, then `line` over and over up to `total` bytes, then a blank line, for as long as the
    server takes them; returns everything it answered and how many bytes went out."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        block = line * max(1, (256 * 1024) // len(line))
        try:
            sock.sendall(start)
            while sent < total:
                sock.sendall(block)
                sent += len(block)
            sock.sendall(b"\r\n")
        except OSError:
            pass  # the server stopped reading and closed: what counts is its answer
        data = b""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
        return data, sent


def _closed_soon(sock: socket.socket, wait_s: float) -> bool:
    sock.settimeout(wait_s)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except OSError:
        return True
