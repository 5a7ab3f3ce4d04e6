"""One worker process as the supervisor sees it: spawn, hand a bundle of leases, kill, say how it ended."""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
from multiprocessing import forkserver
from multiprocessing.process import BaseProcess

from serving.batch.node.logfiles import process_name
from serving.batch.node.memory import OomKillCounter, memory_limit, sigkill_hint
from serving.batch.node.progress import RunProgress
from serving.batch.node.worker import WorkerConfig, worker_main
from serving.batch.protocol import Lease, Leases

_JOIN_S = 5.0
# Workers are forked from the node's fork server, a single-threaded process that has imported this
# module's worker side once (~250 ms of CPU a fresh interpreter spent per worker, i.e. per slot and
# job). Forked from it, a worker inherits no lock or thread of the supervisor, as with spawn. The
# preload also holds every module that unpickling a WorkerProcess's process object needs (the shared
# progress cells, the fork server's Popen): imported in each child, they cost every
# worker of every job ~2 ms of CPU (tests/serving/batch/node/test_process.py checks the list).
WORKER_MODULES = (
    "serving.batch.node.worker",
    "multiprocessing.sharedctypes",
    "multiprocessing.popen_forkserver",
)


def start_fork_server() -> None:
    """Start the fork server now (with the supervisor's environment as it is): the first job's
    workers then start in milliseconds. Idempotent; WorkerProcess starts it too when needed."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(WORKER_MODULES))
    forkserver.ensure_running()


class WorkerProcess:
    """A worker forked from the fork server (no inherited locks or threads), killable at any time."""

    def __init__(self, config: WorkerConfig) -> None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(list(WORKER_MODULES))
        self.config = config
        self.number = config.process
        self.name = process_name(config.process)
        # Set by the first lease: the worker serves that job only (drivers read its env in init()).
        self.job: str | None = None
        self.initialized = False
        self.conn, child_conn = context.Pipe(duplex=True)
        self.progress = RunProgress(context)
        self._oom_kills = OomKillCounter()
        self._oom_kills_before: int | None = None  # the node's OOM kill count when a bundle was sent
        self._process: BaseProcess = context.Process(
            target=worker_main, args=(child_conn, config, self.progress.cells), name=self.name, daemon=True
        )
        self._process.start()
        child_conn.close()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def sentinel(self) -> int:
        return self._process.sentinel

    def is_alive(self) -> bool:
        return self._process.is_alive()

    def send(self, bundle: list[Lease]) -> None:
        """Hand a bundle; the worker runs its leases in order (sent while it waits, so this never blocks
        on a worker busy in run())."""
        self.progress.reset()
        self._oom_kills_before = self._oom_kills.read()
        self.conn.send_bytes(Leases(leases=bundle).model_dump_json().encode())

    def kill(self) -> None:
        """SIGKILL and reap: run() may be stuck in C code, only the kernel can stop it."""
        with contextlib.suppress(OSError, ValueError):
            self._process.kill()
        self.reap()

    def reap(self) -> None:
        self._process.join(_JOIN_S)
        self.conn.close()

    def retire(self) -> None:
        """Ask the worker to exit (end of its job, node stopping); kill it if it does not."""
        with contextlib.suppress(OSError, ValueError):
            self.conn.send_bytes(b"")
        self._process.join(_JOIN_S)
        if self._process.is_alive():
            self.kill()
        self.conn.close()

    def describe_exit(self) -> str:
        """How the process ended, for a Completion's error: the signal and what usually sends it."""
        code = self._process.exitcode
        who = f"worker process {self.name} (pid {self.pid})"
        if code is None:
            return f"{who} stopped answering"
        if code >= 0:
            return f"{who} exited with code {code}"
        signum = -code
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        hint = ""
        if signum == signal.SIGKILL:
            hint = sigkill_hint(self._oom_kills_before, self._oom_kills.read(), memory_limit())
        elif signum == signal.SIGSEGV:
            hint = " (a segmentation fault in native code)"
        return f"{who} was killed by {name} (signal {signum}){hint}"
