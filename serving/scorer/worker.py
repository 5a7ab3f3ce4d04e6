"""A forked worker: load the script, call init() once, then serve until SIGTERM."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import signal
import socket
import time

from serving.scorer.app import ScorerApp
from serving.scorer.server import run_server
from serving.scorer.settings import ScorerSettings
from serving.scorer.shared import FAILED, READY, SharedState
from serving.scorer.startup import load_state, prepare_environment

_PR_SET_PDEATHSIG = 1


def worker_main(
    settings: ScorerSettings, sock: socket.socket, shared: SharedState, index: int, supervisor_pid: int
) -> int:
    """Runs in the child after fork; returns the process exit code."""
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD, signal.SIGALRM):
        signal.signal(signum, signal.SIG_DFL)
    _exit_with_supervisor(supervisor_pid)
    prepare_environment(settings)
    state = load_state(settings)
    # Everything init() loaded lives as long as the worker: keeping it out of the collector's generations
    # turns full collections (milliseconds with a model in memory) into sub-millisecond ones.
    gc.collect()
    gc.freeze()
    shared.states[index] = READY if state.ready else FAILED

    def run_started(_: float) -> None:
        shared.run_started[index] = time.monotonic()

    def run_ended() -> None:
        shared.run_started[index] = 0.0

    app = ScorerApp(
        settings, state, slots=shared.slots(index), on_run_start=run_started, on_run_end=run_ended
    )
    run_server(app, sock)
    return 0


def _exit_with_supervisor(supervisor_pid: int) -> None:
    """A killed supervisor must not leave workers holding the port (Linux: SIGTERM on parent death)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != supervisor_pid:
        os.kill(os.getpid(), signal.SIGTERM)
