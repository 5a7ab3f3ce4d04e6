"""The pre-fork supervisor: WORKER_COUNT workers, start-up probe answers, respawn, stuck-run watchdog."""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import socket
import time
from types import FrameType

from serving.limits import MAX_HEAD_BYTES
from serving.scorer.logs import flush_streams
from serving.scorer.messages import HeadEncoder
from serving.scorer.responses import startup_answer
from serving.scorer.settings import ScorerSettings
from serving.scorer.shared import SharedState
from serving.scorer.version import SERVER_VERSION
from serving.scorer.worker import worker_main

log = logging.getLogger("mlendpoints.scorer")

_TICK_S = 0.25
_FAST_CRASH_S = 5.0
_MAX_BACKOFF_S = 30.0
_PROBE_READ_TIMEOUT_S = 1.0
_PROBE_MAX_BYTES = 1024 * 1024


class Supervisor:
    """Owns the listening socket; workers accept from it, the supervisor only while none has left init()."""

    def __init__(self, settings: ScorerSettings, sock: socket.socket) -> None:
        self.settings = settings
        self.sock = sock
        self.shared = SharedState.create(settings.worker_count, settings.concurrency)
        self._pids: dict[int, int] = {}
        self._started_at: dict[int, float] = {}
        self._backoff: dict[int, float] = {}
        self._respawn_at: dict[int, float] = {}
        self._stopping = False
        self._encoder = HeadEncoder(SERVER_VERSION)
        self._wake_r, self._wake_w = os.pipe()

    def run(self) -> int:
        os.set_blocking(self._wake_w, False)
        os.set_blocking(self._wake_r, False)
        # Workers' event loops need a non-blocking socket; the supervisor must not block in accept() either.
        self.sock.setblocking(False)
        previous_wakeup = signal.set_wakeup_fd(self._wake_w)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_stop)
        signal.signal(signal.SIGCHLD, self._on_child)
        log.info(
            "scorer supervisor %d on %s:%d with %d worker(s), %d concurrent run(s), timeout %d ms",
            os.getpid(),
            self.settings.host,
            self.sock.getsockname()[1],
            self.settings.worker_count,
            self.settings.concurrency,
            self.settings.request_timeout_ms,
        )
        try:
            for index in range(self.settings.worker_count):
                self._spawn(index)
            while not self._stopping:
                self._tick()
            self._shutdown()
        finally:
            signal.set_wakeup_fd(previous_wakeup)
            flush_streams()
        return 0

    def _tick(self) -> None:
        watch = [self._wake_r]
        if self._pids and self.shared.all_starting():
            watch.append(self.sock.fileno())
        try:
            readable, _, _ = select.select(watch, [], [], _TICK_S)
        except InterruptedError:
            readable = []
        if self._wake_r in readable:
            self._drain_wake_pipe()
        if self.sock.fileno() in readable:
            self._answer_startup_probe()
        self._reap()
        self._watchdog()
        self._respawn_due()
        flush_streams()

    def _spawn(self, index: int) -> None:
        self.shared.reset(index)
        flush_streams()
        supervisor_pid = os.getpid()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                signal.set_wakeup_fd(-1)
                os.close(self._wake_r)
                os.close(self._wake_w)
                code = worker_main(self.settings, self.sock, self.shared, index, supervisor_pid)
            except BaseException:
                log.exception("worker %d crashed", os.getpid())
            finally:
                flush_streams()
                os._exit(code)
        self._pids[pid] = index
        self._started_at[index] = time.monotonic()
        log.info("started worker %d (slot %d)", pid, index)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            index = self._pids.pop(pid, None)
            if index is None:
                continue
            self.shared.reset(index)
            if self._stopping:
                continue
            log.error("worker %d (slot %d) exited: %s", pid, index, _describe_status(status))
            lived = time.monotonic() - self._started_at.get(index, 0.0)
            backoff = min(_MAX_BACKOFF_S, self._backoff.get(index, 0.5) * 2) if lived < _FAST_CRASH_S else 0.0
            self._backoff[index] = backoff or 0.5
            self._respawn_at[index] = time.monotonic() + backoff

    def _respawn_due(self) -> None:
        now = time.monotonic()
        for index, when in list(self._respawn_at.items()):
            if when <= now and not self._stopping:
                del self._respawn_at[index]
                self._spawn(index)

    def _watchdog(self) -> None:
        now = time.monotonic()
        for pid, index in list(self._pids.items()):
            started = self.shared.run_started[index]
            if started and now - started > self.settings.kill_after_s:
                log.error(
                    "worker %d has been inside run() for %.1f s, past request_timeout_ms=%d and the "
                    "timeout exception; replacing it (its in-flight connections are dropped)",
                    pid,
                    now - started,
                    self.settings.request_timeout_ms,
                )
                self.shared.run_started[index] = 0.0
                _kill(pid, signal.SIGKILL)

    def _answer_startup_probe(self) -> None:
        # Re-checked right before accept(): a worker marks itself ready before it starts accepting, so from
        # here on connections are left to the workers (the window left is the few microseconds until accept).
        if not self.shared.all_starting():
            return
        try:
            conn, _ = self.sock.accept()
        except (BlockingIOError, InterruptedError):
            return  # a worker took it
        with conn:
            try:
                conn.settimeout(_PROBE_READ_TIMEOUT_S)
                method, path = _read_request(conn)
                starting = sum(1 for state in self.shared.states if state == 0)
                message = (
                    f"The scoring script's init() is still running ({starting} of "
                    f"{self.settings.worker_count} workers starting); retry when GET /readyz answers 200."
                )
                conn.sendall(startup_answer(self._encoder, method, path, message))
            except OSError:
                return

    def _shutdown(self) -> None:
        log.info("stopping %d worker(s)", len(self._pids))
        for pid in list(self._pids):
            _kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.settings.graceful_timeout_s + 1.0
        while self._pids and time.monotonic() < deadline:
            self._reap()
            time.sleep(0.02)
        for pid in list(self._pids):
            _kill(pid, signal.SIGKILL)
        while self._pids:
            try:
                pid, _ = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            self._pids.pop(pid, None)

    def _drain_wake_pipe(self) -> None:
        try:
            while os.read(self._wake_r, 512):
                pass
        except BlockingIOError:
            pass

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True

    def _on_child(self, signum: int, frame: FrameType | None) -> None:
        return None  # wakes select() through the wakeup fd; reaping happens in _tick


def _read_request(conn: socket.socket) -> tuple[str, str]:
    """Method and path of a probe; the body is read and dropped so closing does not reset the connection."""
    data = b""
    while b"\r\n\r\n" not in data and len(data) < MAX_HEAD_BYTES:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ") if lines else []
    method = parts[0].decode("latin-1") if parts else "GET"
    target = parts[1].decode("latin-1") if len(parts) > 1 else "/"
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            length = min(int(value.strip()), _PROBE_MAX_BYTES)
    remaining = length - len(body)
    while remaining > 0:
        chunk = conn.recv(min(65536, remaining))
        if not chunk:
            break
        remaining -= len(chunk)
    return method, target.split("?", 1)[0]


def _describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit code {os.waitstatus_to_exitcode(status)}"


def _kill(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)
