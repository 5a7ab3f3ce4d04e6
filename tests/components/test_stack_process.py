"""Running pulumi so that what it started does not outlive it: the stop loop, /proc, and a real run."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from components.stack_process import live_children, stop_leftovers
from tests.integration.pulumi_stack import REPO


def _reaper(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m components.stack_process ARGS` as scripts/stack runs it."""
    command = [sys.executable, "-m", "components.stack_process", *args]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60, check=False)


def _proc(tmp_path: Path, processes: dict[int, tuple[str, int]]) -> Path:
    for pid, (state, parent) in processes.items():
        (tmp_path / str(pid)).mkdir()
        # The command may hold spaces and parentheses: fields are read after the last ')'.
        (tmp_path / str(pid) / "stat").write_text(f"{pid} (odd ) name) {state} {parent} 1 1 0\n")
    (tmp_path / "self").mkdir()
    return tmp_path


def test_live_children_are_the_running_children_only(tmp_path: Path) -> None:
    proc = _proc(tmp_path, {10: ("S", 1), 11: ("R", 1), 12: ("Z", 1), 13: ("S", 10)})
    assert live_children(1, proc) == [10, 11]


def test_leftovers_get_time_to_end_then_sigterm_then_sigkill() -> None:
    alive = {5: 99.0, 6: 0.5}  # pid -> when it ends by itself (6 ends within the settle time)
    clock = [0.0]
    sent: list[tuple[int, int]] = []

    def kill(pid: int, sig: int) -> None:
        sent.append((pid, sig))
        if sig == signal.SIGKILL:
            alive.pop(pid, None)

    def sleep(s: float) -> None:
        clock[0] += s

    def children() -> list[int]:
        return sorted(pid for pid, end in alive.items() if clock[0] < end)

    stopped = stop_leftovers(children, kill, reap=lambda: None, sleep=sleep, settle_s=1.0, grace_s=2.0)
    assert stopped == [5]
    signals = [sig for pid, sig in sent if pid == 5]
    assert signals[0] == signal.SIGTERM and signals[-1] == signal.SIGKILL
    assert all(pid == 5 for pid, _ in sent)


def test_nothing_left_nothing_said() -> None:
    assert stop_leftovers(lambda: [], kill=lambda *_: None, reap=lambda: None, sleep=lambda _: None) == []


def test_a_process_the_command_left_running_is_stopped_and_its_exit_code_kept() -> None:
    # `sh` starts `sleep` in the background and exits: the sleep is an orphan, as a language host is
    # when pulumi is killed. Without the reaper, the captured pipe stays open for 300 s.
    done = _reaper("--", "sh", "-c", "sleep 300 & echo $!; exit 3")
    assert done.returncode == 3, done.stderr
    orphan = int(done.stdout.split()[0])
    assert "stopped 1 process(es) sh left running when it ended (exit code 3)" in done.stderr
    assert f"pids {orphan}" in done.stderr
    assert not Path(f"/proc/{orphan}").exists() or _state(orphan) == "Z"


def test_a_command_killed_by_a_signal_exits_as_a_shell_would() -> None:
    done = _reaper("--", "sh", "-c", "kill -9 $$")
    assert done.returncode == 128 + signal.SIGKILL, done.stderr
    assert done.stderr == ""


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_no_command_is_a_usage_error() -> None:
    done = _reaper()
    assert done.returncode == 2 and "no command given" in done.stderr
