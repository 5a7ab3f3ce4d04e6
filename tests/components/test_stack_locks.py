"""Stale stack locks: only a lock of this host whose pulumi process is gone is removed."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from components import stack_locks
from components.stack_locks import clear_stale_locks, lock_files, runs_pulumi


def _lock(state: Path, stack: str, name: str, pid: int, hostname: str = "box") -> Path:
    folder = state / ".pulumi" / "locks" / "organization" / "mlendpoints" / stack
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps({"pid": pid, "username": "root", "hostname": hostname, "timestamp": "t"}))
    (folder / f"{name}.json.attrs").write_text("{}")
    return path


def test_a_lock_of_a_gone_process_of_this_host_is_removed_with_its_metadata(tmp_path: Path) -> None:
    gone = _lock(tmp_path, "local", "a", pid=111)
    removed = clear_stale_locks(
        f"file://{tmp_path}", "mlendpoints", "local", "box", running=lambda pid: False
    )
    assert [lock.pid for lock in removed] == [111]
    assert not gone.exists() and not gone.with_name("a.json.attrs").exists()


def test_a_running_process_or_another_hosts_lock_stays(tmp_path: Path) -> None:
    running = _lock(tmp_path, "local", "a", pid=111)
    elsewhere = _lock(tmp_path, "local", "b", pid=222, hostname="other")
    removed = clear_stale_locks(
        f"file://{tmp_path}", "mlendpoints", "local", "box", running=lambda pid: pid == 111
    )
    assert removed == [] and running.exists() and elsewhere.exists()


def test_only_the_named_stack_and_only_file_backends_are_looked_at(tmp_path: Path) -> None:
    other = _lock(tmp_path, "prod", "a", pid=111)
    assert clear_stale_locks(f"file://{tmp_path}", "mlendpoints", "local", "box", lambda pid: False) == []
    assert other.exists()
    assert lock_files("https://api.pulumi.com", "mlendpoints", "prod") == []


def test_a_file_that_is_not_a_lock_is_left_alone(tmp_path: Path) -> None:
    odd = _lock(tmp_path, "local", "a", pid=1)
    odd.write_text("not json")
    assert clear_stale_locks(f"file://{tmp_path}", "mlendpoints", "local", "box", lambda pid: False) == []
    assert odd.exists()


def test_runs_pulumi_reads_the_process_command_line(tmp_path: Path) -> None:
    (tmp_path / "7").mkdir()
    (tmp_path / "7" / "cmdline").write_bytes(b"/opt/bin/pulumi\0up\0")
    (tmp_path / "8").mkdir()
    (tmp_path / "8" / "cmdline").write_bytes(b"python\0")  # a reused pid: not the lock's pulumi
    assert runs_pulumi(7, tmp_path) and not runs_pulumi(8, tmp_path) and not runs_pulumi(9, tmp_path)
    assert not runs_pulumi(os.getpid())


def test_the_command_says_what_it_removed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: mlendpoints\nruntime: python\n")
    _lock(tmp_path, "local", "a", pid=2**22 + 5, hostname=socket.gethostname())
    empty = _checkpoint(tmp_path, "local", b"")  # the same kill cut a checkpoint save short
    assert (
        stack_locks.main(["--backend", f"file://{tmp_path}", "--stack", "local", "--root", str(tmp_path)])
        == 0
    )
    err = capsys.readouterr().err
    assert "removed the lock a pulumi process (pid 4194309" in err and "stack local" in err
    assert "removed the empty metadata file a pulumi process killed while it saved stack local" in err
    assert not empty.exists()


def _checkpoint(state: Path, stack: str, metadata: bytes) -> Path:
    folder = state / ".pulumi" / "stacks" / "mlendpoints"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stack}.json").write_text("{}")
    (folder / f"{stack}.json.attrs").write_bytes(metadata)
    return folder / f"{stack}.json.attrs"


def test_an_empty_checkpoint_metadata_file_a_kill_left_is_removed_once_no_lock_is_held(
    tmp_path: Path,
) -> None:
    # Killed between creating the sidecar and writing it: pulumi then fails "failed to load checkpoint: EOF".
    empty = _checkpoint(tmp_path, "local", b"")
    (empty.parent / "local.json.bak.attrs").write_bytes(b"gob bytes")
    other = _checkpoint(tmp_path, "prod", b"")
    live = _lock(tmp_path, "local", "a", pid=111)
    backend = f"file://{tmp_path}"
    assert stack_locks.clear_empty_checkpoint_metadata(backend, "mlendpoints", "local") == []  # a pulumi runs
    assert empty.exists()
    live.unlink()
    live.with_name("a.json.attrs").unlink()
    assert stack_locks.clear_empty_checkpoint_metadata(backend, "mlendpoints", "local") == [empty]
    assert not empty.exists()
    assert (empty.parent / "local.json.bak.attrs").exists() and other.exists()  # not empty; another stack
    assert stack_locks.empty_checkpoint_metadata("https://api.pulumi.com", "mlendpoints", "local") == []
