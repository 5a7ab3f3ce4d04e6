"""Containers and networks a killed `pulumi up` made and never recorded, removed before the next run.

`scripts/stack up|destroy` runs this after clearing stale locks (components.stack_locks). For each
create the checkpoint still has pending (components.stack_checkpoint), the container or network of
that name is removed if it is ours (the managed label, the same endpoint) and no recorded resource
of the stack has its id. Without this, a `destroy` after a killed `up` left the containers being made
running (restart policy "always", ports published) and their network, and said it had deleted
everything; an `up` whose names changed in between left them too. An `up` creates again what it needs.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field

import docker

from components.stack_checkpoint import PendingCreate, pending_creates, recorded_ids, unlocked_checkpoint
from components.targets.local import docker_engine
from components.targets.local.docker_engine import MANAGED_LABEL

_DYNAMIC = "pulumi-python:dynamic:Resource"


@dataclass(frozen=True)
class Leftover:
    """What one interrupted create of ours may have made."""

    kind: str  # "container" | "network"
    name: str
    labels: dict[str, str]
    # Label sets of the containers a container makes at run time (a batch agent's nodes).
    owns: list[dict[str, str]] = field(default_factory=list)


def leftovers(creates: Iterable[PendingCreate]) -> list[Leftover]:
    """The containers and networks of ours among interrupted creates; containers first (a network is
    only removed once nothing is attached to it)."""
    found = []
    for create in creates:
        inputs = create.inputs
        labels, name = inputs.get("labels"), inputs.get("name")
        if create.type != _DYNAMIC or not isinstance(name, str) or not isinstance(labels, dict):
            continue
        labels = {str(k): str(v) for k, v in labels.items() if isinstance(v, str)}
        if "image" in inputs:
            owns = inputs.get("owns") or []
            sets = [owns] if isinstance(owns, dict) else [o for o in owns if isinstance(o, dict)]
            found.append(Leftover("container", name, labels, [{**o} for o in sets]))
        elif set(inputs) <= {"__provider", "name", "labels"}:
            found.append(Leftover("network", name, labels))
    return sorted(found, key=lambda leftover: leftover.kind)


def _ours(found_labels: dict[str, str] | None, wanted: dict[str, str]) -> bool:
    """Carries our managed label and every label the create asked for (so: this endpoint's)."""
    found = found_labels or {}
    return found.get(MANAGED_LABEL) == "true" and all(found.get(k) == v for k, v in wanted.items())


def remove_leftovers(client: docker.DockerClient, found: list[Leftover], keep_ids: set[str]) -> list[str]:
    """Remove what exists of them; what was removed, as "container NAME" / "network NAME"."""
    removed = []
    for leftover in found:
        if leftover.kind == "container":
            try:
                container = client.containers.get(leftover.name)
            except docker.errors.NotFound:
                container = None
            if container is not None:
                if container.id in keep_ids or not _ours(container.labels, leftover.labels):
                    continue  # the stack's own, or not ours: left alone, with what it made
                with contextlib.suppress(docker.errors.NotFound):
                    container.remove(force=True)
                    removed.append(f"container {leftover.name}")
            for labels in leftover.owns:
                made = [f"{k}={v}" for k, v in sorted(labels.items())] + [f"{MANAGED_LABEL}=true"]
                for child in client.containers.list(all=True, filters={"label": made}):
                    with contextlib.suppress(docker.errors.NotFound):
                        child.remove(force=True)
                        removed.append(f"container {child.name}")
        else:
            for net in client.networks.list(names=[leftover.name]):
                net.reload()
                if (
                    net.name == leftover.name
                    and net.id not in keep_ids
                    and _ours(net.attrs.get("Labels"), leftover.labels)
                    and not net.attrs.get("Containers")
                ):
                    with contextlib.suppress(docker.errors.NotFound):
                        net.remove()
                        removed.append(f"network {leftover.name}")
    return removed


def main(argv: list[str] | None = None) -> int:
    checked = unlocked_checkpoint(__doc__.splitlines()[0], "interrupted creates", argv)
    if checked is None:
        return 0
    args, _, deployment = checked
    found = leftovers(pending_creates(deployment))
    if not found:
        return 0
    try:
        client = docker_engine.client()
        removed = remove_leftovers(client, found, recorded_ids(deployment))
    except (docker_engine.DockerEngineError, docker.errors.DockerException) as error:
        names = ", ".join(f"{f.kind} {f.name}" for f in found)
        print(f"could not remove what a killed pulumi was creating ({names}): {error}", file=sys.stderr)
        return 0
    if removed:
        print(
            f"removed what a pulumi killed while creating it left on stack {args.stack}, unknown to the "
            f"stack: {', '.join(removed)} (an `up` creates again what the stack needs)",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
