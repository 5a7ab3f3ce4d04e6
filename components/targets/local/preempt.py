"""Simulated preemption: take running nodes of a `tier: low_priority` cluster away mid-job.

Azure may take a low-priority cluster's VMs back at any time; their jobs' running mini-batches are
lost and run again elsewhere. Here the same event is a SIGKILL of node containers (`docker kill`,
no clean stop, no chance to hand work back), which is what `mle batch preempt` does, so that users
and tests can watch a job recover from it. Nodes of dedicated clusters are never touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import docker.errors

from components.targets.local.batch_plan import TIER_LABEL
from components.targets.local.status import DEPLOYMENT_LABEL, ENDPOINT_LABEL, ROLE_LABEL


class PreemptError(Exception):
    """Nothing can be preempted as asked; the message says why and what to do."""


@dataclass(frozen=True)
class RunningNode:
    name: str
    deployment: str
    tier: str  # "" for a node made before nodes carried their cluster's tier


def pick_victims(
    endpoint: str, nodes: Sequence[RunningNode], deployment: str | None, count: int | None
) -> list[RunningNode]:
    """The running low-priority nodes to take away (all, or the first `count` by name)."""
    if count is not None and count < 1:
        raise PreemptError(f"--nodes must be 1 or more (got {count})")
    mine = [n for n in nodes if deployment is None or n.deployment == deployment]
    scope = f"deployment {deployment} of endpoint {endpoint}" if deployment else f"endpoint {endpoint}"
    if not mine:
        raise PreemptError(
            f"no node of {scope} is running: nodes start when a job needs them; invoke a job first"
        )
    low = sorted((n for n in mine if n.tier == "low_priority"), key=lambda n: n.name)
    if not low:
        deployments = ", ".join(sorted({n.deployment for n in mine}))
        raise PreemptError(
            f"the nodes of {scope} (deployment {deployments}) are on a dedicated cluster, which is never "
            "preempted; set `tier: low_priority` on the cluster and run `pulumi up` to simulate preemption"
        )
    return low if count is None else low[:count]


def running_nodes(client: Any, endpoint: str) -> list[RunningNode]:
    """The endpoint's batch nodes whose container runs now."""
    summaries = client.api.containers(
        filters={"label": [f"{ENDPOINT_LABEL}={endpoint}", f"{ROLE_LABEL}=node"], "status": "running"}
    )
    found = []
    for summary in summaries:
        labels = summary.get("Labels") or {}
        name = str((summary.get("Names") or ["?"])[0]).lstrip("/")
        found.append(RunningNode(name, labels.get(DEPLOYMENT_LABEL, ""), labels.get(TIER_LABEL, "")))
    return found


def preempt(client: Any, endpoint: str, deployment: str | None, count: int | None) -> list[RunningNode]:
    """SIGKILL the chosen nodes, as a preemption takes a VM away; the nodes taken."""
    taken = []
    for node in pick_victims(endpoint, running_nodes(client, endpoint), deployment, count):
        try:
            client.api.kill(node.name, signal="SIGKILL")
        except docker.errors.NotFound:
            continue  # scaled down since it was listed: nothing to take
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # 409: it stopped since it was listed
                raise PreemptError(
                    f"node {node.name} could not be killed: {exc.explanation or exc}"
                ) from None
            continue
        taken.append(node)
    return taken
