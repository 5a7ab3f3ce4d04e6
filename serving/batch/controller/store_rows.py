"""What the job store hands out: rows of its tables as plain values, and the job states."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from serving.batch.controller.jobs import JobSpec

TERMINAL = ("Completed", "Failed", "Canceled")
STATES = ("pending", "leased", "succeeded", "failed", "canceled")


@dataclass(frozen=True)
class JobRow:
    spec: JobSpec
    status: str
    created_at: float
    started_at: float | None
    ended_at: float | None
    total_files: int
    total_minibatches: int
    failed_files: int
    error: str | None
    finalized: bool


@dataclass(frozen=True)
class Counts:
    """Mini-batches by state, files and rows of one job."""

    minibatches: dict[str, int]
    files: dict[str, int]
    rows: int
    failed_tries: int

    @property
    def outstanding(self) -> int:
        return self.minibatches["pending"] + self.minibatches["leased"]


@dataclass(frozen=True)
class MiniBatchRow:
    idx: int
    files: list[str]
    state: str
    attempt: int
    failures: int
    failure: str | None
    last_error: str | None
    rows: int | None
    part_path: str | None


@dataclass(frozen=True)
class AttemptRow:
    idx: int
    attempt: int
    node: str
    process: int
    started_at: float
    ended_at: float | None
    outcome: str | None
    accepted: bool
    failure: str | None
    error: str | None
    elapsed: float | None
    rows: int | None


PartPath = Callable[[JobSpec, int, int], str]
# (part file, bytes it must hold) -> whether it does: a node's claim is checked before it is accepted.
PartCheck = Callable[[str, int], bool]


@dataclass(frozen=True)
class AcceptedPart:
    """Where one succeeded mini-batch's rows are: a whole part file, or a byte range of a bundle's."""

    minibatch: int
    path: str
    offset: int = 0
    length: int | None = None  # None: to the end of the file
