"""The job store's SQLite schema, and what a store written by an older controller gets on open."""

from __future__ import annotations

import sqlite3

BY_STATE = "minibatches INDEXED BY minibatches_state"  # see the index's comment in SCHEMA

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    deployment TEXT NOT NULL,
    status TEXT NOT NULL,
    spec TEXT NOT NULL,
    created_at REAL NOT NULL,
    started_at REAL,
    ended_at REAL,
    total_files INTEGER NOT NULL,
    total_minibatches INTEGER NOT NULL,
    failed_files INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    finalized INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_active ON jobs (status, deployment, seq);
CREATE TABLE IF NOT EXISTS minibatches (
    job TEXT NOT NULL,
    idx INTEGER NOT NULL,
    files TEXT NOT NULL,
    nfiles INTEGER NOT NULL,
    nbytes INTEGER,
    state TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    token TEXT,
    node TEXT,
    process INTEGER,
    heartbeat_at REAL,
    leased_at REAL,
    failures INTEGER NOT NULL DEFAULT 0,
    failure TEXT,
    last_error TEXT,
    elapsed REAL,
    rows INTEGER,
    part_path TEXT,
    part_offset INTEGER,
    part_length INTEGER,
    PRIMARY KEY (job, idx)
) WITHOUT ROWID;
-- Scheduling reads go through this index (INDEXED BY): without statistics SQLite would rather scan a
-- job's every mini-batch by primary key, which makes each lease cost O(job size).
CREATE INDEX IF NOT EXISTS minibatches_state ON minibatches (state, job, idx);
CREATE UNIQUE INDEX IF NOT EXISTS minibatches_token ON minibatches (token) WHERE token IS NOT NULL;
CREATE TABLE IF NOT EXISTS attempts (
    token TEXT PRIMARY KEY,
    job TEXT NOT NULL,
    idx INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    node TEXT NOT NULL,
    process INTEGER NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    outcome TEXT,
    accepted INTEGER,
    failure TEXT,
    error TEXT,
    elapsed REAL,
    rows INTEGER
);
CREATE INDEX IF NOT EXISTS attempts_job ON attempts (job, idx, attempt);
-- The nodes a job ran on lately: a job keeps to its instance_count nodes between mini-batches,
-- instead of moving to whichever node asks first (each move costs the driver's init()).
CREATE TABLE IF NOT EXISTS job_nodes (
    job TEXT NOT NULL,
    node TEXT NOT NULL,
    last_seen REAL NOT NULL,
    PRIMARY KEY (job, node)
) WITHOUT ROWID;
"""


# Columns added after the first release: a store from an older controller gets them on open.
ADDED_COLUMNS = {
    "minibatches": (("part_offset", "INTEGER"), ("part_length", "INTEGER"), ("nbytes", "INTEGER")),
    # model: mini-batches on nodes; pipeline: steps (step_store.py), settled by the pipeline runner.
    "jobs": (("kind", "TEXT NOT NULL DEFAULT 'model'"),),
}


def add_missing_columns(db: sqlite3.Connection) -> None:
    for table, columns in ADDED_COLUMNS.items():
        have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        for column, kind in columns:
            if column not in have:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
