"""How many CPUs this process may really use: affinity and the container's CPU quota, not the host's count."""

from __future__ import annotations

import math
import os
from pathlib import Path

_CGROUP = Path("/sys/fs/cgroup")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def quota_cpus(cgroup_root: Path = _CGROUP) -> float | None:
    """CPUs allowed by the cgroup CPU quota (v2 cpu.max or v1 cfs quota); None when unlimited."""
    v2 = _read(cgroup_root / "cpu.max")
    if v2 is not None:
        quota, _, period = v2.partition(" ")
        return None if quota == "max" else int(quota) / int(period or "100000")
    quota_us, period_us = (
        _read(cgroup_root / "cpu" / "cpu.cfs_quota_us"),
        _read(cgroup_root / "cpu" / "cpu.cfs_period_us"),
    )
    if quota_us is None or period_us is None or int(quota_us) <= 0:
        return None
    return int(quota_us) / int(period_us)


def usable_cpus(cgroup_root: Path = _CGROUP) -> int:
    """nginx 1.22's `worker_processes auto` counts the host's CPUs; a container may have far fewer."""
    count = len(os.sched_getaffinity(0))
    quota = quota_cpus(cgroup_root)
    if quota is not None:
        count = min(count, math.ceil(quota))
    return max(1, count)


def worker_count(setting: str, cgroup_root: Path = _CGROUP) -> str:
    """The worker_processes value for a MLE_ROUTER_WORKERS setting ("auto" or a number)."""
    if setting == "auto":
        return str(usable_cpus(cgroup_root))
    if not setting.isdigit() or int(setting) < 1:
        raise ValueError(f"MLE_ROUTER_WORKERS must be 'auto' or a positive number, got {setting!r}")
    return setting
