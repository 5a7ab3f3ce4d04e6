"""Processes of a killed run, recorded and stopped by the next: fake /proc, then real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from components.stack_process import stop_recorded
from components.stack_process_record import descendants, left_by_gone_runs, start_time, stop_left
from tests.integration.pulumi_stack import REPO


def _stat(pid: int, state: str, parent: int, started: int) -> str:
    # The command may hold spaces and parentheses; field 22 (start time) is the 20th after the ')'.
    rest = [state, str(parent)] + ["0"] * 17 + [str(started), "0"]
    return f"{pid} (odd ) name) {' '.join(rest)}\n"


def _proc(tmp_path: Path, processes: dict[int, tuple[str, int, int]]) -> Path:
    proc = tmp_path / "proc"
    for pid, (state, parent, started) in processes.items():
        (proc / str(pid)).mkdir(parents=True)
        (proc / str(pid) / "stat").write_text(_stat(pid, state, parent, started))
    return proc


def test_descendants_are_every_live_process_under_the_root_with_its_start(tmp_path: Path) -> None:
    proc = _proc(
        tmp_path,
        {10: ("S", 1, 100), 11: ("S", 10, 110), 12: ("R", 11, 120), 13: ("Z", 10, 130), 14: ("S", 1, 140)},
    )
    assert descendants(10, proc) == [(11, 110), (12, 120)]
    assert start_time(12, proc) == 120 and start_time(13, proc) is None and start_time(99, proc) is None


def test_only_a_gone_runs_record_is_acted_on_and_only_for_processes_that_are_still_the_same(
    tmp_path: Path,
) -> None:
    proc = _proc(tmp_path, {20: ("S", 1, 200), 21: ("S", 1, 210), 22: ("S", 1, 999), 30: ("S", 1, 300)})
    records = tmp_path / "records"
    records.mkdir()
    # Run 5 (start 50) is gone: 21 still runs as recorded, 22's pid now belongs to another program,
    # 23 ended. Run 30 (start 300) still runs. A file of another shape is left alone.
    (records / "5-50.json").write_text(json.dumps([[21, 210], [22, 220], [23, 230]]))
    (records / "30-300.json").write_text(json.dumps([[20, 200]]))
    (records / "notes.json").write_text("{}")
    assert left_by_gone_runs(records, proc) == {records / "5-50.json": [(21, 210)]}
    asked: list[list[tuple[int, int]]] = []
    assert stop_left(records, lambda ps: asked.append(ps) or [p for p, _ in ps], proc) == [21]
    assert asked == [[(21, 210)]]
    assert sorted(p.name for p in records.iterdir()) == ["30-300.json", "notes.json"]


def test_stopping_sends_sigterm_then_sigkill_and_never_to_a_reused_pid() -> None:
    starts = {5: 50, 6: 60, 7: 999}  # 7's pid was reused since the record (recorded start 70)
    sent: list[tuple[int, int]] = []
    clock = [0.0]

    def kill(pid: int, sig: int) -> None:
        sent.append((pid, sig))
        if sig == signal.SIGKILL or pid == 6:  # 6 ends on SIGTERM
            starts.pop(pid, None)

    def sleep(s: float) -> None:
        clock[0] += s

    stopped = stop_recorded(
        [(5, 50), (6, 60), (7, 70)], kill=kill, started=starts.get, sleep=sleep, grace_s=1.0
    )
    assert stopped == [5, 6]
    assert sent == [(5, signal.SIGTERM), (6, signal.SIGTERM), (5, signal.SIGKILL)]
    assert clock[0] >= 1.0 and 7 in starts


def test_what_a_run_killed_with_its_command_left_is_stopped_by_the_next_run(tmp_path: Path) -> None:
    records = tmp_path / "records"
    # The command starts a process in a session of its own (as pulumi starts its plugins) and waits.
    plugin = "import os, time; os.setsid(); time.sleep(300)"
    command = (
        f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {plugin!r}]); time.sleep(300)"
    )
    run = subprocess.Popen(
        [sys.executable, "-m", "components.stack_process", "--record-dir", str(records), "--",
         sys.executable, "-c", command],
        cwd=REPO,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        recorded = [json.loads(p.read_text()) for p in records.glob("*.json")] if records.is_dir() else []
        if recorded and len(recorded[0]) == 2:
            break
        time.sleep(0.1)
    (command_pid, _), (plugin_pid, plugin_start) = sorted(recorded[0])
    try:
        os.kill(run.pid, signal.SIGKILL)  # the run and its command, killed together
        run.wait(timeout=10)
        os.kill(command_pid, signal.SIGKILL)
        time.sleep(0.2)
        assert start_time(plugin_pid) == plugin_start, "the plugin should still run: nothing stopped it"
        again = subprocess.run(
            [sys.executable, "-m", "components.stack_process", "--record-dir", str(records), "--", "true"],
            cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert again.returncode == 0, again.stderr
        assert "stopped 1 process(es) an earlier run left running" in again.stderr, again.stderr
        assert f"pids {plugin_pid}" in again.stderr
        assert start_time(plugin_pid) is None
        assert list(records.glob("*.json")) == []  # both runs' records are gone
    finally:
        if start_time(plugin_pid) == plugin_start:
            os.kill(plugin_pid, signal.SIGKILL)
