"""Locks a killed `pulumi` left on a stack of the local state backend, and their removal.

A `pulumi up` killed before it ends (a closed terminal, Ctrl-C twice, a machine that stopped) leaves its
lock file in the file:// backend, and every later `make up` then fails with "the stack is currently
locked". A lock whose process ran on this host and no longer runs can hold nothing: it is removed,
and said so. A lock from a process still running, or from another host sharing the backend, stays.

A kill can also land while the backend writes a checkpoint. Its blob store (gocloud fileblob) writes a
file's metadata sidecar (`<file>.attrs`) and then renames the new file over the old one. Killed in
between, it leaves an empty sidecar beside the old, complete checkpoint, and every later command fails
with "failed to load checkpoint: EOF" (seen in CI). A missing sidecar is read as "no metadata", so an
empty one of the stack's checkpoint files is removed, once no lock is held on the stack.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import yaml


@dataclass(frozen=True)
class Lock:
    """One lock file of a stack, as `pulumi` wrote it."""

    path: Path
    pid: int
    hostname: str
    timestamp: str


def state_folder(backend_url: str) -> Path | None:
    """The `.pulumi` folder of a file:// backend; None for any other backend."""
    parsed = urlparse(backend_url)
    return Path(parsed.path) / ".pulumi" if parsed.scheme == "file" else None


def lock_files(backend_url: str, project: str, stack: str) -> list[Path]:
    """The stack's lock files in a file:// backend (project-scoped layout, and the older flat one)."""
    state = state_folder(backend_url)
    if state is None:
        return []
    locks = state / "locks"
    folders = [locks / "organization" / project / stack, locks / stack]
    return sorted(path for folder in folders if folder.is_dir() for path in folder.glob("*.json"))


def read_lock(path: Path) -> Lock | None:
    """None for a file that is not a lock pulumi wrote (left alone)."""
    try:
        data = json.loads(path.read_text())
        return Lock(path, int(data["pid"]), str(data["hostname"]), str(data.get("timestamp", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def runs_pulumi(pid: int, proc: Path = Path("/proc")) -> bool:
    """Whether `pid` is a running pulumi process (a reused pid of another program is not)."""
    try:
        command = (proc / str(pid) / "cmdline").read_bytes()
    except OSError:
        return False
    return b"pulumi" in command


def stale(lock: Lock, hostname: str, running: Callable[[int], bool]) -> bool:
    """Held by a process of this host that is gone: nothing can release it any more."""
    return lock.hostname == hostname and not running(lock.pid)


def clear_stale_locks(
    backend_url: str,
    project: str,
    stack: str,
    hostname: str,
    running: Callable[[int], bool] = runs_pulumi,
) -> list[Lock]:
    """Remove the stack's stale locks; the ones removed."""
    removed = []
    for path in lock_files(backend_url, project, stack):
        lock = read_lock(path)
        if lock is not None and stale(lock, hostname, running):
            path.unlink(missing_ok=True)
            # The file backend's blob store keeps each file's metadata beside it.
            path.with_name(path.name + ".attrs").unlink(missing_ok=True)
            removed.append(lock)
    return removed


def empty_checkpoint_metadata(backend_url: str, project: str, stack: str) -> list[Path]:
    """Empty metadata sidecars of the stack's checkpoint files (and its backups) in a file:// backend."""
    state = state_folder(backend_url)
    if state is None:
        return []
    stacks = state / "stacks"
    folders = [stacks / project, stacks]  # project-scoped layout, and the older flat one
    return sorted(
        path
        for folder in folders
        if folder.is_dir()
        for path in folder.glob(f"{stack}.json*.attrs")
        if path.is_file() and path.stat().st_size == 0
    )


def clear_empty_checkpoint_metadata(backend_url: str, project: str, stack: str) -> list[Path]:
    """Remove them, unless a lock is held on the stack (its pulumi may be writing one right now)."""
    if lock_files(backend_url, project, stack):
        return []
    removed = empty_checkpoint_metadata(backend_url, project, stack)
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def project_name(root: Path) -> str:
    project = yaml.safe_load((root / "Pulumi.yaml").read_text())
    if not isinstance(project, dict) or not project.get("name"):
        raise ValueError(f"{root / 'Pulumi.yaml'} names no project")
    return str(project["name"])


def stack_arguments(
    description: str, what: str, argv: list[str] | None = None
) -> tuple[argparse.Namespace, str] | None:
    """`--backend --stack --root` of a `scripts/stack` check, and the project's name; None (said why)
    when the project cannot be read: a check that cannot run must not stop the command."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--backend", required=True, help="the state backend's URL (PULUMI_BACKEND_URL)")
    parser.add_argument("--stack", required=True)
    parser.add_argument("--root", default=".", help="the project folder (holds Pulumi.yaml)")
    args = parser.parse_args(argv)
    try:
        return args, project_name(Path(args.root))
    except (OSError, ValueError, yaml.YAMLError) as error:
        print(f"{what} not checked: {error}", file=sys.stderr)
        return None


def main(argv: list[str] | None = None) -> int:
    parsed = stack_arguments(__doc__.splitlines()[0], "stack locks", argv)
    if parsed is None:
        return 0
    args, project = parsed
    for lock in clear_stale_locks(args.backend, project, args.stack, socket.gethostname()):
        print(
            f"removed the lock a pulumi process (pid {lock.pid}, since {lock.timestamp}) left on stack "
            f"{args.stack}: that process no longer runs (it was stopped before it ended; `make up` "
            f"refreshes the stack and finishes what it left) ({lock.path})",
            file=sys.stderr,
        )
    for path in clear_empty_checkpoint_metadata(args.backend, project, args.stack):
        print(
            f"removed the empty metadata file a pulumi process killed while it saved stack {args.stack} "
            f"left beside its checkpoint; the checkpoint before that save is read instead ({path})",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
