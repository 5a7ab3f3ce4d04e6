"""The processes a `stack_process` run started, kept in a file so a later run can stop them.

`stack_process` stops what `pulumi` leaves running when `pulumi` alone is killed. When both are
killed at once (a process-group kill from a CI runner or `timeout -s KILL`: pulumi's plugins run in
process groups of their own and survive it), nothing is left to do that, and the language host,
program and providers run on, a few hundred MB each. So each run writes its descendants, every
second, to `<folder>/<pid>-<start>.json` and removes the file when it ends; the next run stops what
a file of a run that is gone still lists. A process is named by its pid and its start time (field
22 of /proc/PID/stat), so a pid the kernel has since given to another program is never signalled.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path

Process = tuple[int, int]  # (pid, start time in clock ticks since boot)
RECORD_EVERY_S = 1.0


def _stat(entry: Path) -> tuple[str, int, int] | None:
    """(state, parent pid, start time) of /proc/PID, None once it is gone."""
    try:
        fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        return fields[0], int(fields[1]), int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def start_time(pid: int, proc: Path = Path("/proc")) -> int | None:
    """The process's start time, None once it is gone (or a zombie: nothing left to stop)."""
    stat = _stat(proc / str(pid))
    return None if stat is None or stat[0] == "Z" else stat[2]


def descendants(root: int, proc: Path = Path("/proc")) -> list[Process]:
    """Every live process under `root`, with its start time (one read of /proc, every second)."""
    children: dict[int, list[Process]] = {}
    for entry in proc.iterdir():
        stat = _stat(entry) if entry.name.isdigit() else None
        if stat is not None and stat[0] != "Z":
            children.setdefault(stat[1], []).append((int(entry.name), stat[2]))
    found: list[Process] = []
    todo = [root]
    while todo:
        for process in children.get(todo.pop(), []):
            found.append(process)
            todo.append(process[0])
    return sorted(found)


def _write(path: Path, processes: list[Process]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps([list(p) for p in processes]))
    tmp.replace(path)


def _read(path: Path) -> list[Process]:
    try:
        data = json.loads(path.read_text())
        return [(int(pid), int(started)) for pid, started in data]
    except (OSError, ValueError, TypeError):
        return []


class Recorder:
    """Keeps `<folder>/<pid>-<start>.json` listing this process's descendants until `close()`."""

    def __init__(self, folder: Path, proc: Path = Path("/proc")) -> None:
        self.proc = proc
        me = os.getpid()
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{me}-{start_time(me, proc)}.json"
        self._seen: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="record-processes", daemon=True)

    def start(self) -> Recorder:
        self.record()
        self._thread.start()
        return self

    def record(self) -> None:
        """Add what runs under us now (what ended stays listed: its start time keeps it harmless)."""
        now = descendants(os.getpid(), self.proc)
        if any(self._seen.get(pid) != started for pid, started in now):
            self._seen.update(now)
            _write(self.path, sorted(self._seen.items()))

    def _loop(self) -> None:
        while not self._stop.wait(RECORD_EVERY_S):
            with contextlib.suppress(OSError):
                self.record()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.path.unlink(missing_ok=True)


def left_by_gone_runs(folder: Path, proc: Path = Path("/proc")) -> dict[Path, list[Process]]:
    """Per record of a run that no longer runs: its processes that still run (same start time)."""
    found: dict[Path, list[Process]] = {}
    if not folder.is_dir():
        return found
    for path in sorted(folder.glob("*-*.json")):
        owner, _, started = path.stem.partition("-")
        if not (owner.isdigit() and started.isdigit()):
            continue
        if start_time(int(owner), proc) == int(started):
            continue  # that run still runs: its processes are its own business
        found[path] = [(pid, when) for pid, when in _read(path) if start_time(pid, proc) == when]
    return found


def stop_left(
    folder: Path,
    stop: Callable[[list[Process]], list[int]],
    proc: Path = Path("/proc"),
) -> list[int]:
    """Stop what gone runs recorded and still runs (with `stop`), remove their records; the pids
    stopped."""
    stopped: list[int] = []
    for path, processes in left_by_gone_runs(folder, proc).items():
        if processes:
            stopped.extend(stop(processes))
        path.unlink(missing_ok=True)
    return stopped
