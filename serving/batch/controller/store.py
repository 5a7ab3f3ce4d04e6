"""Durable job store: SQLite in WAL mode; every step that matters for exactly-once is one transaction.

Tables: `jobs` (one row per job, its JobSpec as JSON), `minibatches` (state pending | leased |
succeeded | failed | canceled, the current attempt's token, failure count, accepted rows: a part file
and, for bundles, the byte range in it) and
`attempts` (one row per lease handed out: who ran it, how it ended; completions are answered from it,
so a repeated completion with the same token gets the same answer). The schema is in store_schema.py,
the rows handed out in store_rows.py, the batched reads for settling a bundle in store_reads.py.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from serving.batch.controller.errors import Conflict, NotFound
from serving.batch.controller.jobs import JobSpec
from serving.batch.controller.minibatches import (
    BUNDLE_TARGET_S,
    CARRIED_TARGET_S,
    after_failure,
    bundle_size,
    threshold_exceeded,
)
from serving.batch.controller.pace import CostFit, CostModel
from serving.batch.controller.scaling import JobDemand
from serving.batch.controller.store_reads import read_attempts, read_batches
from serving.batch.controller.store_rows import (
    STATES,
    AcceptedPart,
    AttemptRow,
    Counts,
    JobRow,
    MiniBatchRow,
    PartCheck,
    PartPath,
)
from serving.batch.controller.store_schema import BY_STATE, SCHEMA, add_missing_columns
from serving.batch.protocol import LEASE_EXPIRY_S, Completion, Lease, LeaseRequest

_PART_NAME = re.compile(r"mb\d+-a\d+\.part")  # scheduler.part_path's names


# Node losses a mini-batch may suffer before each further one counts as a failed try.
LOST_NODES_FORGIVEN = 3
# A node that completed a job's mini-batch this recently still counts as one of the job's nodes.
STICKY_S = LEASE_EXPIRY_S


def _claimed_part(spec: JobSpec, leased: str, done: Completion) -> tuple[str, int, int | None] | str:
    """(file, offset, length) of a success's rows, or why the claim is refused.

    A node names the file its bundle wrote; only a part file of this job's parts folder is taken, so
    whatever runs on a node cannot make the merge read other files."""
    if done.part is None:
        return leased, 0, None
    path = done.part.path
    if os.path.dirname(path) != spec.parts_folder.rstrip("/") or not _PART_NAME.fullmatch(
        os.path.basename(path)
    ):
        return f"the node named {path} for its rows, which is not a part file of this job"
    return path, done.part.offset, done.part.length


_SUCCEEDED = (
    "UPDATE minibatches SET state = 'succeeded', node = ?, process = ?, elapsed = ?, rows = ?,"
    " part_path = ?, part_offset = ?, part_length = ? WHERE job = ? AND idx = ?"
)
_END_ATTEMPT = (
    "UPDATE attempts SET outcome = ?, accepted = ?, started_at = COALESCE(?, started_at),"
    " ended_at = ?, failure = ?, error = ?, elapsed = ?, rows = ? WHERE token = ?"
)


def _attempt_values(
    done: Completion,
    now: float,
    outcome: str,
    *,
    accepted: bool,
    failure: str | None = None,
    error: str | None = None,
) -> tuple[object, ...]:
    """_END_ATTEMPT's parameters for an attempt that ended with `done`."""
    started, ended = None, now
    if done.started_at is not None and done.started_at <= now:
        # The node's own start and end of run(): bundled attempts share one lease time.
        started, ended = done.started_at, min(now, done.started_at + done.elapsed_s)
    return (outcome, int(accepted), started, ended, failure, error, done.elapsed_s, done.rows, done.token)


def _workers(spec: JobSpec) -> int:
    """The job's worker processes: instance_count x max_concurrency_per_instance."""
    return max(1, spec.settings.instance_count * spec.settings.max_concurrency_per_instance)


def _pace_key(spec: JobSpec) -> tuple[str, int]:
    return spec.deployment, spec.settings.mini_batch_size


class Store:
    """One SQLite connection shared by the HTTP threads and the scheduler, guarded by a lock."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
        # WAL + synchronous=NORMAL: a commit survives a killed process (it is in the WAL file);
        # a host crash may lose the last commits, which only re-runs attempts that were never merged.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        add_missing_columns(self._db)
        self._lock = threading.Lock()
        self._specs: dict[str, JobSpec] = {}
        # Job -> the fit of its successes so far (run() seconds against input bytes, pace.py), which
        # sizes bundles. Over the whole job, not a moving average: a run of cheap mini-batches dragged
        # a moving average to a tenth of the real pace, so bundles came out ten times too long. Not
        # durable: after a restart bundles start at one mini-batch until a pace is measured again.
        # (Deployment, mini_batch_size) -> its last job's fit: a new job's first bundles go by it (a
        # job that overrides mini_batch_size does not take the pace of mini-batches of another size).
        self._fits: dict[str, CostFit] = {}
        self._carried: dict[tuple[str, int], CostFit] = {}
        # Job -> the input bytes of each of its mini-batches, by index (read once after a restart).
        self._bytes: dict[str, list[int]] = {}

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _txn(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._db

    def _spec(self, db: sqlite3.Connection, name: str) -> JobSpec:
        spec = self._specs.get(name)
        if spec is None:
            (text,) = db.execute("SELECT spec FROM jobs WHERE name = ?", (name,)).fetchone()
            spec = self._specs[name] = JobSpec.model_validate_json(text)
        return spec

    # ------------------------------------------------------------------ jobs

    def recover(self, now: float) -> int:
        """After a restart nobody knows whether leased work is alive: give every lease a fresh expiry."""
        with self._txn() as db:
            return db.execute(
                "UPDATE minibatches SET heartbeat_at = ? WHERE state = 'leased'", (now,)
            ).rowcount

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction on the store's connection (for the tables of step_store.py)."""
        with self._txn() as db:
            yield db

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        with self._read() as db:
            yield db

    def create_job(
        self,
        spec: JobSpec,
        batches: list[list[str]],
        now: float,
        *,
        nbytes: Sequence[int] | None = None,
        kind: str = "model",
        also: Callable[[sqlite3.Connection], None] | None = None,
    ) -> None:
        """Create a job and its mini-batches (and what `also` writes: a pipeline's steps) at once;
        `nbytes`: each mini-batch's input bytes (bundles are sized by the work they estimate)."""
        sizes = [0] * len(batches) if nbytes is None else list(nbytes)
        if len(sizes) != len(batches):
            raise ValueError(f"{len(sizes)} sizes for {len(batches)} mini-batches")
        with self._txn() as db:
            try:
                db.execute(
                    "INSERT INTO jobs (name, deployment, status, spec, created_at, total_files,"
                    " total_minibatches, kind) VALUES (?, ?, 'Queued', ?, ?, ?, ?, ?)",
                    (
                        spec.name,
                        spec.deployment,
                        spec.model_dump_json(),
                        now,
                        sum(map(len, batches)),
                        len(batches),
                        kind,
                    ),
                )
            except sqlite3.IntegrityError:
                raise Conflict(f"a job named {spec.name!r} already exists") from None
            db.executemany(
                "INSERT INTO minibatches (job, idx, files, nfiles, nbytes, state)"
                " VALUES (?, ?, ?, ?, ?, 'pending')",
                (
                    (spec.name, idx, json.dumps(files), len(files), sizes[idx])
                    for idx, files in enumerate(batches)
                ),
            )
            if also is not None:
                also(db)
            self._bytes[spec.name] = sizes

    def _job_row(self, db: sqlite3.Connection, row: tuple[Any, ...]) -> JobRow:
        name, status, created, started, ended, files, batches, failed, error, finalized = row
        return JobRow(
            self._spec(db, name),
            status,
            created,
            started,
            ended,
            files,
            batches,
            failed,
            error,
            bool(finalized),
        )

    _JOB_COLUMNS = (
        "name, status, created_at, started_at, ended_at, total_files, total_minibatches, failed_files,"
        " error, finalized"
    )

    def job(self, name: str) -> JobRow:
        with self._read() as db:
            row = db.execute(f"SELECT {self._JOB_COLUMNS} FROM jobs WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise NotFound(f"no job named {name!r} on this endpoint")
            return self._job_row(db, row)

    def jobs(self, deployment: str | None = None, statuses: tuple[str, ...] | None = None) -> list[JobRow]:
        """Jobs, newest first."""
        where, args = [], []
        if deployment is not None:
            where.append("deployment = ?")
            args.append(deployment)
        if statuses is not None:
            where.append(f"status IN ({', '.join('?' * len(statuses))})")
            args.extend(statuses)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        with self._read() as db:
            rows = db.execute(
                f"SELECT {self._JOB_COLUMNS} FROM jobs{clause} ORDER BY seq DESC", args
            ).fetchall()
            return [self._job_row(db, row) for row in rows]

    def open_pipeline_jobs(self) -> list[JobRow]:
        """Pipeline jobs not finalized yet (a canceled one is, once its steps are stopped), oldest first."""
        with self._read() as db:
            rows = db.execute(
                f"SELECT {self._JOB_COLUMNS} FROM jobs WHERE kind = 'pipeline' AND finalized = 0 ORDER BY seq"
            ).fetchall()
            return [self._job_row(db, row) for row in rows]

    def counts(self, name: str) -> Counts:
        batches = dict.fromkeys(STATES, 0)
        files = dict.fromkeys(STATES, 0)
        rows = tries = 0
        with self._read() as db:
            for state, count, nfiles, nrows, failures in db.execute(
                "SELECT state, COUNT(*), SUM(nfiles), SUM(COALESCE(rows, 0)), SUM(failures)"
                " FROM minibatches WHERE job = ? GROUP BY state",
                (name,),
            ):
                batches[state], files[state] = count, nfiles
                tries += failures
                if state == "succeeded":
                    rows = nrows
        return Counts(batches, files, rows, tries)

    def cancel(self, name: str, now: float) -> None:
        with self._txn() as db:
            row = db.execute("SELECT status FROM jobs WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise NotFound(f"no job named {name!r} on this endpoint")
            if row[0] == "Canceled":
                return
            if row[0] not in ("Queued", "Running"):
                raise Conflict(f"job {name!r} is {row[0]}; only a queued or running job can be canceled")
            self._abandon_rest(db, name, now)
            db.execute(
                "UPDATE jobs SET status = 'Canceled', ended_at = ?, error = 'Canceled on request.'"
                " WHERE name = ?",
                (now, name),
            )

    def _abandon_rest(self, db: sqlite3.Connection, name: str, now: float) -> None:
        db.execute(
            "UPDATE attempts SET outcome = 'canceled', accepted = 0, ended_at = ? WHERE token IN"
            f" (SELECT token FROM {BY_STATE} WHERE state = 'leased' AND job = ?)",
            (now, name),
        )
        db.execute(
            f"UPDATE {BY_STATE} SET state = 'canceled' WHERE state IN ('pending', 'leased') AND job = ?",
            (name,),
        )

    # ------------------------------------------------------------------ node messages

    def lease(self, req: LeaseRequest, now: float, part_path: PartPath) -> list[Lease]:
        """Hand the lowest pending mini-batches of the oldest active job (of the worker's job, if bound):
        one, or a bundle of consecutive ones once the job's pace is known (`bundle_size`)."""
        with self._txn() as db:
            query = "SELECT name FROM jobs WHERE status IN ('Queued', 'Running') AND deployment = ?"
            args: list[object] = [req.deployment]
            if req.job is not None:
                query += " AND name = ?"
                args.append(req.job)
            for (name,) in db.execute(query + " ORDER BY seq", args).fetchall():
                spec = self._spec(db, name)
                nodes = {
                    n
                    for (n,) in db.execute(
                        f"SELECT DISTINCT node FROM {BY_STATE} WHERE state = 'leased' AND job = ?",
                        (name,),
                    )
                }
                nodes |= {
                    n
                    for (n,) in db.execute(
                        "SELECT node FROM job_nodes WHERE job = ? AND last_seen >= ?", (name, now - STICKY_S)
                    )
                }
                if req.node not in nodes and len(nodes) >= spec.settings.instance_count:
                    continue  # the job runs on instance_count nodes already (or did a moment ago)
                # The model is fitted once per lease; pending is read on the index alone, up to where
                # more would not change the share.
                model, target = self._model_of(spec)
                bundles = model is not None and req.max_minibatches > 1
                limit = _workers(spec) * req.max_minibatches if bundles else 1
                pending = [
                    idx
                    for (idx,) in db.execute(
                        f"SELECT idx FROM {BY_STATE} WHERE state = 'pending' AND job = ?"
                        " ORDER BY idx LIMIT ?",
                        (name, limit),
                    )
                ]
                if not pending:
                    continue
                size = self._bundle_size(db, spec, req, pending, model, target)
                rows = db.execute(
                    f"SELECT idx, files, attempt FROM {BY_STATE} WHERE state = 'pending' AND job = ?"
                    " ORDER BY idx LIMIT ?",
                    (name, size),
                ).fetchall()
                leases = self._hand(db, spec, req, rows, now, part_path)
                db.execute(
                    "UPDATE jobs SET status = 'Running', started_at = ? WHERE name = ? AND status = 'Queued'",
                    (now, name),
                )
                self._seen(db, name, req.node, now)
                return leases
        return []

    def _model_of(self, spec: JobSpec) -> tuple[CostModel | None, float]:
        """The cost model bundles go by and the work they should fill: the job's own, else (a smaller
        bundle) its deployment's last job's, else none (one mini-batch at a time)."""
        fit = self._fits.get(spec.name)
        if fit is not None:
            return fit.model(), BUNDLE_TARGET_S
        carried = self._carried.get(_pace_key(spec))
        return (None if carried is None else carried.model()), CARRIED_TARGET_S

    def _bundle_size(
        self,
        db: sqlite3.Connection,
        spec: JobSpec,
        req: LeaseRequest,
        pending: list[int],
        model: CostModel | None,
        target: float,
    ) -> int:
        """How many of the `pending` mini-batches (the first ones in order) to hand at once."""
        if model is None or req.max_minibatches <= 1:
            return 1
        sizes = self._sizes(db, spec.name)
        nbytes = [sizes[idx] for idx in pending]
        costs = [model.cost(size) for size in nbytes[: req.max_minibatches]]
        pending_cost = model.total(len(pending), sum(nbytes))
        return bundle_size(req.max_minibatches, costs, pending_cost, _workers(spec), target)

    def _sizes(self, db: sqlite3.Connection, name: str) -> list[int]:
        sizes = self._bytes.get(name)
        if sizes is None:
            # A store from an older controller has no sizes: every mini-batch then weighs the same.
            sizes = self._bytes[name] = [
                size
                for (size,) in db.execute(
                    "SELECT COALESCE(nbytes, 0) FROM minibatches WHERE job = ? ORDER BY idx", (name,)
                )
            ]
        return sizes

    def _hand(
        self,
        db: sqlite3.Connection,
        spec: JobSpec,
        req: LeaseRequest,
        rows: list[tuple[int, str, int]],
        now: float,
        part_path: PartPath,
    ) -> list[Lease]:
        """Lease these pending mini-batches to the requesting worker (two statements for the bundle).

        Tokens share one random part per bundle (a mini-batch appears once in a bundle, so index and
        attempt keep them unique). Validated from a dict: pydantic-core does that quicker than
        model_construct's Python loop (1.8 against 3.3 us a lease)."""
        name, settings = spec.name, spec.settings
        bundle = secrets.token_urlsafe(12)
        common = {
            "job": name,
            "timeout_s": float(settings.retry_settings.timeout),
            "output_action": settings.output_action,
            "output_path": spec.output_folder,
            "user_log_dir": spec.job_folder,
            "logging_level": settings.logging_level,
        }
        leases = [
            Lease.model_validate(
                {
                    **common,
                    "token": f"{bundle}.{idx}.{attempt}",
                    "minibatch": idx,
                    "attempt": attempt,
                    "files": json.loads(files),
                    "part_path": part_path(spec, idx, attempt),
                }
            )
            for idx, files, attempt in rows
        ]
        db.executemany(
            "UPDATE minibatches SET state = 'leased', attempt = ?, token = ?, node = ?, process = ?,"
            " heartbeat_at = ?, leased_at = ?, part_path = ? WHERE job = ? AND idx = ?",
            [
                (
                    lease.attempt + 1,
                    lease.token,
                    req.node,
                    req.process,
                    now,
                    now,
                    lease.part_path,
                    name,
                    lease.minibatch,
                )
                for lease in leases
            ],
        )
        db.executemany(
            "INSERT INTO attempts (token, job, idx, attempt, node, process, started_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (lease.token, name, lease.minibatch, lease.attempt, req.node, req.process, now)
                for lease in leases
            ],
        )
        return leases

    def heartbeat(self, tokens: list[str], now: float) -> list[str]:
        """Refresh live leases; the tokens whose work should stop are returned."""
        abandon = []
        with self._txn() as db:
            for token in tokens:
                updated = db.execute(
                    "UPDATE minibatches SET heartbeat_at = ? WHERE token = ? AND state = 'leased'",
                    (now, token),
                ).rowcount
                if not updated:
                    abandon.append(token)
        return abandon

    def complete(self, done: Completion, now: float, part_ok: PartCheck) -> bool:
        """Settle the current attempt (one transaction); False for any other attempt's token."""
        return self.complete_all([done], now, part_ok)[0]

    def complete_all(self, report: list[Completion], now: float, part_ok: PartCheck) -> list[bool]:
        """Settle a bundle's attempts in one transaction; per completion, whether it was accepted."""
        seen: set[tuple[str, str]] = set()
        # A bundle's attempts share one part file: one stat for its furthest range claimed, not one each
        # (a file that falls short is checked range by range).
        furthest: dict[str, int] = {}
        for done in report:
            if done.part is not None:
                end = done.part.offset + done.part.length
                furthest[done.part.path] = max(furthest.get(done.part.path, 0), end)
        whole: dict[str, bool] = {}

        def holds(path: str, size: int) -> bool:
            if path not in whole:
                whole[path] = part_ok(path, max(size, furthest.get(path, 0)))
            return whole[path] or part_ok(path, size)

        with self._txn() as db:
            return self._complete_bundle(db, report, now, holds, seen)

    def _complete_bundle(
        self,
        db: sqlite3.Connection,
        report: list[Completion],
        now: float,
        part_ok: PartCheck,
        seen: set[tuple[str, str]],
    ) -> list[bool]:
        """Settle completions in order, the common case in a few statements.

        Every attempt and mini-batch of the report is read in one query per table, and accepted
        successes are written with one executemany per table (per attempt, that was four statements).
        Anything else (an unknown or settled token, a stale attempt, a failure: it may requeue its
        mini-batch or end the job, changing rows later completions are judged on) writes what was
        gathered so far and settles the rest one by one, exactly as before."""
        attempts = read_attempts(db, [done.token for done in report])
        batches = read_batches(db, [(a.job, a.idx) for a in attempts.values()])
        answers: list[bool] = []
        batch_rows: list[tuple[object, ...]] = []
        attempt_rows: list[tuple[object, ...]] = []
        settled_tokens: set[str] = set()
        settled_batches: set[tuple[str, int]] = set()
        for position, done in enumerate(report):
            attempt = attempts.get(done.token)
            verdict = None
            if attempt is not None and attempt.outcome is None:
                key = (attempt.job, attempt.idx)
                batch = batches[key]
                if (
                    batch.state == "leased"
                    and batch.token == done.token
                    and done.outcome == "succeeded"
                    and key not in settled_batches
                    and done.token not in settled_tokens
                ):
                    verdict = self._judge(self._spec(db, attempt.job), batch.part_path, done, part_ok)
            if verdict is None or verdict[0] != "succeeded":
                self._write_successes(db, batch_rows, attempt_rows)
                answers.extend(self._complete(db, later, now, part_ok, seen) for later in report[position:])
                return answers
            assert attempt is not None
            settled_batches.add((attempt.job, attempt.idx))
            settled_tokens.add(done.token)
            if (attempt.job, done.node) not in seen:
                seen.add((attempt.job, done.node))
                self._seen(db, attempt.job, done.node, now)
            _, _, _, part, offset, length = verdict
            batch_rows.append(
                (
                    done.node,
                    done.process,
                    done.elapsed_s,
                    done.rows,
                    part,
                    offset,
                    length,
                    attempt.job,
                    attempt.idx,
                )
            )
            attempt_rows.append(_attempt_values(done, now, "succeeded", accepted=True))
            self._paced(db, self._spec(db, attempt.job), attempt.idx, done.elapsed_s)
            answers.append(True)
        self._write_successes(db, batch_rows, attempt_rows)
        return answers

    @staticmethod
    def _write_successes(
        db: sqlite3.Connection, batch_rows: list[tuple[object, ...]], attempt_rows: list[tuple[object, ...]]
    ) -> None:
        if batch_rows:
            db.executemany(_SUCCEEDED, batch_rows)
            db.executemany(_END_ATTEMPT, attempt_rows)
            batch_rows.clear()
            attempt_rows.clear()

    def _paced(self, db: sqlite3.Connection, spec: JobSpec, idx: int, elapsed_s: float) -> None:
        fit = self._fits.get(spec.name)
        if fit is None:
            fit = self._fits[spec.name] = self._carried[_pace_key(spec)] = CostFit()
        fit.add(self._sizes(db, spec.name)[idx], elapsed_s)

    @staticmethod
    def _judge(
        spec: JobSpec, part: str | None, done: Completion, part_ok: PartCheck
    ) -> tuple[str, str | None, str | None, str | None, int, int | None]:
        """(outcome, failure, error, part file, offset, length) of the current attempt's completion: a
        success of append_row stands only if its rows are in a part file of this job that holds them."""
        outcome, failure, error = done.outcome, done.failure, done.error
        offset, length = 0, None
        if outcome == "succeeded" and spec.settings.output_action == "append_row":
            claim = _claimed_part(spec, part or "", done)
            if isinstance(claim, str):
                outcome, failure, error = "failed", "exception", claim
            else:
                part, offset, length = claim
                if not part_ok(part, offset + (length or 0)):
                    outcome, failure = "failed", "exception"
                    error = f"the node reported success but its part file {part} is missing or short"
        return outcome, failure, error, part, offset, length

    def _complete(
        self,
        db: sqlite3.Connection,
        done: Completion,
        now: float,
        part_ok: PartCheck,
        seen: set[tuple[str, str]],
    ) -> bool:
        attempt = db.execute(
            "SELECT job, idx, outcome, accepted FROM attempts WHERE token = ?", (done.token,)
        ).fetchone()
        if attempt is None:
            return False
        name, idx, outcome, accepted = attempt
        if outcome is not None:  # the same completion again (its answer was lost): same answer
            return bool(accepted) and outcome == done.outcome
        state, token, nfiles, failures, part = db.execute(
            "SELECT state, token, nfiles, failures, part_path FROM minibatches WHERE job = ? AND idx = ?",
            (name, idx),
        ).fetchone()
        if state != "leased" or token != done.token:
            db.execute(_END_ATTEMPT, _attempt_values(done, now, "refused", accepted=False))
            return False
        # Only a report taken counts the node as the job's: a late one from a node that is gone (its
        # mini-batch requeued) must not make it count against instance_count again.
        if (name, done.node) not in seen:
            seen.add((name, done.node))
            self._seen(db, name, done.node, now)
        spec = self._spec(db, name)
        outcome, failure, error, part, offset, length = self._judge(spec, part, done, part_ok)
        if outcome == "succeeded":
            db.execute(
                _SUCCEEDED,
                (done.node, done.process, done.elapsed_s, done.rows, part, offset, length, name, idx),
            )
            db.execute(_END_ATTEMPT, _attempt_values(done, now, "succeeded", accepted=True))
            self._paced(db, spec, idx, done.elapsed_s)
            return True
        failures += 1
        next_state = after_failure(failures, spec.settings.retry_settings.max_retries)
        db.execute(
            "UPDATE minibatches SET state = ?, token = CASE WHEN ? = 'pending' THEN NULL ELSE token END,"
            " failures = ?, failure = ?, last_error = ?, elapsed = ? WHERE job = ? AND idx = ?",
            (next_state, next_state, failures, failure, error, done.elapsed_s, name, idx),
        )
        db.execute(
            _END_ATTEMPT, _attempt_values(done, now, "failed", accepted=True, failure=failure, error=error)
        )
        if next_state == "failed":
            self._count_failed_files(db, spec, nfiles, now)
        return True

    @staticmethod
    def _seen(db: sqlite3.Connection, job: str, node: str, now: float) -> None:
        db.execute(
            "INSERT INTO job_nodes (job, node, last_seen) VALUES (?, ?, ?)"
            " ON CONFLICT (job, node) DO UPDATE SET last_seen = excluded.last_seen",
            (job, node, now),
        )

    def _count_failed_files(self, db: sqlite3.Connection, spec: JobSpec, nfiles: int, now: float) -> None:
        (failed, error) = db.execute(
            "UPDATE jobs SET failed_files = failed_files + ? WHERE name = ? RETURNING failed_files, error",
            (nfiles, spec.name),
        ).fetchall()[0]
        threshold = spec.settings.error_threshold
        if error is None and threshold_exceeded(failed, threshold):
            # Azure: "If the error count for the entire input goes above this value, the batch scoring job
            # is terminated" (reference-yaml-deployment-batch); the rest of the work is abandoned.
            db.execute(
                "UPDATE jobs SET error = ? WHERE name = ?",
                (f"error_threshold {threshold} exceeded: {failed} input files failed.", spec.name),
            )
            self._abandon_rest(db, spec.name, now)

    def expire(self, now: float, expiry_s: float) -> list[tuple[str, int]]:
        """Leases not heartbeated for expiry_s go back to pending, not counted as failed tries."""
        with self._read() as db:  # most passes find nothing: no write transaction for them
            if (
                db.execute(
                    f"SELECT 1 FROM {BY_STATE} WHERE state = 'leased' AND heartbeat_at < ? LIMIT 1",
                    (now - expiry_s,),
                ).fetchone()
                is None
            ):
                return []
        with self._txn() as db:
            expired = db.execute(
                f"SELECT job, idx, token, node FROM {BY_STATE} WHERE state = 'leased' AND heartbeat_at < ?",
                (now - expiry_s,),
            ).fetchall()
            return self._requeue_lost(
                db, expired, now, f"its node {{node}} sent no heartbeat for {expiry_s:g} s"
            )

    def release_gone_nodes(self, nodes: Collection[str], now: float) -> list[tuple[str, int]]:
        """Leases held by nodes that no longer run (killed, preempted, out of memory: the agent lists
        them stopped or not at all) go back to pending at once, as an expired lease does later."""
        if not nodes:
            return []
        with self._txn() as db:
            marks = ", ".join("?" * len(nodes))
            held = db.execute(
                f"SELECT job, idx, token, node FROM {BY_STATE} WHERE state = 'leased' AND node IN ({marks})",
                tuple(nodes),
            ).fetchall()
            # Nor does it count as one of its jobs' instance_count nodes: a new node may take its place.
            db.execute(f"DELETE FROM job_nodes WHERE node IN ({marks})", tuple(nodes))
            return self._requeue_lost(
                db, held, now, "its node {node} is gone (its container stopped running)"
            )

    def forget_node(self, node: str) -> None:
        """A node the scheduler removed counts no more as one of its jobs' instance_count nodes (it
        would for STICKY_S), so the node that replaces it gets their work at once."""
        with self._txn() as db:
            db.execute("DELETE FROM job_nodes WHERE node = ?", (node,))

    def _requeue_lost(
        self, db: sqlite3.Connection, leases: list[tuple[str, int, str, str]], now: float, why: str
    ) -> list[tuple[str, int]]:
        """Lost leases: the try is recorded as expired (with why), the mini-batch is pending again."""
        for job, idx, token, node in leases:
            db.execute(
                "UPDATE attempts SET outcome = 'expired', accepted = 0, ended_at = ?, error = ?"
                " WHERE token = ?",
                (now, f"lost: {why.format(node=node)}; the mini-batch runs again", token),
            )
            (lost,) = db.execute(
                "SELECT COUNT(*) FROM attempts WHERE job = ? AND idx = ? AND outcome = 'expired'",
                (job, idx),
            ).fetchone()
            if lost <= LOST_NODES_FORGIVEN:
                db.execute(
                    "UPDATE minibatches SET state = 'pending', token = NULL WHERE job = ? AND idx = ?",
                    (job, idx),
                )
            else:
                self._lost_too_often(db, job, idx, token, lost, now)
        return [(job, idx) for job, idx, _, _ in leases]

    def _lost_too_often(
        self, db: sqlite3.Connection, job: str, idx: int, token: str, lost: int, now: float
    ) -> None:
        """A mini-batch whose node keeps vanishing while it runs (it may be what kills the node: out of
        memory) counts a failed try from the (LOST_NODES_FORGIVEN + 1)th loss on, so it cannot loop for
        ever; a few losses (preemptions, scale-downs) stay free."""
        spec = self._spec(db, job)
        failures, nfiles = db.execute(
            "SELECT failures, nfiles FROM minibatches WHERE job = ? AND idx = ?", (job, idx)
        ).fetchone()
        failures += 1
        next_state = after_failure(failures, spec.settings.retry_settings.max_retries)
        error = (
            f"the node running it was lost {lost} times while it ran (killed, out of memory, or "
            "preempted): see the node's log and the deployment's memory (the cluster's size)"
        )
        db.execute(
            "UPDATE minibatches SET state = ?, token = NULL, failures = ?, failure = 'worker_died',"
            " last_error = ? WHERE job = ? AND idx = ?",
            (next_state if next_state == "failed" else "pending", failures, error, job, idx),
        )
        db.execute("UPDATE attempts SET failure = 'worker_died', error = ? WHERE token = ?", (error, token))
        if next_state == "failed":
            self._count_failed_files(db, spec, nfiles, now)

    # ------------------------------------------------------------------ scheduling and finalizing

    def demand(self, deployment: str) -> list[JobDemand]:
        with self._read() as db:
            names = db.execute(
                "SELECT name FROM jobs WHERE status IN ('Queued', 'Running') AND deployment = ? ORDER BY seq",
                (deployment,),
            ).fetchall()
            demand = []
            for (name,) in names:
                (outstanding,) = db.execute(
                    f"SELECT COUNT(*) FROM {BY_STATE} WHERE state IN ('pending', 'leased') AND job = ?",
                    (name,),
                ).fetchone()
                demand.append(JobDemand(self._spec(db, name).settings.instance_count, outstanding))
            return demand

    def has_open_jobs(self) -> bool:
        """Whether any job is queued or running (one index lookup)."""
        with self._read() as db:
            return (
                db.execute("SELECT 1 FROM jobs WHERE status IN ('Queued', 'Running') LIMIT 1").fetchone()
                is not None
            )

    def busy_nodes(self) -> set[str]:
        with self._read() as db:
            return {
                node for (node,) in db.execute(f"SELECT DISTINCT node FROM {BY_STATE} WHERE state = 'leased'")
            }

    def settle(self) -> list[str]:
        """Jobs with nothing pending or leased become Finalizing; returns every job that needs finalizing."""
        with self._txn() as db:
            # One write transaction per pass; the scheduler runs passes after completions, not per request.
            db.execute(
                "UPDATE jobs SET status = 'Finalizing' WHERE status IN ('Queued', 'Running')"
                f" AND kind = 'model' AND NOT EXISTS (SELECT 1 FROM {BY_STATE}"
                " WHERE state IN ('pending', 'leased') AND job = jobs.name)"
            )
            rows = db.execute(
                "SELECT name FROM jobs WHERE kind = 'model' AND (status = 'Finalizing'"
                " OR (status = 'Canceled' AND finalized = 0)) ORDER BY seq"
            ).fetchall()
        return [name for (name,) in rows]

    def drained(self, token: str) -> bool:
        """Whether the job of this attempt has no mini-batch pending or leased: the next pass settles it."""
        with self._read() as db:
            row = db.execute(
                f"SELECT NOT EXISTS (SELECT 1 FROM {BY_STATE} WHERE state IN ('pending', 'leased')"
                " AND job = (SELECT job FROM attempts WHERE token = ?))",
                (token,),
            ).fetchone()
        return bool(row[0])

    def accepted_parts(self, name: str) -> list[AcceptedPart]:
        """The accepted rows of a job, in mini-batch order: what the merge concatenates."""
        with self._read() as db:
            rows = db.execute(
                "SELECT idx, part_path, COALESCE(part_offset, 0), part_length FROM minibatches"
                " WHERE job = ? AND state = 'succeeded' ORDER BY idx",
                (name,),
            ).fetchall()
        return [AcceptedPart(*row) for row in rows]

    def finish(self, name: str, status: str, error: str | None, now: float) -> None:
        with self._txn() as db:
            db.execute(
                "UPDATE jobs SET status = ?, error = ?, ended_at = COALESCE(ended_at, ?), finalized = 1"
                " WHERE name = ?",
                (status, error, now, name),
            )
            self._fits.pop(name, None)
            self._bytes.pop(name, None)

    def minibatches(self, name: str) -> list[MiniBatchRow]:
        with self._read() as db:
            rows = db.execute(
                "SELECT idx, files, state, attempt, failures, failure, last_error, rows, part_path"
                " FROM minibatches WHERE job = ? ORDER BY idx",
                (name,),
            ).fetchall()
        return [MiniBatchRow(r[0], json.loads(r[1]), *r[2:]) for r in rows]

    def attempts(self, name: str) -> list[AttemptRow]:
        with self._read() as db:
            rows = db.execute(
                "SELECT idx, attempt, node, process, started_at, ended_at, outcome, COALESCE(accepted, 0),"
                " failure, error, elapsed, rows FROM attempts WHERE job = ? ORDER BY idx, attempt",
                (name,),
            ).fetchall()
        return [
            AttemptRow(
                idx=r[0],
                attempt=r[1],
                node=r[2],
                process=r[3],
                started_at=r[4],
                ended_at=r[5],
                outcome=r[6],
                accepted=bool(r[7]),
                failure=r[8],
                error=r[9],
                elapsed=r[10],
                rows=r[11],
            )
            for r in rows
        ]
