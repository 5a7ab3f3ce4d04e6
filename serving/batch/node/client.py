"""The node's side of the internal API: lease, heartbeat, complete over one keep-alive connection."""

from __future__ import annotations

import contextlib
import http.client
import socket
import urllib.parse
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from serving.batch.protocol import (
    NODE_SECRET_HEADER,
    Heartbeat,
    HeartbeatAnswer,
    Lease,
    LeaseRequest,
    Leases,
    Report,
    ReportAnswer,
)

_M = TypeVar("_M", bound=BaseModel)

# Answers that mean "ask again later" rather than "this request is wrong".
_RETRY_STATUSES = frozenset({401, 403, 408, 425, 429})
# Answers to /internal/complete that mean the attempt will never be accepted.
_REFUSED_STATUSES = frozenset({404, 409, 410})


class ControllerUnavailable(Exception):
    """The controller could not be reached or answered with an error worth retrying."""


class ControllerRejected(Exception):
    """The controller refused the request for good (a 4xx other than the retryable ones)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class ControllerClient:
    """Not thread-safe: each thread that talks to the controller owns one."""

    def __init__(self, base_url: str, secret: str, timeout_s: float) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"controller URL must be http(s)://host[:port], got {base_url!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._secret = secret
        self._timeout_s = timeout_s
        self._conn: http.client.HTTPConnection | None = None
        self._interrupted = False

    def lease(self, request: LeaseRequest) -> list[Lease]:
        """A bundle of leases, or none when the controller has no work for this request (204).

        A request with `wait_s` may be held that long by the controller: it gets that much more time."""
        status, body = self._post("/internal/lease", request, request.wait_s)
        if status == 204 or not body:
            return []
        return self._parse(Leases, body, "/internal/lease").leases

    def heartbeat(self, beat: Heartbeat) -> HeartbeatAnswer:
        _, body = self._post("/internal/heartbeat", beat)
        return self._parse(HeartbeatAnswer, body, "/internal/heartbeat") if body else HeartbeatAnswer()

    def complete(self, report: Report) -> ReportAnswer:
        try:
            _, body = self._post("/internal/complete", report)
        except ControllerRejected as error:
            if error.status in _REFUSED_STATUSES:
                return ReportAnswer(accepted=[False] * len(report.completions))
            raise
        answer = self._parse(ReportAnswer, body, "/internal/complete")
        if len(answer.accepted) != len(report.completions):
            raise ControllerUnavailable(
                f"POST /internal/complete: {len(answer.accepted)} answers for "
                f"{len(report.completions)} completions"
            )
        return answer

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def interrupt(self) -> None:
        """From another thread: end the request in flight (a lease waiting for work when the node stops).

        It fails with ControllerUnavailable instead of being retried; the next request opens a fresh
        connection."""
        self._interrupted = True
        conn = self._conn
        sock = conn.sock if conn is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _post(self, path: str, message: BaseModel, extra_timeout_s: float = 0.0) -> tuple[int, bytes]:
        payload = message.model_dump_json().encode()
        headers = {
            "Content-Type": "application/json",
            NODE_SECRET_HEADER: self._secret,
        }
        # A kept-alive connection the controller closed (restart, idle timeout) fails on its next use:
        # one immediate retry on a fresh connection tells that apart from a controller that is down.
        # Sending again is safe: completions are idempotent by token, and a lease whose answer was
        # lost is never heartbeated, so the controller takes it back.
        for _ in (0, 1):
            reused = self._conn is not None
            conn = self._connection()
            conn.timeout = self._timeout_s + extra_timeout_s  # used when it connects
            if conn.sock is not None:
                conn.sock.settimeout(conn.timeout)
            try:
                conn.request("POST", self._prefix + path, body=payload, headers=headers)
                response = conn.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as error:
                self.close()
                if self._interrupted:
                    self._interrupted = False
                    raise ControllerUnavailable(f"POST {path}: interrupted (the node is stopping)") from error
                if reused and not isinstance(error, TimeoutError):  # a hung controller: no second wait
                    continue
                raise ControllerUnavailable(f"POST {path}: {type(error).__name__}: {error}") from error
            if response.will_close:
                self.close()
            return self._check(path, response.status, body)
        raise AssertionError("unreachable")

    def _check(self, path: str, status: int, body: bytes) -> tuple[int, bytes]:
        if status < 300:
            return status, body
        text = body[:300].decode("utf-8", "replace")
        if status >= 500 or status in _RETRY_STATUSES:
            raise ControllerUnavailable(f"POST {path}: HTTP {status}: {text}")
        raise ControllerRejected(f"POST {path}: HTTP {status}: {text}", status)

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = cls(self._host, self._port, timeout=self._timeout_s)
        return self._conn

    @staticmethod
    def _parse(model: type[_M], body: bytes, path: str) -> _M:
        try:
            return model.model_validate_json(body)
        except ValidationError as error:
            raise ControllerUnavailable(f"POST {path}: unexpected answer {body[:200]!r}: {error}") from error
