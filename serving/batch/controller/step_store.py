"""A pipeline job's steps in the job store: one row per step (state, container, exit code, times).

Kept beside the store's own tables, on its connection: a job and its steps are created in one
transaction (Store.create_job's `also`), and every change is a transaction of its own.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from serving.batch.controller.pipeline_runs import StepState
from serving.batch.controller.store import Store

_SCHEMA = """
CREATE TABLE IF NOT EXISTS steps (
    job TEXT NOT NULL,
    name TEXT NOT NULL,
    seq INTEGER NOT NULL,
    state TEXT NOT NULL,
    container TEXT,
    exit_code INTEGER,
    started_at REAL,
    ended_at REAL,
    error TEXT,
    PRIMARY KEY (job, name)
) WITHOUT ROWID
"""


@dataclass(frozen=True)
class StepRow:
    name: str
    state: StepState
    container: str | None
    exit_code: int | None
    started_at: float | None
    ended_at: float | None
    error: str | None


class StepStore:
    def __init__(self, store: Store) -> None:
        self.store = store
        with store.transaction() as db:
            db.execute(_SCHEMA)

    @staticmethod
    def add(job: str, names: Sequence[str]) -> Callable[[sqlite3.Connection], None]:
        """What Store.create_job writes besides the job: its steps, all waiting."""

        def insert(db: sqlite3.Connection) -> None:
            db.executemany(
                "INSERT INTO steps (job, name, seq, state) VALUES (?, ?, ?, 'waiting')",
                [(job, name, seq) for seq, name in enumerate(names)],
            )

        return insert

    def steps(self, job: str) -> list[StepRow]:
        with self.store.reading() as db:
            rows = db.execute(
                "SELECT name, state, container, exit_code, started_at, ended_at, error FROM steps"
                " WHERE job = ? ORDER BY seq",
                (job,),
            ).fetchall()
        return [StepRow(*row) for row in rows]

    def started(self, job: str, name: str, container: str, now: float) -> None:
        with self.store.transaction() as db:
            db.execute(
                "UPDATE steps SET state = 'running', container = ?, started_at = ?"
                " WHERE job = ? AND name = ?",
                (container, now, job, name),
            )
            db.execute(
                "UPDATE jobs SET status = 'Running', started_at = COALESCE(started_at, ?)"
                " WHERE name = ? AND status = 'Queued'",
                (now, job),
            )

    def ended(
        self,
        job: str,
        name: str,
        state: StepState,
        now: float,
        exit_code: int | None = None,
        error: str | None = None,
    ) -> None:
        with self.store.transaction() as db:
            db.execute(
                "UPDATE steps SET state = ?, exit_code = ?, error = ?, ended_at = ?"
                " WHERE job = ? AND name = ?",
                (state, exit_code, error, now, job, name),
            )
