"""A lean HTTP/1.1 server protocol on httptools: keep-alive, ordered pipelining, 100-continue, limits."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote

import httptools

from serving.limits import MAX_HEAD_BYTES
from serving.scorer.chunked import ChunkedFraming
from serving.scorer.errors import BadInput, HeaderTooLarge, PayloadTooLarge, ScorerError, UriTooLong
from serving.scorer.messages import Request

if TYPE_CHECKING:
    from serving.scorer.app import ScorerApp

# After refusing a request the connection is half-closed at once and closed this much later: closing
# with input still unread sends a reset, which can overtake the answer on its way to the client.
REFUSE_LINGER_S = 0.5
_HEAD_END = b"\r\n\r\n"
_LOGGED_URL_BYTES = 256
# How far the request line of the head being read has come (414 or 431 when the head overflows).
_LINE_NONE, _LINE_STARTED, _LINE_DONE = 0, 1, 2


class HttpConnection(asyncio.Protocol):
    """One client connection; hands complete requests to the app one at a time, in arrival order."""

    def __init__(
        self, app: ScorerApp, connections: set[HttpConnection], activity: asyncio.Event | None = None
    ) -> None:
        self._app = app
        self._connections = connections
        self._activity = activity  # wakes the server's log flusher (set when a request comes or goes)
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._pending: deque[Request] = deque()
        self._in_app = False
        self._reading = True
        # set once a request broke a limit or could not be parsed: nothing more is read or parsed
        self._refused = False
        self._linger: asyncio.TimerHandle | None = None
        self.closed = False
        self.client: tuple[str, int] | None = None
        self.last_active = time.monotonic()
        self._body_left = 0  # with a Content-Length: bytes of it still to come
        self._chunked: ChunkedFraming | None = None
        self._in_head = True
        self._head_bytes = 0
        self._head_tail = b""
        self._line = _LINE_NONE
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
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None

    def data_received(self, data: bytes) -> None:
        self.last_active = time.monotonic()
        self._wake()
        view = memoryview(data)
        pos, size = 0, len(data)
        try:
            while pos < size and not self._refused:
                pos = self._feed_head(data, view, pos) if self._in_head else self._feed_body(data, view, pos)
        except httptools.HttpParserUpgrade:
            self._refuse(BadInput("Protocol upgrades are not supported."))
        except httptools.HttpParserError as ex:
            self._refuse(BadInput(f"Malformed HTTP request: {ex}"))
        except ScorerError as error:  # from the chunked framing
            self._refuse(error)

    # httptools callbacks

    def on_message_begin(self) -> None:
        self._reset()

    def on_url(self, url: bytes) -> None:
        if not self._refused:
            self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._refused:
            self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._in_head = False
        if self._refused:
            return
        length, chunked, expect = 0, False, False
        for name, value in self._headers:
            size = len(name)
            if size == 14 and name.lower() == b"content-length":
                length = int(value)  # llhttp has checked it: digits only, one value
            elif size == 17 and name.lower() == b"transfer-encoding":
                chunked = True  # llhttp accepts a request body only when chunked comes last
            elif size == 6 and name.lower() == b"expect":
                expect = value.lower() == b"100-continue"
        self._body_left = length
        self._chunked = ChunkedFraming() if chunked else None
        if length > self._app.max_body_bytes:
            # answered before the body is read; with 100-continue the client never sends it
            self._refuse(self._body_too_large())
        elif expect and self._transport is not None and not self.closed:
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        if self._refused:
            return
        self._body_size += len(body)
        if self._body_size > self._app.max_body_bytes:
            self._body.clear()
            self._refuse(self._body_too_large())
        else:
            self._body.append(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        if self._chunked is not None and not self._chunked.done:
            self._refuse(BadInput("Malformed chunked body: it ended before its last chunk."))
            return
        self._chunked = None
        self._next_head()
        self._enqueue(self._request())

    def _wake(self) -> None:
        activity = self._activity
        if activity is not None and not activity.is_set():
            activity.set()

    # used by the app

    def send(self, data: bytes, close: bool) -> None:
        """Write one complete response; then hand over the next pipelined request, if any."""
        self._in_app = False
        self.last_active = time.monotonic()
        self._wake()
        transport = self._transport
        if self.closed or transport is None:
            return
        transport.write(data)
        if close:
            if self._refused:
                self._close_after_answer(transport)
            else:
                self.close()
            return
        while self._pending and not self._in_app and not self.closed:
            self._dispatch(self._pending.popleft())
        if not self._pending and not self._reading and not self.closed and not self._refused:
            self._reading = True
            transport.resume_reading()

    def close(self) -> None:
        self.closed = True
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()

    @property
    def idle(self) -> bool:
        return not self._in_app

    # feeding the parser

    def _feed_head(self, data: bytes, view: memoryview, pos: int) -> int:
        """Feed the head being read, up to its end if that is in `data`; returns where feeding stopped.

        httptools keeps an unfinished header line in memory, so the parser is never given more than
        MAX_HEAD_BYTES of one head: what a client sends cannot grow the worker.
        """
        room = MAX_HEAD_BYTES - self._head_bytes
        if room <= 0:
            # one byte past the limit has arrived and the head has not ended
            self._refuse(self._head_too_large())
            return len(data)
        stop = min(len(data), pos + room)
        if self._head_tail:
            end = self._head_end(data, pos, stop)
        else:
            found = data.find(_HEAD_END, pos, stop)
            end = stop if found < 0 else found + 4
        self._head_bytes += end - pos
        self._parser.feed_data(view[pos:end])
        if self._in_head and self._head_bytes:
            # The head goes on in the next read (the usual head ends within one and skips this).
            self._head_tail = (self._head_tail + data[max(pos, end - 3) : end])[-3:]
            if self._line != _LINE_DONE:
                self._track_request_line(data, pos, end)
        return end

    def _head_end(self, data: bytes, pos: int, stop: int) -> int:
        """Just past the blank line ending a head begun in an earlier read, if in data[pos:stop]; else stop.

        Feeding no further keeps a pipelined request's head counted from its first byte; a blank line
        before a request (which the parser skips) only ends a feed early.
        """
        tail = self._head_tail
        for kept in (3, 2, 1):
            if tail.endswith(_HEAD_END[:kept]) and data.startswith(_HEAD_END[kept:], pos, stop):
                return pos + 4 - kept
        found = data.find(_HEAD_END, pos, stop)
        return stop if found < 0 else found + 4

    def _track_request_line(self, data: bytes, pos: int, end: int) -> None:
        if self._line == _LINE_NONE:
            if data[pos] in b"\r\n":  # empty lines before a request line are skipped
                pos = end - len(data[pos:end].lstrip(b"\r\n"))
                if pos == end:
                    return
            self._line = _LINE_STARTED
        if data.find(b"\n", pos, end) >= 0:
            self._line = _LINE_DONE

    def _feed_body(self, data: bytes, view: memoryview, pos: int) -> int:
        """Feed body bytes, never past the body's end."""
        framing = self._chunked
        if framing is not None:
            end = framing.advance(data, pos, len(data))
            self._parser.feed_data(view[pos:end])
            if framing.done and not self._in_head:
                self._refuse(BadInput("Malformed chunked body: it went on after its last chunk."))
            return end
        count = min(self._body_left, len(data) - pos)
        if count <= 0:  # not expected: the parser ends a body with a Content-Length itself
            count = len(data) - pos
        self._body_left -= count
        self._parser.feed_data(view[pos : pos + count])
        return pos + count

    # internals

    def _enqueue(self, request: Request) -> None:
        if self._in_app:
            self._pending.append(request)
            self._pause_reading()
        else:
            self._dispatch(request)

    def _dispatch(self, request: Request) -> None:
        self._in_app = True
        self._app.handle(request)

    def _pause_reading(self) -> None:
        if self._reading and self._transport is not None:
            self._reading = False
            self._transport.pause_reading()

    def _reset(self) -> None:
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._body_size = 0

    def _next_head(self) -> None:
        self._in_head = True
        self._head_bytes = 0
        self._head_tail = b""
        self._line = _LINE_NONE

    def _head_too_large(self) -> ScorerError:
        if self._line != _LINE_DONE:
            return UriTooLong(
                f"The request line (method, URL, HTTP version) exceeds the {MAX_HEAD_BYTES}-byte "
                "limit of the request head; send long inputs in the body."
            )
        return HeaderTooLarge(
            f"The request line and headers exceed {MAX_HEAD_BYTES} bytes (the request head limit)."
        )

    def _body_too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"Request body exceeds max_request_body_bytes={self._app.max_body_bytes} bytes."
        )

    def _refuse(self, error: ScorerError) -> None:
        """Stop reading and parsing; answer `error` in turn (after earlier pipelined requests), then close."""
        if self._refused:
            return
        self._refused = True
        self._pause_reading()
        if self.closed:
            return
        method = self._parser.get_method().decode("latin-1") if self._url else ""
        # the URL may be most of 64 KiB: the access log gets its path's start
        path = self._url[:_LOGGED_URL_BYTES].partition(b"?")[0].decode("latin-1")
        request = Request(
            method, path, "", self._headers, b"", keep_alive=False, conn=self, client=self.client
        )
        request.error = error
        self._enqueue(request)

    def _close_after_answer(self, transport: asyncio.Transport) -> None:
        # The client may still be sending: half-close, so it reads the answer to its end, and close
        # for good a moment later. Reading stays paused: what it sends meanwhile is never buffered here.
        self.closed = True
        if transport.can_write_eof():
            transport.write_eof()
        self._linger = asyncio.get_running_loop().call_later(REFUSE_LINGER_S, self.close)

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
        return Request(
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
