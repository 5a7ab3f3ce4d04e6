"""Pure scaling decisions: how many nodes a deployment needs, and which idle nodes may go."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from serving.batch.protocol import ClusterLimits

# Docker states of a container that still counts as a node (anything else is gone or going).
LIVE_STATES = frozenset({"created", "restarting", "running", "paused", "starting"})
# States of a container that will not run again by itself: a node killed, preempted, out of memory,
# or left over from before the Docker engine restarted (nodes have no restart policy).
DEAD_STATES = frozenset({"exited", "dead"})


@dataclass(frozen=True)
class JobDemand:
    """One active job of a deployment: its node budget and its unsettled mini-batches."""

    instance_count: int
    outstanding: int  # pending + leased


@dataclass(frozen=True)
class NodeView:
    name: str
    busy: bool  # holds a lease now
    idle_since: float  # last lease handed or held (or first seen)


@dataclass(frozen=True)
class ScalingDecision:
    ensure: int | None  # ask the agent for this many nodes (None: enough are there)
    remove: tuple[str, ...] = ()


def desired_nodes(jobs: Sequence[JobDemand], max_concurrency: int, cluster: ClusterLimits) -> int:
    """Each job wants min(instance_count, ceil(outstanding / max_concurrency)); the cluster caps the sum."""
    wanted = sum(
        min(job.instance_count, math.ceil(job.outstanding / max_concurrency))
        for job in jobs
        if job.outstanding > 0
    )
    return min(wanted, cluster.max_instances)


def decide(desired: int, cluster: ClusterLimits, nodes: Sequence[NodeView], now: float) -> ScalingDecision:
    """Ensure `max(desired, min_instances)` nodes; remove nodes idle past the cluster's idle time down to it.

    A node that holds a lease is never removed; the agent never removes nodes on `ensure`, so asking
    for the target while nodes are missing (never started, or vanished) is always safe.
    """
    target = max(desired, cluster.min_instances)
    ensure = target if len(nodes) < target else None
    idle = sorted(
        (n for n in nodes if not n.busy and now - n.idle_since >= cluster.idle_time_before_scale_down),
        key=lambda n: (n.idle_since, n.name),
    )
    surplus = max(len(nodes) - target, 0)
    return ScalingDecision(ensure, tuple(n.name for n in idle[:surplus]))
