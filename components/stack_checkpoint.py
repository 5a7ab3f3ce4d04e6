"""What a killed `pulumi` was creating when it stopped, read from the stack's checkpoint.

Pulumi records an operation as pending in the checkpoint before it asks a provider to create a
resource, and records the resource when the provider answers. A pulumi killed in between leaves the
pending "creating" operation: the provider may have made the resource, and the stack does not know
it. The next `up` or `destroy` only warns ("interrupted while creating") and drops the operation, so
whatever was made stays behind, out of the stack's reach (a container left running after `destroy`).
This module reads those operations (file:// backend) so a target can remove what they made first.
"""

from __future__ import annotations

import argparse
import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.stack_locks import lock_files, stack_arguments, state_folder


@dataclass(frozen=True)
class PendingCreate:
    """One resource the checkpoint says was being created when its pulumi stopped."""

    urn: str
    type: str
    inputs: dict[str, Any]


def checkpoint_file(backend_url: str, project: str, stack: str) -> Path | None:
    """The stack's checkpoint in a file:// backend (project-scoped layout, then the older flat one)."""
    state = state_folder(backend_url)
    if state is None:
        return None
    for folder in (state / "stacks" / project, state / "stacks"):
        for name in (f"{stack}.json", f"{stack}.json.gz"):
            if (folder / name).is_file():
                return folder / name
    return None


def _load(path: Path) -> dict[str, Any]:
    raw = path.read_bytes()
    data = json.loads(gzip.decompress(raw) if path.suffix == ".gz" else raw)
    return data if isinstance(data, dict) else {}


def latest_deployment(backend_url: str, project: str, stack: str) -> dict[str, Any]:
    """The checkpoint's latest deployment ({} when there is none or it cannot be read)."""
    path = checkpoint_file(backend_url, project, stack)
    if path is None:
        return {}
    try:
        latest = _load(path).get("checkpoint", {}).get("latest") or {}
    except (OSError, ValueError, AttributeError):
        return {}
    return latest if isinstance(latest, dict) else {}


def pending_creates(deployment: dict[str, Any]) -> list[PendingCreate]:
    """The deployment's pending "creating" operations."""
    found = []
    for op in deployment.get("pending_operations") or []:
        resource = op.get("resource") or {}
        if op.get("type") == "creating" and isinstance(resource.get("inputs"), dict):
            found.append(
                PendingCreate(str(resource.get("urn", "")), str(resource.get("type", "")), resource["inputs"])
            )
    return found


def recorded_ids(deployment: dict[str, Any]) -> set[str]:
    """The ids of the resources the deployment records (what its stack does own)."""
    return {str(r["id"]) for r in deployment.get("resources") or [] if r.get("id")}


def unlocked_checkpoint(
    description: str, what: str, argv: list[str] | None = None
) -> tuple[argparse.Namespace, str, dict[str, Any]] | None:
    """For a `scripts/stack` repair of what a killed pulumi was creating: its arguments, the project
    and the stack's latest deployment; None when the project cannot be read (said why) or a running
    pulumi holds the stack (what it has pending is its own work in progress)."""
    parsed = stack_arguments(description, what, argv)
    if parsed is None:
        return None
    args, project = parsed
    if lock_files(args.backend, project, args.stack):
        return None
    return args, project, latest_deployment(args.backend, project, args.stack)
