"""Waiting for a batch job: polling it, riding out controller outages, drawing its tqdm progress bar."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from tqdm import tqdm

from components.batch_jobs_api import TERMINAL, ControllerDown, JobsApi

POLL_INTERVAL_S = 0.5
FALLBACK_SCREEN = (120, 24)  # the progress bar's columns and lines when the terminal does not say
# How long --wait rides out a controller that does not answer (the agent restarts a killed one).
OUTAGE_GRACE_S = 30.0


class Progress:
    """A tqdm bar over a job's mini-batches: settled/total, failed and rows, tqdm's rate and ETA.

    Drawn from each poll's counts (tqdm's rate is then the average since the bar started). On a
    terminal it redraws every poll so the clock moves; elsewhere only when something changed.
    """

    BAR_FORMAT = (
        "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} mini-batches "
        "[{elapsed}<{remaining}, {rate_noinv_fmt}{postfix}]"
    )

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.bar: Any = None
        self._shown: tuple[Any, ...] | None = None

    def update(self, job: Mapping[str, Any], note: str | None = None) -> None:
        props = job.get("properties") or {}
        progress = props.get("progress") or {}
        batches = progress.get("miniBatches") or {}
        total = int(batches.get("total") or 0) or None
        failed = int(batches.get("failed") or 0)
        settled = int(batches.get("succeeded") or 0) + failed
        status = str(props.get("status") or "Queued")
        postfix = f"failed={failed}, rows={int(progress.get('rows') or 0)}" + (f", {note}" if note else "")
        state = (status, settled, total, postfix)
        if self.bar is None:
            columns, lines = _screen(self.stream)
            self.bar = tqdm(
                total=total, initial=settled, desc=status, postfix=postfix, unit="", file=self.stream,
                bar_format=self.BAR_FORMAT, ncols=columns, nrows=lines, mininterval=0, leave=True,
            )  # fmt: skip
            self._shown = state  # a new bar draws itself
        self.bar.total, self.bar.n = total, settled
        self.bar.set_description_str(status, refresh=False)
        self.bar.set_postfix_str(postfix, refresh=False)
        if state != self._shown or _is_tty(self.stream):
            self.bar.refresh()
            self._shown = state

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _screen(stream: TextIO) -> tuple[int, int]:
    """Columns and lines of the terminal, with fallbacks: on a pty nobody sized (0 x 0) tqdm's own
    guess is -1 lines, and it then draws nothing at all."""
    try:
        size = os.get_terminal_size(stream.fileno())
    except (AttributeError, ValueError, OSError, io.UnsupportedOperation):
        return FALLBACK_SCREEN
    return (
        size.columns if size.columns >= 40 else FALLBACK_SCREEN[0],
        size.lines if size.lines >= 2 else FALLBACK_SCREEN[1],
    )


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def wait_for_job(
    api: JobsApi,
    name: str,
    stream: TextIO,
    interval: float = POLL_INTERVAL_S,
    grace: float = OUTAGE_GRACE_S,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Poll the job until it ends, drawing its progress; ride out short controller outages."""
    progress = Progress(stream)
    last: dict[str, Any] = {}
    down_since: float | None = None
    try:
        while True:
            try:
                job = api.job(name)
            except ControllerDown:
                now = clock()
                down_since = now if down_since is None else down_since
                if now - down_since > grace:
                    raise
                progress.update(last, note="controller not answering, retrying")
                sleep(interval)
                continue
            down_since, last = None, job
            progress.update(job)
            if (job.get("properties") or {}).get("status") in TERMINAL:
                return job
            sleep(interval)
    finally:
        progress.close()
