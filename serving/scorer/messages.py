"""HTTP request/response values and the bytes of a response head."""

from __future__ import annotations

import email.utils
import time
from http import HTTPStatus
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from serving.scorer.errors import ScorerError
    from serving.scorer.protocol import HttpConnection

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"


class Request:
    """One parsed HTTP request; `headers` (built on first use): lower-case names, repeats joined by ', '."""

    __slots__ = (
        "_headers",
        "body",
        "client",
        "conn",
        "error",
        "http_version",
        "keep_alive",
        "method",
        "path",
        "query",
        "raw_headers",
        "started",
    )

    def __init__(
        self,
        method: str,
        path: str,
        query: str,
        raw_headers: list[tuple[bytes, bytes]],
        body: bytes,
        *,
        http_version: str = "1.1",
        keep_alive: bool = True,
        conn: HttpConnection | None = None,
        client: tuple[str, int] | None = None,
        started: float | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.query = query
        self._headers: dict[str, str] | None = None
        self.raw_headers = raw_headers
        self.body = body
        self.http_version = http_version
        self.keep_alive = keep_alive
        self.conn = conn
        self.client = client
        self.started = time.perf_counter() if started is None else started
        # set by the protocol when the request broke a size limit; the app answers it
        self.error: ScorerError | None = None

    @property
    def headers(self) -> dict[str, str]:
        headers = self._headers
        if headers is None:
            headers = {}
            for name, value in self.raw_headers:
                key = name.decode("latin-1").lower()
                text = value.decode("latin-1")
                headers[key] = f"{headers[key]}, {text}" if key in headers else text
            self._headers = headers
        return headers

    def header(self, lowered_name: bytes) -> str:
        """One header's value ('' when absent) without building the whole dict."""
        for name, value in self.raw_headers:
            if len(name) == len(lowered_name) and name.lower() == lowered_name:
                return value.decode("latin-1")
        return ""


class Response:
    """What a route answers before the common headers are added."""

    __slots__ = ("body", "content_type", "headers", "run_failed", "run_ms", "status")

    def __init__(
        self,
        status: int,
        body: bytes = b"",
        content_type: str | None = JSON,
        headers: list[tuple[str, str]] | None = None,
        *,
        run_ms: float = 0.0,
        run_failed: bool = False,
    ) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers if headers is not None else []
        self.run_ms = run_ms
        self.run_failed = run_failed


class HeadEncoder:
    """Builds response heads; caches status lines, content-type lines and the Date header (per second)."""

    def __init__(self, server_version: str) -> None:
        self._status_lines: dict[int, bytes] = {}
        self._content_types: dict[str, bytes] = {}
        self._date_second = -1
        self._date = b""
        self._server = b"x-ms-server-version: " + server_version.encode("latin-1") + b"\r\n"

    def status_line(self, status: int) -> bytes:
        line = self._status_lines.get(status)
        if line is None:
            try:
                phrase = HTTPStatus(status).phrase
            except ValueError:
                phrase = "Unknown"
            line = f"HTTP/1.1 {status} {phrase}\r\n".encode("latin-1")
            self._status_lines[status] = line
        return line

    def date(self) -> bytes:
        now = int(time.time())
        if now != self._date_second:
            self._date_second = now
            self._date = b"date: " + email.utils.formatdate(now, usegmt=True).encode("latin-1") + b"\r\n"
        return self._date

    def content_type(self, value: str) -> bytes:
        line = self._content_types.get(value)
        if line is None:
            line = self._content_types[value] = b"content-type: " + value.encode("latin-1") + b"\r\n"
        return line

    def encode(self, response: Response, extra: bytes, close: bool) -> bytes:
        """Status line, headers and body of one answer; `extra` is pre-encoded header lines."""
        parts = [self.status_line(response.status), self.date()]
        if response.content_type:
            parts.append(self.content_type(response.content_type))
        for name, value in response.headers:
            parts.append(f"{name}: {value}\r\n".encode("latin-1", "replace"))
        parts.append(
            b"x-ms-run-function-failed: True\r\n"
            if response.run_failed
            else b"x-ms-run-function-failed: False\r\n"
        )
        parts.append(b"x-ms-run-fn-exec-ms: %.3f\r\n" % response.run_ms)
        parts.append(self._server)
        parts.append(extra)
        parts.append(b"content-length: %d\r\n" % len(response.body))
        parts.append(b"connection: close\r\n\r\n" if close else b"\r\n")
        parts.append(response.body)
        return b"".join(parts)
