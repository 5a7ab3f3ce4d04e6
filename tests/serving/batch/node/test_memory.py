"""The node's cgroup: OOM kills counted by the kernel, the memory limit, what a SIGKILL is called."""

from __future__ import annotations

import os
from pathlib import Path

from serving.batch.node.memory import (
    WORKER_OOM_SCORE_ADJ,
    OomKillCounter,
    memory_limit,
    prefer_for_oom_kill,
    sigkill_hint,
)

EVENTS = "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n"


def test_the_oom_kill_count_and_the_limit_are_read_from_the_cgroup(tmp_path: Path) -> None:
    assert (OomKillCounter(tmp_path).read(), memory_limit(tmp_path)) == (None, None)  # no cgroup v2 files
    (tmp_path / "memory.events").write_text(EVENTS)
    (tmp_path / "memory.max").write_text("3758096384\n")
    assert (OomKillCounter(tmp_path).read(), memory_limit(tmp_path)) == (2, "3584 MiB")
    (tmp_path / "memory.max").write_text("max\n")
    assert memory_limit(tmp_path) is None


def test_cgroup_v1s_memory_controller_is_read_too(tmp_path: Path) -> None:
    (tmp_path / "memory").mkdir()
    (tmp_path / "memory" / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 4\n")
    (tmp_path / "memory" / "memory.limit_in_bytes").write_text("536870912\n")
    assert (OomKillCounter(tmp_path).read(), memory_limit(tmp_path)) == (4, "512 MiB")
    (tmp_path / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712\n")  # no limit
    assert memory_limit(tmp_path) is None


def test_a_sigkill_is_named_an_oom_kill_only_when_the_kernel_counted_one() -> None:
    struck = sigkill_hint(2, 3, "3584 MiB")
    assert struck.startswith(" (the kernel's OOM killer: the node ran out of memory, its limit is 3584 MiB")
    assert "a smaller mini_batch_size" in struck
    assert (
        sigkill_hint(3, 3, "3584 MiB")
        == " (not by the kernel's OOM killer: the node's cgroup counted no OOM kill)"
    )
    assert "sends it when the node runs out of memory" in sigkill_hint(None, 3, None)


def test_a_worker_makes_itself_the_oom_killers_first_choice() -> None:
    pid = os.fork()
    if pid == 0:  # in a child: raising one's own oom_score_adj needs no privilege
        prefer_for_oom_kill()
        os._exit(
            0 if Path("/proc/self/oom_score_adj").read_text().strip() == str(WORKER_OOM_SCORE_ADJ) else 1
        )
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_counter_reads_the_file_that_held_the_count_next_time(tmp_path: Path) -> None:
    (tmp_path / "memory").mkdir()
    v1 = tmp_path / "memory" / "memory.oom_control"
    v1.write_text("oom_kill_disable 0\noom_kill 4\n")
    counter = OomKillCounter(tmp_path)
    assert counter.read() == 4
    v1.write_text("oom_kill_disable 0\noom_kill 5\n")
    # A v2 file appearing later is not read: the counter keeps to the file it found the count in.
    (tmp_path / "memory.events").write_text(EVENTS)
    assert counter.read() == 5
    v1.unlink()  # that file gone: the others are tried again
    assert counter.read() == 2
    assert OomKillCounter(tmp_path / "none").read() is None
