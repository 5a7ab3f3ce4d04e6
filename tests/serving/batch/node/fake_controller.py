"""A fake batch controller: the internal API over protocol.py models, scripted by the tests."""

from __future__ import annotations

import contextlib
import http.server
import itertools
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from serving.batch.protocol import (
    NODE_SECRET_HEADER,
    Completion,
    Heartbeat,
    HeartbeatAnswer,
    Lease,
    LeaseRequest,
    Leases,
    Report,
    ReportAnswer,
)

SECRET = "node-secret-for-tests"
WAIT_S = 60.0


class FakeController:
    """Hands out queued leases, records every request, answers what the test scripted."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Condition()
        self._queue: list[Lease] = []
        self._tokens = itertools.count()
        self.lease_requests: list[LeaseRequest] = []
        # Lease token -> the route that handed it out: "lease", or "complete" (with a completion).
        self.handed_by: dict[str, str] = {}
        self.heartbeats: list[Heartbeat] = []
        self.completions: list[Completion] = []
        self.reports: list[Report] = []
        # Most leases of one job handed in one answer (also capped by the request's max_minibatches).
        self.bundle = 1
        # Hold lease requests that ask to wait (wait_s) while there is nothing queued, as the real
        # controller does; off by default, so most tests see an answer at once.
        self.hold = False
        self.holding = 0
        self.to_abandon: set[str] = set()
        self.accept: Callable[[Completion], bool] = lambda _: True
        # Answer every request with this status (a controller that is up but failing), when set.
        self.fail_status: int | None = None
        self.unauthorized = 0
        self.failed_on_purpose = 0
        self._server: http.server.ThreadingHTTPServer | None = None
        self._sockets: set[socket.socket] = set()
        self.port = 0

    # ---------------------------------------------------------------- server

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        controller = self

        class Handler(_Handler):
            fake = controller

        server = _Server(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        """Down like a killed controller: the port refuses connections, open ones are cut."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            sockets, self._sockets = set(self._sockets), set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def track(self, sock: socket.socket, alive: bool) -> None:
        with self._lock:
            (self._sockets.add if alive else self._sockets.discard)(sock)

    # ---------------------------------------------------------------- scripting

    def add(
        self,
        job: str,
        files: list[str],
        minibatch: int = 0,
        attempt: int = 0,
        timeout_s: float = 60.0,
        output_action: str = "append_row",
    ) -> Lease:
        job_dir = self.root / "jobs" / job
        token = f"{job}-{minibatch}-{attempt}-{next(self._tokens)}"
        lease = Lease.model_validate(
            {
                "token": token,
                "job": job,
                "minibatch": minibatch,
                "attempt": attempt,
                "files": files,
                "timeout_s": timeout_s,
                "output_action": output_action,
                "part_path": str(job_dir / "parts" / f"{minibatch:06d}-{attempt}-{token}.part"),
                "output_path": str(job_dir / "score"),
                "user_log_dir": str(job_dir),  # the job folder, as the controller sends it
                "logging_level": "info",
            }
        )
        with self._lock:
            self._queue.append(lease)
        return lease

    def next_leases(self, request: LeaseRequest) -> list[Lease]:
        """The first queued lease the request may take, and after it more of the same job, in order."""
        with self._lock:
            self.lease_requests.append(request)
            if self.hold and request.wait_s > 0:
                self.holding += 1
                self._lock.notify_all()
                self._lock.wait_for(lambda: bool(self._queue), request.wait_s)
                self.holding -= 1
            handed: list[Lease] = []
            for lease in list(self._queue):
                if len(handed) >= min(self.bundle, request.max_minibatches):
                    break
                job = handed[0].job if handed else request.job
                if job is None or job == lease.job:
                    self._queue.remove(lease)
                    handed.append(lease)
            self._lock.notify_all()
            return handed

    def record(self, item: Any) -> None:
        with self._lock:
            if isinstance(item, Report):
                self.reports.append(item)
                self.completions.extend(item.completions)
            else:
                self.heartbeats.append(item)
            self._lock.notify_all()

    def count_failure(self) -> None:
        with self._lock:
            self.failed_on_purpose += 1
            self._lock.notify_all()

    def wait_until(self, predicate: Callable[[], Any], timeout: float = WAIT_S, what: str = "") -> Any:
        """Wait for a condition on what the controller saw; fails the test after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                value = predicate()
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out waiting for {what or predicate}")
                self._lock.wait(min(remaining, 0.1))

    def completion(self, token: str, timeout: float = WAIT_S) -> Completion:
        return self.wait_until(
            lambda: next((c for c in self.completions if c.token == token), None),
            timeout,
            f"the completion of {token}",
        )

    def rows_of(self, lease: Lease) -> str:
        """The rows a succeeded attempt reported: its range of its bundle's part file, or its whole file."""
        done = self.completion(lease.token)
        if done.part is None:
            return read_text(lease.part_path)
        with open(done.part.path, "rb") as handle:
            handle.seek(done.part.offset)
            return handle.read(done.part.length).decode("utf-8")

    def completions_of(self, token: str) -> list[Completion]:
        with self._lock:
            return [c for c in self.completions if c.token == token]

    def heartbeat_with(self, token: str) -> Heartbeat:
        return self.wait_until(
            lambda: next((h for h in self.heartbeats if token in h.tokens), None),
            what=f"a heartbeat carrying {token}",
        )


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # connections cut by stop() on purpose


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeController

    def setup(self) -> None:
        super().setup()
        self.fake.track(self.connection, True)

    def finish(self) -> None:
        self.fake.track(self.connection, False)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        fake = self.fake
        if self.headers.get(NODE_SECRET_HEADER) != SECRET:
            fake.unauthorized += 1
            return self._answer(401, {"message": "bad node secret"})
        if fake.fail_status is not None:
            fake.count_failure()
            return self._answer(fake.fail_status, {"message": "failing on purpose"})
        if self.path == "/internal/lease":
            leases = fake.next_leases(LeaseRequest.model_validate_json(body))
            if not leases:
                return self._answer(204, None)
            for lease in leases:
                fake.handed_by[lease.token] = "lease"
            return self._answer(200, Leases(leases=leases).model_dump(mode="json"))
        if self.path == "/internal/heartbeat":
            beat = Heartbeat.model_validate_json(body)
            fake.record(beat)
            abandon = sorted(fake.to_abandon & set(beat.tokens))
            return self._answer(200, HeartbeatAnswer(abandon=abandon).model_dump(mode="json"))
        if self.path == "/internal/complete":
            report = Report.model_validate_json(body)
            fake.record(report)
            accepted = [fake.accept(completion) for completion in report.completions]
            # As the controller does: the worker's next bundle in the same answer, when asked.
            leases = [] if report.next_lease is None else fake.next_leases(report.next_lease)
            for lease in leases:
                fake.handed_by[lease.token] = "complete"
            answer = ReportAnswer(accepted=accepted, leases=leases)
            return self._answer(200, answer.model_dump(mode="json"))
        return self._answer(404, {"message": f"no route {self.path}"})

    def _answer(self, status: int, payload: Any) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextlib.contextmanager
def running_controller(root: Path) -> Iterator[FakeController]:
    fake = FakeController(root)
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


def read_text(path: str | os.PathLike[str]) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()
