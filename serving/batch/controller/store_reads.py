"""Batched reads for settling a bundle's completions: one query per table instead of two per attempt."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

# SQLite's default limit on bound parameters is 32766; a bundle is at most MAX_BUNDLE (256) attempts.
_CHUNK = 500
_T = TypeVar("_T")


@dataclass(frozen=True)
class OpenAttempt:
    """An attempt as the attempts table has it."""

    job: str
    idx: int
    outcome: str | None
    accepted: int | None


@dataclass(frozen=True)
class BatchState:
    """The mini-batch fields a completion is judged against."""

    state: str
    token: str | None
    nfiles: int
    failures: int
    part_path: str | None


def _chunks(items: Sequence[_T]) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def read_attempts(db: sqlite3.Connection, tokens: list[str]) -> dict[str, OpenAttempt]:
    found: dict[str, OpenAttempt] = {}
    for chunk in _chunks(tokens):
        marks = ", ".join("?" * len(chunk))
        for token, job, idx, outcome, accepted in db.execute(
            f"SELECT token, job, idx, outcome, accepted FROM attempts WHERE token IN ({marks})", chunk
        ):
            found[token] = OpenAttempt(job, idx, outcome, accepted)
    return found


def read_batches(
    db: sqlite3.Connection, keys: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], BatchState]:
    by_job: dict[str, list[int]] = {}
    for job, idx in keys:
        by_job.setdefault(job, []).append(idx)
    found: dict[tuple[str, int], BatchState] = {}
    for job, indexes in by_job.items():
        for chunk in _chunks(sorted(set(indexes))):
            marks = ", ".join("?" * len(chunk))
            for idx, *fields in db.execute(
                "SELECT idx, state, token, nfiles, failures, part_path FROM minibatches"
                f" WHERE job = ? AND idx IN ({marks})",
                (job, *chunk),
            ):
                found[(job, idx)] = BatchState(*fields)
    return found
