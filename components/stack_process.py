"""Run `pulumi` so that nothing it started outlives it.

`pulumi` starts its language host, the program and the dynamic providers as processes of their own. When
`pulumi` itself is killed (the kernel's OOM killer, a `kill -9` of it alone), those are left running,
each holding a hundred MB or more, and every later killed run adds more. Run under this module, they
are re-parented to it (Linux's child subreaper) instead of to init, and stopped once `pulumi` has
ended: SIGTERM, and SIGKILL for any still running after a grace period.

`--record-dir` also covers `pulumi` and this process killed together (a process-group kill, which
pulumi's plugins survive in groups of their own): see components.stack_process_record.

Signals: Ctrl-C reaches `pulumi` directly (it stays in the terminal's process group) and is ignored
here, so `pulumi` cancels its update as it always does; SIGTERM and SIGHUP sent to this process are
passed on to `pulumi`.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

from components.stack_process_record import Process, Recorder, start_time, stop_left

PR_SET_CHILD_SUBREAPER = 36
SETTLE_S = 1.0  # for processes to end by themselves after `pulumi` did
GRACE_S = 5.0  # between SIGTERM and SIGKILL
STEP_S = 0.1


def become_subreaper() -> bool:
    """Orphans of our descendants become our children (Linux 3.4+); False where that is not possible."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _stat_fields(entry: Path) -> tuple[str, int] | None:
    """(state, parent pid) of a process, None once it is gone."""
    try:
        stat = (entry / "stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1])


def live_children(parent: int, proc: Path = Path("/proc")) -> list[int]:
    """Children of `parent` that still run (zombies are only waiting to be reaped)."""
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(entry)
        if fields is not None and fields[1] == parent and fields[0] != "Z":
            found.append(int(entry.name))
    return sorted(found)


def _reap_zombies() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def stop_leftovers(
    children: Callable[[], list[int]],
    kill: Callable[[int, int], None] = os.kill,
    reap: Callable[[], None] = _reap_zombies,
    sleep: Callable[[float], None] = time.sleep,
    settle_s: float = SETTLE_S,
    grace_s: float = GRACE_S,
) -> list[int]:
    """Stop every remaining child, and the children they leave in turn; the pids that had to be
    signalled (a plugin still on its way out when `pulumi` ended gets `settle_s` to go by itself)."""
    stopped: list[int] = []
    waited = 0.0
    while True:
        reap()
        left = children()
        if not left:
            return stopped
        if waited >= settle_s:
            sig = signal.SIGKILL if waited >= settle_s + grace_s else signal.SIGTERM
            for pid in left:
                if pid not in stopped:
                    stopped.append(pid)
                with contextlib.suppress(ProcessLookupError):
                    kill(pid, sig)
        sleep(STEP_S)
        waited += STEP_S


def stop_recorded(
    processes: list[Process],
    kill: Callable[[int, int], None] = os.kill,
    started: Callable[[int], int | None] = start_time,
    sleep: Callable[[float], None] = time.sleep,
    grace_s: float = GRACE_S,
) -> list[int]:
    """Stop processes that are not our children (no wait() for them): SIGTERM, then SIGKILL for any
    still running after `grace_s`. A process counts as running while its pid has its start time."""

    def running() -> list[int]:
        return [pid for pid, when in processes if started(pid) == when]

    signalled = running()
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 0.0)):
        for pid in running():
            with contextlib.suppress(ProcessLookupError):
                kill(pid, sig)
        waited = 0.0
        while running() and waited < wait_s:
            sleep(STEP_S)
            waited += STEP_S
    return signalled


def run(command: Sequence[str], record_dir: Path | None = None) -> int:
    """Run `command` to its end, then stop what it left running; its exit code (128+N for signal N).

    With `record_dir`: first stop what earlier runs killed with their command left running, and
    record this run's processes there while it runs (components.stack_process_record)."""
    recorder = None
    if record_dir is not None:
        left = stop_left(record_dir, stop_recorded)
        if left:
            print(
                f"stopped {len(left)} process(es) an earlier run left running when it was killed with "
                f"the command it ran: pids {' '.join(map(str, left))}",
                file=sys.stderr,
            )
    subreaper = become_subreaper()
    child = subprocess.Popen(list(command))
    if record_dir is not None:
        recorder = Recorder(record_dir).start()

    def forward(signum: int, _: FrameType | None) -> None:
        child.send_signal(signum)

    previous = {
        signal.SIGINT: signal.signal(signal.SIGINT, signal.SIG_IGN),
        signal.SIGTERM: signal.signal(signal.SIGTERM, forward),
        signal.SIGHUP: signal.signal(signal.SIGHUP, forward),
    }
    try:
        code = child.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if subreaper:
        stopped = stop_leftovers(lambda: live_children(os.getpid()))
        if stopped:
            print(
                f"stopped {len(stopped)} process(es) {command[0]} left running when it ended "
                f"({'killed' if code < 0 else f'exit code {code}'}): pids {' '.join(map(str, stopped))}",
                file=sys.stderr,
            )
    if recorder is not None:
        recorder.close()
    return 128 - code if code < 0 else code


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m components.stack_process",
        description="Run a command (pulumi); when it ends, stop the processes it left running.",
    )
    parser.add_argument(
        "--record-dir",
        type=Path,
        help="keep this run's processes listed here, and first stop what killed earlier runs left",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command and its arguments")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")
    return run(command, args.record_dir)


if __name__ == "__main__":
    sys.exit(main())
