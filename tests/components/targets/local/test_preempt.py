"""Simulated preemption: which nodes are taken, and the errors that say why none can be."""

from __future__ import annotations

from typing import Any

import docker.errors
import pytest

from components.targets.local.batch_plan import TIER_LABEL
from components.targets.local.preempt import PreemptError, RunningNode, pick_victims, preempt

LOW = "low_priority"


def _nodes(*specs: tuple[str, str, str]) -> list[RunningNode]:
    return [RunningNode(name, deployment, tier) for name, deployment, tier in specs]


def test_every_running_low_priority_node_is_taken_and_no_dedicated_one() -> None:
    nodes = _nodes(("n-b", "spot", LOW), ("n-a", "spot", LOW), ("n-c", "steady", "dedicated"))
    assert [n.name for n in pick_victims("ep", nodes, None, None)] == ["n-a", "n-b"]
    assert [n.name for n in pick_victims("ep", nodes, "spot", 1)] == ["n-a"]


def test_a_dedicated_cluster_is_refused_with_what_to_change() -> None:
    nodes = _nodes(("n-c", "steady", "dedicated"), ("n-d", "old", ""))
    with pytest.raises(
        PreemptError, match="dedicated cluster, which is never preempted; set `tier: low_priority`"
    ):
        pick_victims("ep", nodes, None, None)


def test_no_running_node_says_to_invoke_a_job_first() -> None:
    with pytest.raises(PreemptError, match="no node of deployment spot of endpoint ep is running"):
        pick_victims("ep", _nodes(("n-c", "steady", LOW)), "spot", None)
    with pytest.raises(PreemptError, match="--nodes must be 1 or more"):
        pick_victims("ep", _nodes(("n-a", "spot", LOW)), None, 0)


class _Api:
    def __init__(self, summaries: list[dict[str, Any]], gone: set[str]) -> None:
        self.summaries, self.gone = summaries, gone
        self.killed: list[tuple[str, str]] = []
        self.filters: dict[str, Any] = {}

    def containers(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        self.filters = filters
        return self.summaries

    def kill(self, name: str, signal: str) -> None:
        if name in self.gone:
            raise docker.errors.NotFound("gone")
        self.killed.append((name, signal))


class _Client:
    def __init__(self, api: _Api) -> None:
        self.api = api


def _summary(name: str, tier: str) -> dict[str, Any]:
    labels = {"io.mlendpoints.deployment": "spot", TIER_LABEL: tier}
    return {"Names": [f"/{name}"], "Labels": labels}


def test_preempt_sigkills_the_running_nodes_of_the_endpoint_and_skips_those_gone_meanwhile() -> None:
    api = _Api([_summary("ep-spot-node-1", LOW), _summary("ep-spot-node-2", LOW)], gone={"ep-spot-node-2"})
    taken = preempt(_Client(api), "ep", None, None)
    assert [n.name for n in taken] == ["ep-spot-node-1"]
    assert api.killed == [("ep-spot-node-1", "SIGKILL")]
    assert api.filters == {
        "label": ["io.mlendpoints.endpoint=ep", "io.mlendpoints.role=node"],
        "status": "running",
    }
