"""One worker slot of the node: lease a bundle -> hand it to the worker process -> watch each run() ->
report the outcomes together."""

from __future__ import annotations

import logging
import threading
import time
from multiprocessing.connection import wait

from serving.batch.node.client import ControllerClient, ControllerRejected, ControllerUnavailable
from serving.batch.node.process import WorkerProcess
from serving.batch.node.rows import name_files, remove_part, sync_parts
from serving.batch.node.settings import NodeSettings
from serving.batch.node.state import NodeState, Waker
from serving.batch.node.worker import Outcome, WorkerConfig, decode_outcomes
from serving.batch.protocol import Completion, FailureKind, Lease, LeaseRequest, Report

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
        self._waiting_for_work = False  # in a lease request the controller may hold (long polling)
        self._crashes = 0
        self._warm_imports = settings.warm_imports
        # Leases this slot holds and has not started: the next bundle, received with the previous
        # report (one round trip, not two), or what a lost worker left of its bundle.
        self._queue: list[Lease] = []
        # The job whose last report's ask came back empty: it has no more work for the worker bound to
        # it (the same question asked again would get the same answer, one round trip later).
        self._job_done: str | None = None

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
            bundle, self._queue = self._queue, []
            job_done, self._job_done = self._job_done, None
            pause_if_empty = True
            try:
                if not bundle and (job_done is None or worker.job != job_done):
                    bundle, pause_if_empty = self._ask(worker)
            except (ControllerUnavailable, ControllerRejected) as error:
                log.warning("lease for %s: %s; retrying in %.1f s", worker.name, error, retry_pause)
                self._pause(retry_pause)
                retry_pause = min(_RETRY_MAX_S, retry_pause * 2)
                continue
            retry_pause = _RETRY_MIN_S
            if not bundle:
                if worker.job is not None:
                    log.info("job %s has no more work for %s: the process exits", worker.job, worker.name)
                    self._retire()
                    continue
                if pause_if_empty:
                    self._pause(idle_pause)
                    idle_pause = min(self.settings.lease_poll_max_s, idle_pause * 2)
                continue
            idle_pause = _IDLE_POLL_MIN_S
            if self.state.stopping.is_set():
                # Not started, not heartbeated: the controller takes them back after LEASE_EXPIRY_S.
                for lease in bundle:
                    self.state.untrack(lease.token)
                    log.info("node stopping: lease %s (job %s) left unstarted", lease.token, lease.job)
                return
            self._serve(worker, bundle)

    def _ask(self, worker: WorkerProcess) -> tuple[list[Lease], bool]:
        """A bundle from the controller, and whether an empty answer calls for a pause before asking
        again: when polling (MLE_BATCH_LEASE_WAIT_S=0), or when the controller answered without holding
        the request for its wait; a held request that ends empty is asked again at once."""
        request = self._lease_request(worker)
        asked = time.monotonic()
        self._waiting_for_work = request.wait_s > 0
        try:
            bundle = self.client.lease(request)
        finally:
            self._waiting_for_work = False
        return bundle, request.wait_s == 0 or time.monotonic() - asked < request.wait_s / 2

    def _lease_request(self, worker: WorkerProcess) -> LeaseRequest:
        # Only a worker bound to no job waits for work; a bound one retires when its job has none.
        return LeaseRequest(
            node=self.settings.node_name,
            deployment=self.settings.deployment,
            process=worker.number,
            job=worker.job,
            max_minibatches=self.settings.max_bundle,
            wait_s=self.settings.lease_wait_s if worker.job is None else 0.0,
        )

    def stop_waiting(self) -> None:
        """Called by the main thread when the node stops: a lease request waiting for work ends now."""
        if self._waiting_for_work:
            self.client.interrupt()

    def abandon(self, token: str) -> None:
        """Called by the heartbeat thread: the controller wants this token's work stopped."""
        with self._abandon_lock:
            self._abandoned.add(token)
        self.waker.poke()

    # ---------------------------------------------------------------- one lease

    def _serve(self, worker: WorkerProcess, bundle: list[Lease]) -> None:
        # Leases the controller took back while this slot held them unstarted are not started at all.
        with self._abandon_lock:
            dropped = {lease.token for lease in bundle if lease.token in self._abandoned}
            self._abandoned -= dropped
        for token in dropped:
            log.info("lease %s taken back before it started", token)
            self.state.untrack(token)
        bundle = [lease for lease in bundle if lease.token not in dropped]
        if not bundle:
            return
        job = bundle[0].job
        if worker.job is not None and worker.job != job:
            log.error("asked for job %s, leased %s: starting a fresh worker for it", worker.job, job)
            self._retire()
            worker = self._spawn()
        worker.job = job
        for lease in bundle:
            self.state.track(lease.token, self.abandon)
        done: list[tuple[Completion, Lease]] = []
        try:
            log.info(
                "%s: job %s mini-batch%s %s (%d files)",
                worker.name,
                job,
                "es" if len(bundle) > 1 else "",
                _describe(bundle),
                sum(len(lease.files) for lease in bundle),
            )
            unstarted = self._execute(worker, bundle, done)
            # What a lost worker did not start goes to the next worker, unless the controller took it back.
            self._queue = [lease for lease in unstarted if not self._is_abandoned(lease.token)]
            if done:
                # The worker's next bundle comes with the answer, unless it has leases left, is gone,
                # or the node stops.
                ask = None
                if not self._queue and self.worker is worker and not self.state.stopping.is_set():
                    ask = self._lease_request(worker)
                self._deliver(done, ask)
        finally:
            kept = {lease.token for lease in self._queue}
            for lease in bundle:
                if lease.token not in kept:
                    self.state.untrack(lease.token)
                    with self._abandon_lock:
                        self._abandoned.discard(lease.token)

    def _execute(
        self, worker: WorkerProcess, bundle: list[Lease], done: list[tuple[Completion, Lease]]
    ) -> list[Lease]:
        """Run the bundle on the worker, appending what to report to `done` (nothing for dropped work).

        Returns the leases for the next worker: those never started, and those a lost worker finished
        without reporting (their rows sit in a part file no accepted completion names, so nothing of
        them is merged; run again, with the same token, they count no retry)."""
        sent = time.monotonic()
        try:
            worker.send(bundle)
        except OSError:
            done.append(
                (self._lost_worker(worker, bundle[0], sent, "before run() started", bundle[0]), bundle[0])
            )
            return bundle[1:]
        reported = 0  # leases whose outcome the worker sent back, in the bundle's order
        while True:
            current, started, in_init = _position(worker, reported, sent)
            lease = bundle[current]
            limit_s = init_limit_s(lease.timeout_s) if in_init else lease.timeout_s
            deadline = started + limit_s
            orphan = bundle[0] if reported == 0 else None  # its part file holds nothing accepted
            lost = bundle[reported:current]
            if self._is_abandoned(lease.token):
                log.info(
                    "abandoning %s (job %s mini-batch %d): killing %s",
                    lease.token,
                    lease.job,
                    lease.minibatch,
                    worker.name,
                )
                self._drop_worker(worker, orphan)
                return lost + bundle[current + 1 :]
            if self.state.past_stop_deadline():
                log.warning(
                    "node stopping: %s killed in the middle of job %s mini-batch %d",
                    worker.name,
                    lease.job,
                    lease.minibatch,
                )
                self._drop_worker(worker, orphan)
                return []
            now = time.monotonic()
            if now >= deadline:
                done.append((self._timed_out(worker, lease, started, in_init, orphan), lease))
                return lost + bundle[current + 1 :]
            wait_s = deadline - now
            to_stop = self.state.seconds_to_stop_deadline()
            if to_stop is not None:
                wait_s = min(wait_s, to_stop)
            ready = wait([worker.conn, worker.sentinel, self.waker.fd], timeout=wait_s)
            if self.waker.fd in ready:
                self.waker.drain()
            if worker.conn in ready:
                try:
                    outcomes = decode_outcomes(worker.conn.recv_bytes())
                except (EOFError, OSError):
                    return self._died(worker, bundle, reported, sent, done)
                except (ValueError, KeyError, TypeError) as error:
                    log.error("%s sent a malformed message: %s; killing it", worker.name, error)
                    failed = self._lost_worker(worker, lease, started, "after a malformed message", orphan)
                    done.append((failed, lease))
                    return lost + bundle[current + 1 :]
                for token, outcome in outcomes:
                    if reported >= len(bundle) or token != bundle[reported].token:
                        log.error("%s reported %s out of order; killing it", worker.name, token)
                        orphan = bundle[0] if reported == 0 else None
                        self._drop_worker(worker, orphan)
                        return bundle[reported:]
                    done.append((self._finished(worker, bundle[reported], outcome), bundle[reported]))
                    reported += 1
                if self.worker is not worker or reported == len(bundle):
                    return bundle[reported:]  # all done, or the worker exits (its driver cannot serve)
            elif worker.sentinel in ready:
                return self._died(worker, bundle, reported, sent, done)

    def _died(
        self,
        worker: WorkerProcess,
        bundle: list[Lease],
        reported: int,
        sent: float,
        done: list[tuple[Completion, Lease]],
    ) -> list[Lease]:
        """The worker died: blame the lease it was running when it died (read again now: it may have
        moved on while the supervisor waited), give back the others it did not report."""
        current, started, in_init = _position(worker, reported, sent)
        lease = bundle[current]
        orphan = bundle[0] if reported == 0 else None
        if in_init:
            self._stop_warming(worker)
        done.append((self._lost_worker(worker, lease, started, _phase(in_init), orphan), lease))
        return bundle[reported:current] + bundle[current + 1 :]

    def _finished(self, worker: WorkerProcess, lease: Lease, outcome: Outcome) -> Completion:
        if outcome.failure in ("init_failed", "no_run"):
            worker.reap()  # it exits by itself: the driver cannot serve
            self.worker = None
            self._crashed()
        else:
            self._crashes = 0
        # Validated, not cast: a failure kind the protocol does not know is a bug worth seeing here. From a
        # dict it is also the quickest way to build one (pydantic-core: 2.7 us, model_construct 5.6 us).
        return Completion.model_validate(
            {
                "token": lease.token,
                "node": self.settings.node_name,
                "process": worker.number,
                "outcome": outcome.outcome,
                "rows": outcome.rows,
                "elapsed_s": outcome.elapsed_s,
                "started_at": outcome.started_at or None,
                "failure": outcome.failure,
                "error": outcome.error,
                "part": None
                if outcome.part_path is None
                else {
                    "path": outcome.part_path,
                    "offset": outcome.part_offset,
                    "length": outcome.part_length,
                },
            }
        )

    def _timed_out(
        self, worker: WorkerProcess, lease: Lease, started: float, in_init: bool, orphan: Lease | None
    ) -> Completion:
        self._drop_worker(worker, orphan)
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

    def _lost_worker(
        self, worker: WorkerProcess, lease: Lease, started: float, when: str, orphan: Lease | None
    ) -> Completion:
        self._drop_worker(worker, orphan)
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

    def _drop_worker(self, worker: WorkerProcess, orphan: Lease | None) -> None:
        """Kill the worker; `orphan` is its bundle's first lease when none of the bundle was reported:
        then the bundle's part file (named after that lease) holds nothing anyone will merge and goes.
        Once something was reported the file stays: an accepted range may be in it."""
        worker.kill()
        if self.worker is worker:
            self.worker = None
        if orphan is not None:
            remove_part(orphan.part_path)

    # ---------------------------------------------------------------- completion

    def _deliver(self, done: list[tuple[Completion, Lease]], ask: LeaseRequest | None) -> None:
        """Flush the parts to disk, then report until the controller answers (it may be restarting);
        idempotent by token. The answer may carry the worker's next bundle."""
        parts = sorted(
            {_part_file(completion, lease) for completion, lease in done if _wrote(completion, lease)}
        )
        try:
            sync_parts(parts)
        except OSError as error:
            # Not durable, so not reportable as done: those mini-batches fail and are tried again.
            log.error("the part files of %s could not be flushed to disk: %s", _describe_done(done), error)
            done = [(self._unflushed(completion, error), lease) for completion, lease in done]
        report = Report(completions=[completion for completion, _ in done], next_lease=ask)
        first = done[0][1].token
        pause = _RETRY_MIN_S
        while True:
            try:
                answer = self.client.complete(report)
            except ControllerUnavailable as error:
                if self.state.past_stop_deadline():
                    # The part files stay: the controller may have accepted attempts whose answer we lost.
                    log.error("node stopping: completions from %s on not delivered (%s)", first, error)
                    return
                log.warning("completions from %s on: %s; retrying in %.1f s", first, error, pause)
                self._pause(pause, even_when_stopping=True)
                pause = min(_RETRY_MAX_S, pause * 2)
                continue
            except ControllerRejected as error:
                log.error("completions from %s on refused: %s", first, error)
                return
            kept: set[str] = set()
            refused: set[str] = set()
            # Same lengths (client.complete checks); no strict=: nodes also run on Python 3.9 images.
            for (completion, lease), accepted in zip(done, answer.accepted):  # noqa: B905
                if not _wrote(completion, lease):
                    continue
                if accepted:
                    kept.add(_part_file(completion, lease))
                else:
                    log.info("completion of %s not accepted (no longer the current attempt)", lease.token)
                    refused.add(_part_file(completion, lease))
            for path in refused - kept:  # a file with an accepted range stays: the merge reads it
                remove_part(path)
            if ask is not None:
                self._queue = list(answer.leases)
                self._job_done = ask.job if not answer.leases else None
            return

    @staticmethod
    def _unflushed(completion: Completion, error: OSError) -> Completion:
        if completion.outcome != "succeeded":
            return completion
        return completion.model_copy(
            update={
                "outcome": "failed",
                "rows": 0,
                "failure": "exception",
                "error": f"the node could not flush the rows of {completion.token} to disk: {error}",
            }
        )

    # ---------------------------------------------------------------- worker processes

    def _live_worker(self) -> WorkerProcess | None:
        if self.worker is not None and not self.worker.is_alive():
            log.error("%s exited while idle: %s", self.worker.name, self.worker.describe_exit())
            if self.worker.job is None:
                self._stop_warming(self.worker)
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
            warm_imports=self._warm_imports,
        )
        worker = WorkerProcess(config)
        self.worker = worker
        log.info("started %s (pid %s) in slot %d", worker.name, worker.pid, self.index)
        return worker

    def _stop_warming(self, worker: WorkerProcess) -> None:
        """A worker died before its first run(): if it was importing the driver's libraries ahead, the
        next ones of this slot import them when their job comes, so a library that crashes its process
        on import fails a job's mini-batch with the driver's files named instead of killing idle workers."""
        if self._warm_imports:
            self._warm_imports = False
            log.warning(
                "%s died before its first run(); the next workers of slot %d import the driver's "
                "libraries when their job comes, not ahead of it",
                worker.name,
                self.index,
            )

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


def _position(worker: WorkerProcess, reported: int, sent: float) -> tuple[int, float, bool]:
    """Where the worker is in its bundle, from its shared progress (`index`: the last lease begun):
    (the lease running or next, since when, whether the worker is still in init())."""
    index, started = worker.progress.read()
    if index >= 0:
        worker.initialized = True
    current = max(index, reported)
    if index < current:  # not begun yet: the worker is in init() or between two leases
        started = sent if reported == 0 else time.monotonic()
    return current, started, index < 0 and not worker.initialized


def _wrote(completion: Completion, lease: Lease) -> bool:
    return completion.outcome == "succeeded" and lease.output_action == "append_row"


def _part_file(completion: Completion, lease: Lease) -> str:
    return completion.part.path if completion.part is not None else lease.part_path


def _describe(bundle: list[Lease]) -> str:
    """Mini-batch numbers for a log line: "4", or "4-9 (attempts 0)" for a run of them."""
    first, last = bundle[0].minibatch, bundle[-1].minibatch
    attempts = sorted({lease.attempt for lease in bundle})
    numbers = str(first) if len(bundle) == 1 else f"{first}..{last} ({len(bundle)})"
    return f"{numbers} attempt {'/'.join(map(str, attempts))}"


def _describe_done(done: list[tuple[Completion, Lease]]) -> str:
    return f"job {done[0][1].job} mini-batches {', '.join(str(lease.minibatch) for _, lease in done)}"
