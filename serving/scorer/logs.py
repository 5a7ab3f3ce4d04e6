"""Log setup: user logging/print on stdout, one JSON line per request, flushes batched while serving."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from json.encoder import encode_basestring
from typing import TextIO

SCORER_LOGGER = "mlendpoints.scorer"
FORMAT = "%(asctime)s.%(msecs)03dZ %(levelname)s [%(process)d] %(name)s - %(message)s"
DATEFMT = "%Y-%m-%dT%H:%M:%S"


class DeferredFlushHandler(logging.StreamHandler):  # type: ignore[type-arg, unused-ignore]
    """A stdout handler whose per-record flush is switched off while the event loop flushes periodically."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self.deferred = False

    def flush(self) -> None:
        if not self.deferred:
            super().flush()


def configure_logging(level: str) -> DeferredFlushHandler:
    """Root logger to stdout at `level` (AZUREML_LOG_LEVEL), so the user's logging.info() is visible."""
    handler = DeferredFlushHandler(sys.stdout)
    formatter = logging.Formatter(FORMAT, DATEFMT)
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for existing in list(root.handlers):
        if isinstance(existing, DeferredFlushHandler):
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    return handler


def set_deferred_flush(deferred: bool) -> None:
    """Serving: stdout block-buffered and flushed by the loop; at start-up every line goes out at once."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, DeferredFlushHandler):
            handler.deferred = deferred
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None and not sys.stdout.isatty():
        reconfigure(line_buffering=not deferred)
    if not deferred:
        flush_streams()


def flush_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()


class AccessLog:
    """One JSON line per request on stdout: time, pid, request ids, method, path, status, durations."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._pid = os.getpid()
        self._second = -1
        self._stamp = ""

    def write(
        self,
        *,
        method: str,
        path: str,
        status: int,
        duration_ms: float,
        run_ms: float,
        request_id: str,
        client_request_id: str,
    ) -> None:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        quote = encode_basestring
        (self._stream or sys.stdout).write(
            f'{{"time": "{self._stamp}.{int((now - second) * 1000):03d}Z", '
            f'"level": "{"INFO" if status < 500 else "ERROR"}", "logger": "mlendpoints.scorer.access", '
            f'"pid": {self._pid}, "request_id": {quote(request_id)}, '
            f'"client_request_id": {quote(client_request_id)}, "method": {quote(method)}, '
            f'"path": {quote(path)}, "status": {status}, '
            f'"duration_ms": {duration_ms:.3f}, "run_ms": {run_ms:.3f}}}\n'
        )
