"""Pure scaling decisions."""

from __future__ import annotations

from serving.batch.controller.scaling import JobDemand, NodeView, decide, desired_nodes
from serving.batch.protocol import ClusterLimits

CLUSTER = ClusterLimits(name="cpu", min_instances=0, max_instances=5, idle_time_before_scale_down=60)


def test_desired_is_capped_by_instance_count_work_and_cluster() -> None:
    assert desired_nodes([JobDemand(instance_count=3, outstanding=100)], 2, CLUSTER) == 3
    assert desired_nodes([JobDemand(instance_count=3, outstanding=3)], 2, CLUSTER) == 2  # ceil(3 / 2)
    assert desired_nodes([JobDemand(instance_count=9, outstanding=100)], 1, CLUSTER) == 5  # max_instances
    assert desired_nodes([JobDemand(instance_count=3, outstanding=0)], 1, CLUSTER) == 0


def test_desired_adds_up_concurrent_jobs_within_the_cluster() -> None:
    jobs = [JobDemand(2, 10), JobDemand(2, 1), JobDemand(4, 0)]
    assert desired_nodes(jobs, 1, CLUSTER) == 3
    assert desired_nodes([JobDemand(4, 10), JobDemand(4, 10)], 1, CLUSTER) == 5


def test_ensure_only_when_nodes_are_missing() -> None:
    nodes = [NodeView("n1", busy=True, idle_since=0)]
    assert decide(3, CLUSTER, nodes, now=10).ensure == 3
    assert decide(1, CLUSTER, nodes, now=10).ensure is None


def test_min_instances_are_kept_and_ensured() -> None:
    cluster = CLUSTER.model_copy(update={"min_instances": 2})
    assert decide(0, cluster, [], now=0).ensure == 2
    idle = [NodeView("a", False, 0), NodeView("b", False, 0), NodeView("c", False, 0)]
    assert decide(0, cluster, idle, now=1000).remove == ("a",)


def test_idle_nodes_go_after_the_idle_time_oldest_first_and_busy_ones_never() -> None:
    nodes = [
        NodeView("recent", busy=False, idle_since=950),
        NodeView("old", busy=False, idle_since=100),
        NodeView("older", busy=False, idle_since=50),
        NodeView("busy", busy=True, idle_since=0),
    ]
    decision = decide(0, CLUSTER, nodes, now=1000)
    assert decision.ensure is None
    assert decision.remove == ("older", "old")  # "recent" idled 50 s < 60 s; "busy" holds a lease


def test_nodes_still_needed_are_not_removed_even_when_idle() -> None:
    nodes = [NodeView("a", False, 0), NodeView("b", False, 0)]
    assert decide(2, CLUSTER, nodes, now=1000).remove == ()
    assert decide(1, CLUSTER, nodes, now=1000).remove == ("a",)


def test_vanished_nodes_are_replaced_by_ensure() -> None:
    # Three were wanted, one vanished: the agent is asked for three again (it only adds missing ones).
    nodes = [NodeView("a", True, 0), NodeView("b", True, 0)]
    assert decide(3, CLUSTER, nodes, now=1).ensure == 3
