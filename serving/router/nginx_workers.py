"""Which nginx worker processes may still accept connections, read from /proc.

On a reload nginx starts the new workers first and only about 100 ms later tells the old ones to
stop accepting. In that window a new connection may land on a worker that still runs the old
config, so "the new workers answer" does not yet mean "the new config is in force". A worker
that has been told to quit renames itself "worker process is shutting down" right before it
closes its listening sockets; one that is gone has no /proc entry (or, as a zombie, no cmdline).
"""

from __future__ import annotations

from pathlib import Path

_PROC = Path("/proc")
_SHUTTING_DOWN = b"shutting down"


def _parent_of(stat_text: str) -> int | None:
    # /proc/PID/stat is "pid (comm) state ppid ..."; comm may hold spaces and parentheses.
    fields = stat_text.rpartition(")")[2].split()
    return int(fields[1]) if len(fields) > 1 else None


def children_of(master_pid: int, proc: Path = _PROC) -> set[int]:
    """Pids whose parent is `master_pid` (nginx's workers; this router runs no cache processes)."""
    found: set[int] = set()
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat_text = (entry / "stat").read_text()
        except OSError:  # exited while we looked
            continue
        if _parent_of(stat_text) == master_pid:
            found.add(int(entry.name))
    return found


def still_accepting(pids: set[int], proc: Path = _PROC) -> set[int]:
    """Those of `pids` that are alive and not yet shutting down, i.e. may still accept connections."""
    alive: set[int] = set()
    for pid in pids:
        try:
            cmdline = (proc / str(pid) / "cmdline").read_bytes()
        except OSError:
            continue
        if cmdline and _SHUTTING_DOWN not in cmdline:
            alive.add(pid)
    return alive
