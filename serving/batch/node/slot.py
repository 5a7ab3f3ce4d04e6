"""One worker slot of the node: lease -> hand to the worker process -> watch it -> report the outcome."""

from __future__ import annotations

import logging
import threading
import time
from multiprocessing.connection import wait

from serving.batch.node.client import ControllerClient, ControllerRejected, ControllerUnavailable
from serving.batch.node.process import WorkerProcess
from serving.batch.node.rows import name_files, remove_part
from serving.batch.node.settings import NodeSettings
from serving.batch.node.state import NodeState, Waker
from serving.batch.node.worker import DONE, RUNNING, Outcome, WorkerConfig, decode_message
from serving.batch.protocol import Completion, FailureKind, Lease, LeaseRequest

log = logging.getLogger("mlendpoints.batch.node")

_RETRY_MIN_S = 0.2
_RETRY_MAX_S = 5.0
_IDLE_POLL_MIN_S = 0.1
_CRASH_BACKOFF_MAX_S = 10.0


def init_limit_s(timeout_s: float) -> float:
    """How long init() may take: Azure fails a job whose workers are "stuck on init for more than
    3 * run_invocation_timeout + 30 seconds" (v1/how-to-debug-parallel-run-step)."""
    return 3 * timeout_s + 30


def _phase(in_init: bool) -> str:
    return "while importing the driver or in init()" if in_init else "while running run()"


class Slot(threading.Thread):
    """Keeps one worker process busy; everything that touches that process happens on this thread."""

    def __init__(self, index: int, settings: NodeSettings, state: NodeState, supervisor_pid: int) -> None:
        super().__init__(name=f"slot-{index}", daemon=True)
        self.index = index
        self.settings = settings
        self.state = state
        self.supervisor_pid = supervisor_pid
        self.client = ControllerClient(
            settings.controller_url, settings.node_secret.get_secret_value(), settings.http_timeout_s
        )
        self.waker = Waker()
        state.add_waker(self.waker)
        self.worker: WorkerProcess | None = None
        self._abandon_lock = threading.Lock()
        self._abandoned: set[str] = set()
        self._crashes = 0
        # The worker's next lease, received with the previous completion (one round trip, not two).
        self._next: Lease | None = None

    # ---------------------------------------------------------------- main loop

    def run(self) -> None:
        try:
            while not self.state.stopping.is_set():
                try:
                    self._loop()
                except Exception:  # a bug here must not leave the node one worker short for good
                    log.exception("slot %d failed; starting over with a fresh worker", self.index)
                    if self.worker is not None:
                        self.worker.kill()
                        self.worker = None
                    self._pause(_RETRY_MAX_S)
        finally:
            self._retire()
            self.client.close()

    def _loop(self) -> None:
        idle_pause = _IDLE_POLL_MIN_S
        retry_pause = _RETRY_MIN_S
        while not self.state.stopping.is_set():
            worker = self._live_worker()
            if worker is None:
                continue
            lease, self._next = self._next, None
            try:
                if lease is None:
                    lease = self.client.lease(self._lease_request(worker))
            except (ControllerUnavailable, ControllerRejected) as error:
                log.warning("lease for %s: %s; retrying in %.1f s", worker.name, error, retry_pause)
                self._pause(retry_pause)
                retry_pause = min(_RETRY_MAX_S, retry_pause * 2)
                continue
            retry_pause = _RETRY_MIN_S
            if lease is None:
                if worker.job is not None:
                    log.info("job %s has no more work for %s: the process exits", worker.job, worker.name)
                    self._retire()
                    continue
                self._pause(idle_pause)
                idle_pause = min(self.settings.lease_poll_max_s, idle_pause * 2)
                continue
            idle_pause = _IDLE_POLL_MIN_S
            if self.state.stopping.is_set():
                # Not started, not heartbeated: the controller takes it back after LEASE_EXPIRY_S.
                log.info("node stopping: lease %s (job %s) left unstarted", lease.token, lease.job)
                return
            self._serve(worker, lease)

    def _lease_request(self, worker: WorkerProcess) -> LeaseRequest:
        return LeaseRequest(
            node=self.settings.node_name,
            deployment=self.settings.deployment,
            process=worker.number,
            job=worker.job,
        )

    def abandon(self, token: str) -> None:
        """Called by the heartbeat thread: the controller wants this token's work stopped."""
        with self._abandon_lock:
            self._abandoned.add(token)
        self.waker.poke()

    # ---------------------------------------------------------------- one lease

    def _serve(self, worker: WorkerProcess, lease: Lease) -> None:
        if worker.job is not None and worker.job != lease.job:
            log.error("asked for job %s, leased %s: starting a fresh worker for it", worker.job, lease.job)
            self._retire()
            worker = self._spawn()
        worker.job = lease.job
        self.state.track(lease.token, self.abandon)
        try:
            log.info(
                "%s: job %s mini-batch %d attempt %d (%d files)",
                worker.name,
                lease.job,
                lease.minibatch,
                lease.attempt,
                len(lease.files),
            )
            completion = self._execute(worker, lease)
            if completion is not None:
                # The worker's next lease comes with the answer, unless it is gone or the node stops.
                if self.worker is worker and not self.state.stopping.is_set():
                    completion = completion.model_copy(update={"next_lease": self._lease_request(worker)})
                self._deliver(completion, lease)
        finally:
            self.state.untrack(lease.token)
            with self._abandon_lock:
                self._abandoned.discard(lease.token)

    def _execute(self, worker: WorkerProcess, lease: Lease) -> Completion | None:
        """Run the lease on the worker; a Completion to report, or None when the work is dropped."""
        started = time.monotonic()
        in_init = not worker.initialized
        deadline = started + (init_limit_s(lease.timeout_s) if in_init else lease.timeout_s)
        try:
            worker.send(lease)
        except OSError:
            return self._lost_worker(worker, lease, started, "before run() started")
        while True:
            if self._is_abandoned(lease.token):
                log.info(
                    "abandoning %s (job %s mini-batch %d): killing %s",
                    lease.token,
                    lease.job,
                    lease.minibatch,
                    worker.name,
                )
                self._drop_worker(worker, lease)
                return None
            if self.state.past_stop_deadline():
                log.warning(
                    "node stopping: %s killed in the middle of job %s mini-batch %d",
                    worker.name,
                    lease.job,
                    lease.minibatch,
                )
                self._drop_worker(worker, lease)
                return None
            now = time.monotonic()
            if now >= deadline:
                return self._timed_out(worker, lease, started, in_init)
            limit = deadline - now
            to_stop = self.state.seconds_to_stop_deadline()
            if to_stop is not None:
                limit = min(limit, to_stop)
            ready = wait([worker.conn, worker.sentinel, self.waker.fd], timeout=limit)
            if self.waker.fd in ready:
                self.waker.drain()
            if worker.conn in ready:
                try:
                    kind, token, outcome = decode_message(worker.conn.recv_bytes())
                except (EOFError, OSError):
                    return self._lost_worker(worker, lease, started, _phase(in_init))
                except (ValueError, KeyError, TypeError) as error:
                    log.error("%s sent a malformed message: %s; killing it", worker.name, error)
                    return self._lost_worker(worker, lease, started, "after a malformed message")
                if token != lease.token:
                    continue
                if kind == RUNNING:
                    worker.initialized = True
                    in_init = False
                    deadline = time.monotonic() + lease.timeout_s
                    continue
                if kind == DONE and outcome is not None:
                    return self._finished(worker, lease, outcome)
            elif worker.sentinel in ready:
                return self._lost_worker(worker, lease, started, _phase(in_init))

    def _finished(self, worker: WorkerProcess, lease: Lease, outcome: Outcome) -> Completion:
        if outcome.failure in ("init_failed", "no_run"):
            worker.reap()  # it exits by itself: the driver cannot serve
            self.worker = None
            self._crashed()
        else:
            self._crashes = 0
        # Validated, not cast: a failure kind the protocol does not know is a bug worth seeing here.
        return Completion.model_validate(
            {
                "token": lease.token,
                "node": self.settings.node_name,
                "process": worker.number,
                "outcome": outcome.outcome,
                "rows": outcome.rows,
                "elapsed_s": outcome.elapsed_s,
                "failure": outcome.failure,
                "error": outcome.error,
            }
        )

    def _timed_out(self, worker: WorkerProcess, lease: Lease, started: float, in_init: bool) -> Completion:
        self._drop_worker(worker, lease)
        files = name_files(lease.files)
        failure: FailureKind
        if in_init:
            limit = init_limit_s(lease.timeout_s)
            error = (
                f"init() did not return within {limit:g} s (3 x retry_settings.timeout + 30, as on Azure); "
                f"{worker.name} was killed and mini-batch {lease.minibatch} (files: {files}) was not run."
            )
            failure = "init_failed"
        else:
            error = (
                f"run() did not return within retry_settings.timeout={lease.timeout_s:g} s on mini-batch "
                f"{lease.minibatch} (attempt {lease.attempt}) of job {lease.job}, files: {files}; "
                f"{worker.name} was killed and a new worker process replaces it."
            )
            failure = "timeout"
        log.warning("%s", error)
        return self._failed(worker, lease, started, failure, error)

    def _lost_worker(self, worker: WorkerProcess, lease: Lease, started: float, when: str) -> Completion:
        self._drop_worker(worker, lease)
        self._crashed()
        error = (
            f"{worker.describe_exit()} {when} on mini-batch {lease.minibatch} (attempt {lease.attempt}) of "
            f"job {lease.job}, files: {name_files(lease.files)}."
        )
        log.error("%s", error)
        return self._failed(worker, lease, started, "worker_died", error)

    def _failed(
        self, worker: WorkerProcess, lease: Lease, started: float, failure: FailureKind, error: str
    ) -> Completion:
        return Completion(
            token=lease.token,
            node=self.settings.node_name,
            process=worker.number,
            outcome="failed",
            elapsed_s=time.monotonic() - started,
            failure=failure,
            error=error,
        )

    def _drop_worker(self, worker: WorkerProcess, lease: Lease) -> None:
        """Kill the worker and delete whatever it may have written for this attempt (never reported)."""
        worker.kill()
        if self.worker is worker:
            self.worker = None
        remove_part(lease.part_path)

    # ---------------------------------------------------------------- completion

    def _deliver(self, completion: Completion, lease: Lease) -> None:
        """Report until the controller answers (it may be restarting); idempotent by token."""
        pause = _RETRY_MIN_S
        while True:
            try:
                answer = self.client.complete(completion)
            except ControllerUnavailable as error:
                if self.state.past_stop_deadline():
                    # The part file stays: the controller may have accepted an attempt whose answer we lost.
                    log.error("node stopping: completion of %s not delivered (%s)", lease.token, error)
                    return
                log.warning("completion of %s: %s; retrying in %.1f s", lease.token, error, pause)
                self._pause(pause, even_when_stopping=True)
                pause = min(_RETRY_MAX_S, pause * 2)
                continue
            except ControllerRejected as error:
                log.error("completion of %s refused: %s", lease.token, error)
                return
            if not answer.accepted:
                log.info("completion of %s not accepted (no longer the current attempt)", lease.token)
                remove_part(lease.part_path)
            self._next = answer.lease
            return

    # ---------------------------------------------------------------- worker processes

    def _live_worker(self) -> WorkerProcess | None:
        if self.worker is not None and not self.worker.is_alive():
            log.error("%s exited while idle: %s", self.worker.name, self.worker.describe_exit())
            self.worker.reap()
            self.worker = None
            self._crashed()
        if self.worker is None:
            backoff = self._crash_backoff()
            if backoff > 0:
                self._pause(backoff)
                if self.state.stopping.is_set():
                    return None
            self.worker = self._spawn()
        return self.worker

    def _spawn(self) -> WorkerProcess:
        config = WorkerConfig(
            node=self.settings.node_name,
            process=self.state.next_process_number(),
            app_root=self.settings.app_root,
            entry_script=self.settings.entry_script,
            model_dir=self.settings.model_dir,
            supervisor_pid=self.supervisor_pid,
        )
        worker = WorkerProcess(config)
        self.worker = worker
        log.info("started %s (pid %s) in slot %d", worker.name, worker.pid, self.index)
        return worker

    def _retire(self) -> None:
        if self.worker is not None:
            self.worker.retire()
            self.worker = None

    def _crashed(self) -> None:
        self._crashes += 1

    def _crash_backoff(self) -> float:
        # The first replacement starts at once; a driver that keeps dying is not restarted in a tight loop.
        if self._crashes < 2:
            return 0.0
        return min(_CRASH_BACKOFF_MAX_S, 0.5 * 2 ** (self._crashes - 2))

    # ---------------------------------------------------------------- helpers

    def _is_abandoned(self, token: str) -> bool:
        with self._abandon_lock:
            return token in self._abandoned

    def _pause(self, seconds: float, even_when_stopping: bool = False) -> None:
        """Sleep, waking early when the node starts stopping (unless told to keep sleeping)."""
        if self.state.stopping.is_set() and not even_when_stopping:
            return
        limit = seconds
        to_stop = self.state.seconds_to_stop_deadline()
        if to_stop is not None:
            limit = min(limit, to_stop)
        if wait([self.waker.fd], timeout=limit):
            self.waker.drain()
