"""The node's memory limit and its OOM kills, read from the container's own cgroup (v2 or v1).

A worker killed by SIGKILL may have been killed by anyone; the kernel counts its own OOM kills in
the cgroup's `memory.events` (`oom_kill`), so the node can tell a user "out of memory, the limit
is 3584 MiB" instead of guessing. Without a readable cgroup (not v2, not a container) it says it
cannot tell.
"""

from __future__ import annotations

from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")
# The kernel's OOM killer picks the process with the highest badness; a worker (the user's driver,
# the one that allocates) gets +500 so that the node's supervisor, which holds the leases and reports
# the failure, is not the one taken (Kubernetes gives burstable pods' processes a similar bias).
WORKER_OOM_SCORE_ADJ = 500
_NO_LIMIT = 2**60


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


class OomKillCounter:
    """How many processes the kernel's OOM killer took in this cgroup; None when it cannot be read.

    cgroup v2: `memory.events`; v1 (the memory controller mounted apart): `memory/memory.oom_control`.
    Both carry an `oom_kill <count>` line. A worker reads it before each bundle, so the file that held
    the count is read directly next time, without first failing to open the other version's file."""

    def __init__(self, root: Path = CGROUP) -> None:
        self._candidates = (root / "memory.events", root / "memory" / "memory.oom_control")
        self._found: Path | None = None

    def read(self) -> int | None:
        if self._found is not None:
            count = _oom_kill_line(_read(self._found))
            if count is not None:
                return count
        for path in self._candidates:
            count = _oom_kill_line(_read(path))
            if count is not None:
                self._found = path
                return count
        return None


def _oom_kill_line(text: str | None) -> int | None:
    for line in (text or "").splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill" and value.strip().isdigit():
            return int(value)
    return None


def memory_limit(root: Path = CGROUP) -> str | None:
    """The cgroup's memory limit as text ("3584 MiB"); None when there is none or it cannot be read."""
    for path in (root / "memory.max", root / "memory" / "memory.limit_in_bytes"):
        value = (_read(path) or "").strip()
        # v2 says "max" for no limit, v1 a number near 2**63.
        if value.isdigit() and int(value) < _NO_LIMIT:
            return f"{int(value) // (1024 * 1024)} MiB"
    return None


def sigkill_hint(kills_before: int | None, kills_now: int | None, limit: str | None) -> str:
    """What to say of a worker killed by SIGKILL, given the cgroup's OOM kill count before its
    bundle and now, and the node's memory limit."""
    if kills_before is None or kills_now is None:
        return " (the kernel's OOM killer sends it when the node runs out of memory)"
    if kills_now > kills_before:
        within = f", its limit is {limit} (the cluster's size)" if limit else ""
        return (
            f" (the kernel's OOM killer: the node ran out of memory{within}; use a cluster size with "
            "more memory, a smaller mini_batch_size or a lower max_concurrency_per_instance)"
        )
    return " (not by the kernel's OOM killer: the node's cgroup counted no OOM kill)"


def prefer_for_oom_kill(pid: int | str = "self") -> None:
    """Make a worker the OOM killer's first choice over the supervisor (best effort: a kernel that
    refuses leaves the default, which is no worse)."""
    try:
        Path(f"/proc/{pid}/oom_score_adj").write_text(str(WORKER_OOM_SCORE_ADJ))
    except OSError:
        return
