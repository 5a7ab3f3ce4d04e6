"""Which lease of its bundle a worker process is running, and since when: memory both processes see.

The worker reports its outcomes once per bundle (one pipe message, not one per mini-batch: on 2-file
mini-batches the message and the supervisor's wake-up per run() were a visible share of the node's
CPU), so the supervisor learns from here when each run() starts and keeps retry_settings.timeout per
mini-batch exact without hearing from the worker.
"""

from __future__ import annotations

import ctypes
import time
from multiprocessing.context import BaseContext
from typing import Any


class RunProgress:
    """Two doubles in shared memory: leases begun in the current bundle, and the last one's start.

    The worker writes the start before the count, and an 8-byte aligned store is atomic, so a reader
    that sees a count sees at least that lease's start. The supervisor acts on a deadline only when the
    count has not moved since it computed it (see Slot), so a read taken mid-update costs a re-check,
    never a wrong kill.
    """

    def __init__(self, context: BaseContext) -> None:
        self._cells: Any = context.RawArray(ctypes.c_double, 2)

    def reset(self) -> None:
        """Before a bundle is handed over (the worker is waiting for it, so nothing writes meanwhile)."""
        self._cells[0] = 0.0

    def begin(self, index: int) -> None:
        """The worker starts run() on lease `index` of its bundle."""
        self._cells[1] = time.monotonic()
        self._cells[0] = float(index + 1)

    def read(self) -> tuple[int, float]:
        """(index of the lease run() last started on, -1 for none yet; its time.monotonic() start)."""
        begun = int(self._cells[0])
        return begun - 1, float(self._cells[1])

    @property
    def cells(self) -> Any:
        """What crosses to the worker process (a Process argument): the shared array itself."""
        return self._cells

    @classmethod
    def attach(cls, cells: Any) -> RunProgress:
        """The worker's side: the same cells, received as a Process argument."""
        progress = cls.__new__(cls)
        progress._cells = cells
        return progress
