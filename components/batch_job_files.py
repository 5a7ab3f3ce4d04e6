"""A batch job's files on this machine: its logs (summary and per node) and copying its outputs out."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from components.batch_datastore_paths import host_path
from components.batch_inputs import _visible_files
from components.endpoint_cli import CliError
from serving.batch.protocol import DEFAULT_DATASTORE


def job_logs_folder(name: str, job: Mapping[str, Any] | None, folders: Mapping[str, Path]) -> Path:
    logs_uri = ((job or {}).get("properties") or {}).get("logsUri")
    if logs_uri:
        return host_path(str(logs_uri), folders)
    store = folders.get(DEFAULT_DATASTORE)
    if store is None:
        raise CliError(f"the stack exports no folder for the default datastore {DEFAULT_DATASTORE}")
    return store / "azureml" / name / "logs"


def user_log_nodes(logs: Path) -> list[str]:
    user = logs / "user"
    return sorted(
        {p.name for kind in ("stdout", "stderr", "error") for p in (user / kind).glob("*") if p.is_dir()}
    )


def pick_nodes(nodes: Sequence[str], wanted: str | None) -> list[str]:
    """All nodes, or the one named (full name, or a unique part of it such as the suffix)."""
    if wanted is None:
        return list(nodes)
    if wanted in nodes:
        return [wanted]
    matches = [n for n in nodes if wanted in n]
    if len(matches) == 1:
        return matches
    listed = ", ".join(nodes) or "none yet"
    if matches:
        raise CliError(f"--node {wanted} matches several nodes: {', '.join(matches)}")
    raise CliError(f"no node {wanted!r} in the job's user logs; nodes: {listed}")


def log_files(logs: Path, node: str | None = None, step: str | None = None) -> list[Path]:
    """The job's summary logs, its steps' logs (a pipeline job; all, or `step`'s), then the user logs of
    the chosen node(s) (empty ones left out)."""
    chosen: list[Path] = [logs / "job_result.txt", logs / "job_error.txt"]
    overviews = sorted(logs.glob("job_progress_overview.*.txt"))
    chosen += overviews[-1:]
    summary = [p for p in chosen if p.is_file()]
    # A pipeline job's steps (logs/steps/<step>/std_log.txt), in the order they started.
    steps = sorted(logs.glob("steps/*/std_log.txt"), key=lambda p: p.stat().st_mtime)
    if step is not None:
        known = [p.parent.name for p in steps]
        if step not in known:
            listed = ", ".join(known) or "none"
            raise CliError(f"no step {step!r} has a log in this job; steps with logs: {listed}")
        steps = [p for p in steps if p.parent.name == step]
    summary += steps
    user: list[Path] = []
    for name in pick_nodes(user_log_nodes(logs), node):
        for kind in ("stdout", "stderr", "error"):
            user += sorted(p for p in (logs / "user" / kind / name).glob("process*.txt") if p.is_file())
    return summary + [p for p in user if p.stat().st_size > 0]


def tail_text(text: str, lines: int | None) -> str:
    if lines is None:
        return text
    kept = text.splitlines(keepends=True)
    return "".join(kept[-lines:]) if lines > 0 else ""


def download_plan(source: Path, destination: Path) -> list[tuple[Path, Path]]:
    """(from, to) for every output file (hidden ones, e.g. merges in progress, left out)."""
    if source.is_file():
        return [(source, destination / source.name)]
    return [(path, destination / rel) for rel, path in _visible_files(source)]


def copy_files(plan: Sequence[tuple[Path, Path]], overwrite: bool) -> int:
    """Copy every file (temp name, then rename); nothing at all when one would be overwritten."""
    existing = [to for _, to in plan if to.exists()]
    if existing and not overwrite:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise CliError(f"{existing[0]} already exists{more}; pass --overwrite to replace")
    total = 0
    for source, to in plan:
        temporary = to.with_name(f".{to.name}.download-{os.getpid()}")
        try:
            to.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, temporary)
            os.replace(temporary, to)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise CliError(f"cannot copy {source} to {to}: {exc.strerror or exc}") from None
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        total += to.stat().st_size
    return total
