"""A worker process: the job's environment and logs, the driver's init() once, then run() per lease."""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import json
import logging
import operator
import os
import select
import signal
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Literal

from serving.batch.node.driver import Driver, DriverError, call_init, load_driver
from serving.batch.node.logfiles import UserLogs, process_name
from serving.batch.node.memory import prefer_for_oom_kill
from serving.batch.node.progress import RunProgress
from serving.batch.node.rows import PartWriter, ResultError, check_row_count, name_files, render_rows
from serving.batch.node.warm import warm_imports
from serving.batch.protocol import Lease, Leases
from serving.scorer.script import (
    describe_exception,
    extend_sys_path,
    format_traceback,
    script_path,
    set_app_env,
)

_PR_SET_PDEATHSIG = 1
# logging.getLevelNamesMapping() is 3.11+; nodes also run on Python 3.9 images (bullseye).
_LEVELS = frozenset({"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"})
_LOG_FORMAT = "%(asctime)s.%(msecs)03dZ %(levelname)s [%(process)d] %(name)s - %(message)s"
_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"


@dataclass(frozen=True)
class WorkerConfig:
    """What a worker process needs besides its leases (picklable: it crosses to the fork server)."""

    node: str
    process: int
    app_root: str
    entry_script: str | None
    model_dir: str | None
    supervisor_pid: int
    # Import the driver's libraries before the first lease (warm.py); off after a worker died doing it.
    warm_imports: bool = False


@dataclass(frozen=True)
class Outcome:
    """One attempt's result, sent to the supervisor, which turns it into a Completion."""

    outcome: Literal["succeeded", "failed"]
    rows: int = 0
    elapsed_s: float = 0.0
    failure: str | None = None
    error: str | None = None
    # append_row: where the rows went (the bundle's part file and this attempt's byte range).
    part_path: str | None = None
    part_offset: int = 0
    part_length: int = 0
    # Wall clock when run() started (the job report's start of the attempt); 0 when it never did.
    started_at: float = 0.0


# Worker -> supervisor: one JSON message per bundle (the supervisor never unpickles what user code
# could forge), {"done": [[token, {outcome}], ...]} in the bundle's order; sooner, with what is done so
# far, when the bundle runs longer than FLUSH_S or the worker is about to exit; and an empty one once
# init() returned. When each run() starts
# goes through RunProgress instead, so the timeout per mini-batch needs no message. Supervisor ->
# worker: a bundle (`Leases` as JSON), run in order; b"" to exit.
FLUSH_S = 1.0
_FIELDS = tuple(field.name for field in dataclasses.fields(Outcome))
_VALUES = operator.attrgetter(*_FIELDS)  # one C call per outcome, not a getattr per field


def encode_outcomes(done: list[tuple[str, Outcome]]) -> bytes:
    return json.dumps({"done": [[token, _VALUES(outcome)] for token, outcome in done]}).encode()


def decode_outcomes(data: bytes) -> list[tuple[str, Outcome]]:
    """[(token, outcome)]; raises ValueError, KeyError or TypeError on anything else."""
    done = json.loads(data)["done"]
    if not isinstance(done, list):
        raise ValueError("'done' must be a list")
    return [(str(token), Outcome(*values)) for token, values in done]


def worker_main(conn: Connection, config: WorkerConfig, progress_cells: Any) -> None:
    """The worker process's entry point; exits 0 when told to, 1 when the driver cannot serve."""
    _die_with_supervisor(config.supervisor_pid)
    prefer_for_oom_kill()  # out of memory, the kernel takes a worker, not the supervisor that reports it
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the supervisor decides
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    code = _Worker(conn, config, RunProgress.attach(progress_cells)).serve()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()
    conn.close()
    sys.exit(code)


class _Worker:
    def __init__(self, conn: Connection, config: WorkerConfig, progress: RunProgress) -> None:
        self.conn = conn
        self.config = config
        self.progress = progress
        self.driver: Driver | None = None
        self.logs: UserLogs | None = None

    def serve(self) -> int:
        if self.config.warm_imports:
            self._warm()
        while True:
            try:
                data = self.conn.recv_bytes()
            except (EOFError, OSError):
                return 0
            if not data:
                return 0
            leases = Leases.model_validate_json(data).leases
            part = PartWriter(leases[0].part_path)
            done: list[tuple[str, Outcome]] = []
            sent = time.monotonic()
            try:
                for index, lease in enumerate(leases):
                    started_driver = self.driver is None
                    if started_driver:
                        failed = self._start(lease)
                        if failed is not None:
                            done.append((lease.token, failed))
                            self.conn.send_bytes(encode_outcomes(done))
                            return 1
                    self.progress.begin(index)
                    if started_driver:
                        # The supervisor waits on init()'s longer limit: wake it to apply run()'s timeout.
                        self.conn.send_bytes(encode_outcomes([]))
                    done.append((lease.token, self._run(lease, part)))
                    if time.monotonic() - sent >= FLUSH_S and index + 1 < len(leases):
                        self.conn.send_bytes(encode_outcomes(done))
                        done, sent = [], time.monotonic()
                self.conn.send_bytes(encode_outcomes(done))
            finally:
                part.close()

    def _start(self, lease: Lease) -> Outcome | None:
        """Set up the job's environment and logs, import the driver, call init(); an Outcome on failure."""
        config = self.config
        try:
            os.makedirs(lease.output_path, exist_ok=True)
            self.logs = UserLogs.at(lease.user_log_dir, config.node, config.process)
            _redirect_output(self.logs, lease.logging_level)
        except OSError as error:
            return Outcome(
                "failed",
                failure="init_failed",
                error=f"The node cannot prepare job {lease.job}'s folders (AZUREML_BI_OUTPUT_PATH "
                f"{lease.output_path}, logs {lease.user_log_dir}): {error}; mini-batch {lease.minibatch} "
                f"(files: {name_files(lease.files)}) was not run.",
            )
        os.environ["AZUREML_BI_OUTPUT_PATH"] = lease.output_path
        set_app_env(config.app_root, config.entry_script, config.model_dir)
        log = logging.getLogger("mlendpoints.batch.node")
        log.info(
            "%s (pid %d) on node %s serves job %s; driver %s/%s",
            process_name(config.process),
            os.getpid(),
            config.node,
            lease.job,
            config.app_root,
            config.entry_script or "main.py",
        )
        started = time.monotonic()
        try:
            self.driver = load_driver(config.app_root, config.entry_script)
            if self.driver.init is None:
                log.warning("%s defines no init(): only run() is called", self.driver.path)
            call_init(self.driver, config.app_root)
        except DriverError as error:
            self.driver = None
            message = f"{error.message}; mini-batch {lease.minibatch} (files: {name_files(lease.files)}) "
            message += "was not run." + self._see_error_log()
            self._log_error(f"{error.kind}: {error.message}", error.__cause__)
            return Outcome("failed", elapsed_s=time.monotonic() - started, failure=error.kind, error=message)
        log.info("init() returned in %.2f s", time.monotonic() - started)
        return None

    def _warm(self) -> None:
        """Import the driver's libraries while no job is here yet (warm.py); the supervisor's bundle
        waits in the pipe meanwhile. What goes wrong is the job's to report: here only a line for the
        node's log."""
        config = self.config
        app_root = os.path.abspath(config.app_root)
        path = script_path(app_root, config.entry_script)
        if not os.path.isfile(path):
            return
        set_app_env(config.app_root, config.entry_script, config.model_dir)
        extend_sys_path(app_root, None, path)  # as load_driver does: the same modules are found
        warmed = warm_imports(path, [app_root, os.path.dirname(path)])
        for module, error in warmed.failed.items():
            logging.getLogger("mlendpoints.batch.node").warning(
                "%s: importing %s ahead of the job failed (%s); the driver imports it when its job comes",
                process_name(config.process),
                module,
                error,
            )

    def _run(self, lease: Lease, part: PartWriter) -> Outcome:
        assert self.driver is not None
        started, wall = time.monotonic(), time.time()
        where = f"mini-batch {lease.minibatch} (attempt {lease.attempt}) of job {lease.job}"
        try:
            result = self.driver.run(list(lease.files))
        except (Exception, SystemExit) as error:
            detail = describe_exception(error, self.config.app_root)
            self._log_error(f"run() failed on {where}, files: {name_files(lease.files)}", error)
            return Outcome(
                "failed",
                elapsed_s=time.monotonic() - started,
                failure="exception",
                error=f"run() in {self.driver.path} raised {detail} on {where}, files: "
                f"{name_files(lease.files)}." + self._see_error_log(),
                started_at=wall,
            )
        offset = length = 0
        try:
            rows = render_rows(result)
            check_row_count(rows, lease.files)
            if lease.output_action == "append_row":
                offset, length = part.append(rows.text)
        except ResultError as error:
            message = error.message
            if error.kind != "too_few_rows":
                message += f"; {where}, files: {name_files(lease.files)}"
            self._log_error(message, None)
            return Outcome(
                "failed",
                elapsed_s=time.monotonic() - started,
                failure=error.kind,
                error=message,
                started_at=wall,
            )
        except Exception as error:  # to_csv() of an odd DataFrame, a full disk: the mini-batch fails
            self._log_error(f"writing the rows of {where} failed", error)
            return Outcome(
                "failed",
                elapsed_s=time.monotonic() - started,
                failure="exception",
                error=f"The rows run() returned for {where} could not be written: "
                f"{type(error).__name__}: {error}; files: {name_files(lease.files)}." + self._see_error_log(),
                started_at=wall,
            )
        finally:
            _flush()
        return Outcome(
            "succeeded",
            rows=rows.count,
            elapsed_s=time.monotonic() - started,
            part_path=part.path if lease.output_action == "append_row" else None,
            part_offset=offset,
            part_length=length,
            started_at=wall,
        )

    def _log_error(self, headline: str, error: BaseException | None) -> None:
        if self.logs is None:
            return
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        text = f"{stamp} {headline}\n"
        if error is not None:
            text += format_traceback(error) + "\n"
        with contextlib.suppress(OSError):
            os.makedirs(os.path.dirname(self.logs.error), exist_ok=True)
            with open(self.logs.error, "a", encoding="utf-8") as handle:
                handle.write(text + "\n")

    def _see_error_log(self) -> str:
        if self.logs is None:
            return ""
        return f" Traceback and details: {self.logs.shown(self.logs.error)}"


def _redirect_output(logs: UserLogs, logging_level: str) -> None:
    """fd 1 and 2 into the user log files, so print(), logging and child processes all land there."""
    _flush()
    for path, fd in ((logs.stdout, 1), (logs.stderr, 2)):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(target, fd)
        os.close(target)
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=True)
    handler = logging.StreamHandler(sys.stdout)
    formatter = logging.Formatter(_LOG_FORMAT, _DATE_FORMAT)
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    level = logging_level.upper()
    root.setLevel(level if level in _LEVELS else "INFO")


def _flush() -> None:
    # After every run(): a plain try, not contextlib.suppress (two context managers per mini-batch).
    for stream in (sys.stdout, sys.stderr):
        try:  # noqa: SIM105
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass


def _die_with_supervisor(supervisor_pid: int) -> None:
    """A killed supervisor must not leave workers running user code.

    The parent is the node's fork server, and it outlives the supervisor while its children hold
    its pipe, so the parent-death signal alone is not enough: a daemon thread waits on the
    supervisor's pidfd and kills this process when the supervisor ends.
    """
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    try:
        watched = os.pidfd_open(supervisor_pid)
    except ProcessLookupError:
        os._exit(1)

    def watch() -> None:
        select.select([watched], [], [])
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="supervisor-watch", daemon=True).start()
