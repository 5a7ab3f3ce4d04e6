"""Worker count from affinity and the cgroup CPU quota (v1 and v2), not the host's CPU count."""

from __future__ import annotations

import os

import pytest

from serving.router.cpus import quota_cpus, usable_cpus, worker_count


def test_cgroup_v2_quota(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert quota_cpus(tmp_path) == 1.5
    assert usable_cpus(tmp_path) == min(2, len(os.sched_getaffinity(0)))
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert quota_cpus(tmp_path) is None


def test_cgroup_v1_quota(tmp_path):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("50000")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000")
    assert quota_cpus(tmp_path) == 0.5
    assert usable_cpus(tmp_path) == 1
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1")
    assert quota_cpus(tmp_path) is None


def test_no_cgroup_files_means_affinity(tmp_path):
    assert usable_cpus(tmp_path) == len(os.sched_getaffinity(0))


def test_worker_setting(tmp_path):
    assert worker_count("3", tmp_path) == "3"
    assert worker_count("auto", tmp_path) == str(len(os.sched_getaffinity(0)))
    with pytest.raises(ValueError, match="MLE_ROUTER_WORKERS"):
        worker_count("0", tmp_path)
