"""A lean HTTP/1.1 server protocol on httptools: keep-alive, ordered pipelining, 100-continue, limits."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote

import httptools

from serving.scorer.errors import BadInput, HeaderTooLarge, PayloadTooLarge, ScorerError
from serving.scorer.messages import Request

if TYPE_CHECKING:
    from serving.scorer.app import ScorerApp

MAX_HEADER_BYTES = 64 * 1024


class HttpConnection(asyncio.Protocol):
    """One client connection; hands complete requests to the app one at a time, in arrival order."""

    def __init__(self, app: ScorerApp, connections: set[HttpConnection]) -> None:
        self._app = app
        self._connections = connections
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._pending: deque[Request] = deque()
        self._in_app = False
        self._reading = True
        self.closed = False
        self.client: tuple[str, int] | None = None
        self.last_active = time.monotonic()
        self._reset()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self.client = (str(peer[0]), int(peer[1]))
        self._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._connections.discard(self)
        self._pending.clear()

    def data_received(self, data: bytes) -> None:
        self.last_active = time.monotonic()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(BadInput("Protocol upgrades are not supported."))
        except httptools.HttpParserError as ex:
            self._fail(BadInput(f"Malformed HTTP request: {ex}"))

    # httptools callbacks

    def on_message_begin(self) -> None:
        self._reset()

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._header_bytes += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value)
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self._header_bytes > MAX_HEADER_BYTES:
            return
        for name, value in self._headers:
            if (
                len(name) == 6
                and name.lower() == b"expect"
                and value.lower() == b"100-continue"
                and self._transport is not None
                and not self.closed
            ):
                self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size > self._app.max_body_bytes:
            self._too_large = True
            self._body.clear()
        elif not self._too_large:
            self._body.append(body)

    def on_message_complete(self) -> None:
        request = self._request()
        if self._in_app:
            self._pending.append(request)
            if self._reading and self._transport is not None:
                self._reading = False
                self._transport.pause_reading()
        else:
            self._dispatch(request)

    # used by the app

    def send(self, data: bytes, close: bool) -> None:
        """Write one complete response; then hand over the next pipelined request, if any."""
        self._in_app = False
        self.last_active = time.monotonic()
        transport = self._transport
        if self.closed or transport is None:
            return
        transport.write(data)
        if close:
            self.close()
            return
        while self._pending and not self._in_app and not self.closed:
            self._dispatch(self._pending.popleft())
        if not self._pending and not self._reading and not self.closed:
            self._reading = True
            transport.resume_reading()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self._transport is not None:
                self._transport.close()

    @property
    def idle(self) -> bool:
        return not self._in_app

    # internals

    def _dispatch(self, request: Request) -> None:
        self._in_app = True
        self._app.handle(request)

    def _reset(self) -> None:
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._header_bytes = 0
        self._body: list[bytes] = []
        self._body_size = 0
        self._too_large = False

    def _request(self) -> Request:
        parser: Any = self._parser
        raw_path, _, raw_query = self._url.partition(b"?")
        if not raw_path.startswith(b"/"):
            # absolute-form (http://host/score) as proxies send it
            parsed = httptools.parse_url(self._url)
            raw_path, raw_query = parsed.path or b"/", parsed.query or b""
        path = raw_path.decode("latin-1")
        if "%" in path:
            path = unquote(path, encoding="latin-1")
        request = Request(
            parser.get_method().decode("latin-1"),
            path,
            raw_query.decode("latin-1"),
            self._headers,
            b"".join(self._body),
            http_version=parser.get_http_version(),
            keep_alive=bool(parser.should_keep_alive()),
            conn=self,
            client=self.client,
        )
        if self._header_bytes > MAX_HEADER_BYTES:
            request.error = HeaderTooLarge(f"Request headers exceed {MAX_HEADER_BYTES} bytes.")
        elif self._too_large:
            request.error = PayloadTooLarge(
                f"Request body exceeds max_request_body_bytes={self._app.max_body_bytes} bytes."
            )
        return request

    def _fail(self, error: ScorerError) -> None:
        if self._transport is None or self.closed:
            return
        self._transport.write(self._app.error_bytes(error))
        self.close()
