"""Telling nginx's old workers from new ones through a /proc laid out by the test."""

from __future__ import annotations

import os
from pathlib import Path

from serving.router.nginx_workers import children_of, still_accepting


def _process(proc: Path, pid: int, parent: int, title: bytes, comm: str = "nginx") -> None:
    entry = proc / str(pid)
    entry.mkdir()
    (entry / "stat").write_text(f"{pid} ({comm}) S {parent} {pid} {pid} 0 -1\n")
    (entry / "cmdline").write_bytes(title)


def test_children_are_the_processes_whose_parent_is_the_master(tmp_path: Path) -> None:
    _process(tmp_path, 10, 1, b"nginx: master process\0")
    _process(tmp_path, 11, 10, b"nginx: worker process\0")
    _process(tmp_path, 12, 10, b"nginx: worker process\0")
    _process(tmp_path, 13, 1, b"python\0")
    # A command name with spaces and a parenthesis must not shift the parent field.
    _process(tmp_path, 14, 10, b"x\0", comm="odd) name (")
    (tmp_path / "self").mkdir()
    assert children_of(10, tmp_path) == {11, 12, 14}


def test_a_shutting_down_a_zombie_or_a_gone_worker_no_longer_accepts(tmp_path: Path) -> None:
    _process(tmp_path, 11, 10, b"nginx: worker process\0")
    _process(tmp_path, 12, 10, b"nginx: worker process is shutting down\0")
    _process(tmp_path, 13, 10, b"")  # a zombie has an empty cmdline
    assert still_accepting({11, 12, 13, 99}, tmp_path) == {11}


def test_the_real_proc_sees_this_process_as_its_parents_child() -> None:
    assert os.getpid() in children_of(os.getppid())
    assert still_accepting({os.getpid()}) == {os.getpid()}
