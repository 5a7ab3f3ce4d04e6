"""An endpoint namespace a killed `pulumi up` was creating, removed before `scripts/stack destroy`.

Pulumi records a create as pending before it asks the provider, and forgets a pending create at the
next run ("interrupted while creating"). A `make up` of a kubernetes stack killed while the provider
created an endpoint's namespace thus left a namespace the stack does not know: `destroy` said it had
deleted everything and the namespace stayed. (A later `up` takes it over: the provider creates by
server-side apply. And nothing else of the endpoint is in it yet, as Pulumi creates the namespace's
objects only after it; whatever a killed run was creating later sits in a recorded namespace, which
`destroy` deletes with everything in it.) So before `destroy`, such a namespace is deleted when it
exists, is not recorded, and carries the labels this stack gives its namespaces (managed by
mlendpoints, owned by this project and stack).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from components.stack_checkpoint import PendingCreate, pending_creates, recorded_ids, unlocked_checkpoint
from components.targets.kubernetes import plan

NAMESPACE_TYPE = "kubernetes:core/v1:Namespace"


def leftover_namespaces(creates: Iterable[PendingCreate], owner: str) -> list[str]:
    """Names of the namespaces among interrupted creates that this stack's endpoints would own."""
    found = []
    for create in creates:
        metadata = create.inputs.get("metadata")
        if create.type != NAMESPACE_TYPE or not isinstance(metadata, dict):
            continue
        name, labels = metadata.get("name"), metadata.get("labels")
        if isinstance(name, str) and isinstance(labels, dict) and _ours(labels, owner):
            found.append(name)
    return found


def _ours(labels: dict[str, Any], owner: str) -> bool:
    managed = all(labels.get(key) == value for key, value in plan.MANAGED_BY.items())
    return managed and labels.get(plan.STACK_LABEL) == owner


def kubectl_base(root: Path, stack: str, env: dict[str, str]) -> list[str] | None:
    """`kubectl` with the kubeconfig and context the stack deploys with (its config file's
    `mlendpoints:kubernetes`, else KUBECONFIG as the stack program reads it); None for another target."""
    try:
        config = (yaml.safe_load((root / "stacks" / f"Pulumi.{stack}.yaml").read_text()) or {}).get("config")
    except (OSError, yaml.YAMLError, AttributeError):
        return None
    if not isinstance(config, dict) or config.get("mlendpoints:target") != "kubernetes":
        return None
    settings = config.get("mlendpoints:kubernetes")
    settings = settings if isinstance(settings, dict) else {}
    command = ["kubectl"]
    kubeconfig = settings.get("kubeconfig") or env.get("KUBECONFIG")
    if isinstance(kubeconfig, str) and kubeconfig:
        command += ["--kubeconfig", kubeconfig]
    if isinstance(settings.get("context"), str):
        command += ["--context", settings["context"]]
    return command


def remove_namespaces(kubectl: list[str], names: list[str], owner: str, keep_ids: set[str]) -> list[str]:
    """Delete those that exist, are not recorded and carry this stack's labels; the names deleted.
    Raises OSError or subprocess.SubprocessError when the cluster cannot be asked."""
    removed = []
    for name in names:
        if name in keep_ids:
            continue
        found = subprocess.run(
            [*kubectl, "get", "namespace", name, "-o", "json", "--ignore-not-found"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
        if not found.strip():
            continue
        labels = (json.loads(found).get("metadata") or {}).get("labels") or {}
        if not _ours(labels, owner):
            continue  # another stack's, or nobody's we know: left alone
        # --wait=false: the namespace's finalizers run on the cluster; `destroy` need not wait for them.
        subprocess.run(
            [*kubectl, "delete", "namespace", name, "--wait=false", "--ignore-not-found"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        removed.append(name)
    return removed


def main(argv: list[str] | None = None) -> int:
    checked = unlocked_checkpoint(__doc__.splitlines()[0], "interrupted namespace creates", argv)
    if checked is None:
        return 0
    args, project, deployment = checked
    kubectl = kubectl_base(Path(args.root), args.stack, dict(os.environ))
    if kubectl is None:
        return 0
    owner = plan.owner_label(project, args.stack)
    names = leftover_namespaces(pending_creates(deployment), owner)
    if not names:
        return 0
    try:
        removed = remove_namespaces(kubectl, names, owner, recorded_ids(deployment))
    except (OSError, subprocess.SubprocessError, ValueError) as error:
        detail = getattr(error, "stderr", None) or error
        print(
            f"could not remove the namespaces a killed pulumi was creating ({', '.join(names)}): "
            f"{str(detail).strip()}; `kubectl delete namespace NAME` removes them",
            file=sys.stderr,
        )
        return 0
    if removed:
        print(
            f"deleted what a pulumi killed while creating it left on stack {args.stack}, unknown to the "
            f"stack: namespace {', namespace '.join(removed)}",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
