"""The scheduler's pass: scaling with a fake agent, finalizing (merge, logs) and its crash safety."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from serving.batch.controller import scheduler as scheduler_module
from serving.batch.controller.agent import NodeInfo
from serving.batch.controller.api import PublicApp
from serving.batch.controller.config import ConfigWatcher
from serving.batch.controller.scheduler import Scheduler
from serving.batch.controller.settings import ControllerSettings
from serving.batch.controller.store import Store
from serving.batch.protocol import ClusterLimits, Completion, Lease, LeaseRequest, Report, ReportAnswer
from tests.serving.batch.controller.fakes import FakeAgent
from tests.serving.batch.controller.helpers import (
    KEY,
    config,
    deployment,
    invoke_body,
    rows_for,
    write_config,
    write_inputs,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class World:
    def __init__(self, settings: ControllerSettings, agent: FakeAgent | None = None) -> None:
        self.settings, self.clock, self.agent = settings, Clock(), agent
        self.store = Store(settings.state_dir / "jobs.sqlite3")
        self.watcher = ConfigWatcher(settings)
        self.scheduler = Scheduler(self.store, self.watcher, settings, agent, self.clock)
        self.api = PublicApp(self.store, self.watcher, self.scheduler, settings, self.clock)

    def invoke(self, **properties: Any) -> str:
        answer = self.api(
            "POST", "/jobs", {"authorization": f"Bearer {KEY}"}, _json(invoke_body(**properties))
        )
        assert answer.status == 200, answer.body
        name: str = json.loads(answer.body)["name"]
        return name

    def run_one(self, node: str = "n1", fail: bool = False) -> bool:
        leases = self.scheduler.lease(LeaseRequest(node=node, deployment="blue", process=0))
        if not leases:
            return False
        (lease,) = leases
        if fail:
            done = Completion(token=lease.token, node=node, process=0, outcome="failed", failure="exception",
                              error="ValueError: bad row")  # fmt: skip
            assert self.scheduler.complete(Report(completions=[done])).accepted == [True]
        else:
            assert self.succeed(lease, node)
        return True

    def succeed(self, lease: Lease, node: str) -> bool:
        """Write the lease's rows to its part file and report them; whether the report was accepted."""
        rows = rows_for(lease.files)
        Path(lease.part_path).parent.mkdir(parents=True, exist_ok=True)
        Path(lease.part_path).write_text("".join(r + "\n" for r in rows))
        done = Completion(token=lease.token, node=node, process=0, outcome="succeeded", rows=len(rows))
        return self.scheduler.complete(Report(completions=[done])).accepted == [True]


def _json(body: object) -> bytes:
    return json.dumps(body).encode()


CLUSTER = ClusterLimits(name="cpu", min_instances=0, max_instances=3, idle_time_before_scale_down=60)


@pytest.fixture
def world(make_settings: Callable[..., ControllerSettings]) -> Callable[..., World]:
    def make(agent: FakeAgent | None = None, **settings: object) -> World:
        cfg = config(
            deployment("blue", cluster=CLUSTER, max_concurrency_per_instance=2, instance_count=2, **settings)
        )
        return World(make_settings(cfg), agent)

    return make


def test_a_job_gets_nodes_at_once_and_idle_nodes_go_after_the_idle_time(
    world: Callable[..., World], root: Path
) -> None:
    agent = FakeAgent()
    w = world(agent, mini_batch_size=1)
    write_inputs(root, 10)
    w.scheduler.tick()
    assert agent.calls == []  # no work, min_instances 0: no nodes
    w.invoke()
    w.scheduler.tick()
    assert agent.calls == [("ensure", "blue", "2")]  # min(instance_count 2, ceil(10 / 2), max 3)
    while w.run_one(node="blue-node-0"):
        pass
    w.scheduler.tick()  # the job finishes; both nodes are idle from now
    w.clock.now += 59
    w.scheduler._scale_due = True
    w.scheduler.tick()
    assert [c for c in agent.calls if c[0] == "remove"] == []
    w.clock.now += 2
    w.scheduler._scale_due = True
    w.scheduler.tick()
    # blue-node-1 never got a lease: idle since first seen; blue-node-0 since its last lease
    assert sorted(c[1] for c in agent.calls if c[0] == "remove") == ["blue-node-0", "blue-node-1"]


def _wait_for_work(w: World, node: str, got: list[list[Lease]]) -> threading.Thread:
    request = LeaseRequest(node=node, deployment="blue", process=0, wait_s=10)
    thread = threading.Thread(target=lambda: got.append(w.scheduler.lease(request)), daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("waiting", [1, 2])
def test_a_job_asks_for_nodes_at_once_unless_its_nodes_wait_for_work(
    world: Callable[..., World], root: Path, waiting: int
) -> None:
    agent = FakeAgent()
    w = world(agent, mini_batch_size=1)
    agent.ensure("blue", 2)  # two nodes up, idle
    w.scheduler.tick()  # the pass every scheduler starts with
    write_inputs(root, 4)
    got: list[list[Lease]] = []
    threads = [_wait_for_work(w, f"blue-node-{i}", got) for i in range(waiting)]
    while w.scheduler.waiting_nodes("blue") < waiting:
        assert all(t.is_alive() for t in threads), "a lease request was answered instead of waiting"
    listed, calls = agent.listed, list(agent.calls)
    w.invoke()  # instance_count 2
    for thread in threads:
        thread.join(5)
    assert [len(leases) for leases in got] == [1] * waiting  # the waiting workers took the job at once
    w.scheduler.tick()  # the next pass, within tick_interval_s; the clock has not reached scale_interval_s
    if waiting == 2:
        # Its two nodes were waiting: no scaling pass (and no agent or Docker engine call) at its start.
        assert (agent.listed, agent.calls) == (listed, calls)
    else:
        # One node short of instance_count: the scaling pass comes at once, as before (it finds both
        # nodes running, so it asks for none).
        assert (agent.listed, agent.calls) == (listed + 1, calls)
    assert w.scheduler.waiting_nodes("blue") == 0


def test_a_node_being_removed_is_no_waiting_node(world: Callable[..., World]) -> None:
    w = world(FakeAgent())
    got: list[list[Lease]] = []
    threads = [_wait_for_work(w, f"blue-node-{i}", got) for i in range(2)]
    while w.scheduler.waiting_nodes("blue") < 2:
        assert all(t.is_alive() for t in threads)
    w.scheduler._draining.add("blue-node-1")  # what a scaling pass marks before it stops the node
    assert w.scheduler.waiting_nodes("blue") == 1
    w.scheduler.work.close()
    for thread in threads:
        thread.join(5)


def test_an_idle_node_that_takes_work_while_a_pass_decides_to_remove_it_stays(
    world: Callable[..., World], root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = FakeAgent()
    w = world(agent, mini_batch_size=1)
    agent.ensure("blue", 2)
    w.scheduler.tick()  # both nodes idle from now
    w.clock.now += 61  # past the cluster's idle_time_before_scale_down (60 s)
    write_inputs(root, 4)
    real_decide = scheduler_module.decide
    taken: list[Lease] = []

    def decide_while_a_job_comes(*args: Any, **kwargs: Any) -> Any:
        decision = real_decide(*args, **kwargs)  # both nodes idle past the limit: both to be removed
        if not taken:  # meanwhile a job comes and blue-node-0's idle worker leases its first mini-batch
            w.invoke()
            taken.extend(w.scheduler.lease(LeaseRequest(node="blue-node-0", deployment="blue", process=0)))
        return decision

    removing: list[list[Lease]] = []
    real_remove = agent.remove

    def remove(name: str) -> None:  # a request of the node being removed gets no work
        removing.append(w.scheduler.lease(LeaseRequest(node=name, deployment="blue", process=1)))
        real_remove(name)

    monkeypatch.setattr(scheduler_module, "decide", decide_while_a_job_comes)
    monkeypatch.setattr(agent, "remove", remove)
    w.scheduler._scale_due = True
    w.scheduler.tick()
    assert [lease.minibatch for lease in taken] == [0]
    assert [c for c in agent.calls if c[0] == "remove"] == [("remove", "blue-node-1")]
    assert removing == [[]]
    assert "blue-node-0" in agent.nodes_by_name and w.store.busy_nodes() == {"blue-node-0"}
    # Kept, not marked: it takes the job's next mini-batch as usual.
    (after,) = w.scheduler.lease(LeaseRequest(node="blue-node-0", deployment="blue", process=1))
    assert after.minibatch == 1


def _succeed(lease: Lease, elapsed_s: float = 0.0) -> Completion:
    Path(lease.part_path).parent.mkdir(parents=True, exist_ok=True)
    Path(lease.part_path).write_text("".join(r + "\n" for r in rows_for(lease.files)))
    return Completion(
        token=lease.token,
        node="n1",
        process=0,
        outcome="succeeded",
        rows=len(lease.files),
        elapsed_s=elapsed_s,
    )


def test_a_report_can_carry_the_workers_next_lease_request(world: Callable[..., World], root: Path) -> None:
    w = world(None, mini_batch_size=1)
    write_inputs(root, 2)
    job = w.invoke()
    ask = LeaseRequest(node="n1", deployment="blue", process=0, job=job)
    (first,) = w.scheduler.lease(ask)
    answer = w.scheduler.complete(Report(completions=[_succeed(first)], next_lease=ask))
    assert answer.accepted == [True] and len(answer.leases) == 1
    (second,) = answer.leases
    assert (second.job, second.minibatch) == (job, 1)
    # Asked again with no work left: accepted, and no lease.
    last = Report(completions=[_succeed(second)], next_lease=ask)
    assert w.scheduler.complete(last) == ReportAnswer(accepted=[True], leases=[])


def test_bundles_grow_with_the_jobs_pace_and_shrink_at_its_end(
    world: Callable[..., World], root: Path
) -> None:
    w = world(None, mini_batch_size=1)
    write_inputs(root, 60)
    job = w.invoke(instance_count=1)  # one worker: max_concurrency_per_instance 1
    ask = LeaseRequest(node="n1", deployment="blue", process=0, job=job, max_minibatches=64)
    sizes = []
    leases = w.scheduler.lease(ask)
    while leases:
        sizes.append(len(leases))
        assert [lease.minibatch for lease in leases] == list(
            range(leases[0].minibatch, leases[-1].minibatch + 1)
        )
        # 50 ms per mini-batch: a 0.5 s bundle holds 10 of them.
        report = Report(completions=[_succeed(lease, elapsed_s=0.05) for lease in leases], next_lease=ask)
        answer = w.scheduler.complete(report)
        assert answer.accepted == [True] * len(leases)
        leases = answer.leases
    assert sum(sizes) == 60
    # One until the pace is known, then 10 (by time), then a worker's share of what is left, down to one.
    assert sizes[:3] == [1, 10, 10] and sizes[-1] == 1
    assert all(later <= earlier for earlier, later in itertools.pairwise(sizes[1:]))
    w.scheduler.tick()
    output = root / "workspaceblobstore" / "azureml" / job / "score" / "predictions.csv"
    assert len(output.read_text().splitlines()) == 60


def test_only_the_report_that_leaves_a_job_nothing_to_run_wakes_a_pass(
    world: Callable[..., World], root: Path
) -> None:
    w = world(None, mini_batch_size=1)
    write_inputs(root, 2)
    job = w.invoke()
    ask = LeaseRequest(node="n1", deployment="blue", process=0, job=job)
    (first,) = w.scheduler.lease(ask)
    w.scheduler.wake.clear()
    answer = w.scheduler.complete(Report(completions=[_succeed(first)], next_lease=ask))
    assert not w.scheduler.wake.is_set()  # work left: the regular passes do
    (second,) = answer.leases
    w.scheduler.complete(Report(completions=[_succeed(second)]))
    assert w.scheduler.wake.is_set()  # the job's last mini-batch: a pass now, to merge it


def test_a_job_s_last_completion_is_merged_without_waiting_out_the_gap_between_passes(
    world: Callable[..., World], root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Passes are kept MIN_PASS_GAP_S apart; the report that leaves a job nothing to run cuts the gap
    # short, so the job ends when its work does. With a gap of a minute, only that can end it here.
    monkeypatch.setattr(scheduler_module, "MIN_PASS_GAP_S", 60.0)
    w = world(None, mini_batch_size=1)
    write_inputs(root, 2)
    job = w.invoke()
    ask = LeaseRequest(node="n1", deployment="blue", process=0, job=job)
    (first,) = w.scheduler.lease(ask)
    passes = threading.Semaphore(0)
    tick = w.scheduler.tick

    def counted_tick() -> None:
        tick()
        passes.release()

    monkeypatch.setattr(w.scheduler, "tick", counted_tick)
    stop = threading.Event()
    loop = threading.Thread(target=w.scheduler.run, args=(stop,), daemon=True)
    loop.start()
    try:
        assert passes.acquire(timeout=10)  # the first pass ran: the loop now waits out the gap
        answer = w.scheduler.complete(Report(completions=[_succeed(first)], next_lease=ask))
        (second,) = answer.leases
        w.scheduler.complete(Report(completions=[_succeed(second)]))  # the job's last mini-batch
        assert passes.acquire(timeout=10)
        assert w.store.job(job).status == "Completed"
    finally:
        stop.set()
        w.scheduler.hurry()
        loop.join(30)
    assert not loop.is_alive()  # stopping does not wait out the gap either


def test_an_endpoint_at_rest_asks_the_agent_nothing_until_a_job_comes(
    make_settings: Callable[..., ControllerSettings], root: Path
) -> None:
    agent = FakeAgent()
    cluster = ClusterLimits(name="cpu", min_instances=0, max_instances=3, idle_time_before_scale_down=0)
    blue = deployment(
        "blue", cluster=cluster, max_concurrency_per_instance=2, instance_count=2, mini_batch_size=1
    )
    w = World(make_settings(config(blue)), agent)
    write_inputs(root, 10)
    w.scheduler.tick()  # the first pass: no node, none wanted
    listed = agent.listed
    for _ in range(5):
        w.clock.now += 10  # past scale_interval_s each time
        w.scheduler.tick()
    assert agent.listed == listed
    # A job brings a pass at once, and passes go on while it is open and while it leaves nodes behind.
    w.invoke()
    w.scheduler.tick()
    assert agent.calls == [("ensure", "blue", "2")]
    while w.run_one(node="blue-node-0"):
        pass
    w.clock.now += 10
    w.scheduler.tick()  # the job ends; its idle nodes go (idle time 0)
    w.clock.now += 10
    w.scheduler.tick()
    assert sorted(c[1] for c in agent.calls if c[0] == "remove") == ["blue-node-0", "blue-node-1"]
    w.clock.now += 10
    w.scheduler.tick()  # this pass finds no node: at rest again
    listed = agent.listed
    w.clock.now += 10
    w.scheduler.tick()
    assert agent.listed == listed
    # A job that comes another way than an invoke (not through job_submitted) is seen all the same.
    w.scheduler.job_submitted = lambda deployment, instance_count: None  # type: ignore[method-assign]
    w.invoke()
    w.clock.now += 10
    w.scheduler.tick()
    assert agent.listed == listed + 1 and agent.calls[-1] == ("ensure", "blue", "2")


def test_a_cluster_with_min_instances_or_a_failing_agent_is_never_at_rest(
    make_settings: Callable[..., ControllerSettings],
) -> None:
    cluster = ClusterLimits(name="cpu", min_instances=1, max_instances=3, idle_time_before_scale_down=60)
    agent = FakeAgent()
    w = World(make_settings(config(deployment("blue", cluster=cluster))), agent)
    w.scheduler.tick()
    agent.nodes_by_name.clear()  # its one node vanished
    w.clock.now += 10
    w.scheduler.tick()
    assert agent.calls == [("ensure", "blue", "1")] * 2
    agent = FakeAgent(failing=True)
    w = World(make_settings(config(deployment("blue", cluster=CLUSTER))), agent)
    w.scheduler.tick()
    agent.failing = False
    w.clock.now += 10
    w.scheduler.tick()
    assert agent.listed == 1  # retried at the next interval


def test_vanished_nodes_are_replaced_and_agent_errors_do_not_stop_the_scheduler(
    world: Callable[..., World], root: Path
) -> None:
    agent = FakeAgent()
    w = world(agent, mini_batch_size=1)
    write_inputs(root, 10)
    w.invoke()
    w.scheduler.tick()
    agent.nodes_by_name.pop("blue-node-0")  # preempted
    agent.failing = True
    w.clock.now += 5
    w.scheduler.tick()  # logged, retried at the next scaling pass
    agent.failing = False
    w.clock.now += 5
    w.scheduler.tick()
    assert agent.calls[-1] == ("ensure", "blue", "2")
    assert len(agent.nodes_by_name) == 2


def test_node_containers_that_stopped_for_good_are_removed_at_the_next_scaling_pass(
    world: Callable[..., World], root: Path
) -> None:
    # As after a Docker engine restart: the endpoint's containers come back, its nodes (no restart
    # policy) stay exited; the controller's first pass removes them, at rest as in a job.
    agent = FakeAgent()
    for name, status in (("blue-node-a", "exited"), ("blue-node-b", "dead"), ("blue-node-c", "running")):
        agent.nodes_by_name[name] = NodeInfo(name, "blue", status)
    w = world(agent)
    w.scheduler.tick()
    removed = sorted(c for c in agent.calls if c[0] == "remove")
    assert removed == [("remove", "blue-node-a"), ("remove", "blue-node-b")]
    assert list(agent.nodes_by_name) == ["blue-node-c"]
    agent.nodes_by_name["blue-node-c"] = NodeInfo("blue-node-c", "blue", "exited")  # killed later
    w.clock.now += 5
    w.scheduler._scale_due = True
    w.scheduler.tick()
    assert agent.calls[-1] == ("remove", "blue-node-c") and agent.nodes_by_name == {}


def test_leases_of_a_node_that_stopped_running_are_requeued_at_the_next_scaling_pass(
    world: Callable[..., World], root: Path
) -> None:
    agent = FakeAgent()
    w = world(agent, mini_batch_size=1)
    write_inputs(root, 5)
    name = w.invoke()
    w.scheduler.tick()
    assert w.run_one(node="blue-node-0")  # one of the job's two nodes (instance_count 2) from now
    (lost,) = w.scheduler.lease(
        LeaseRequest(node="blue-node-0", deployment="blue", process=0, max_minibatches=1)
    )
    (kept,) = w.scheduler.lease(
        LeaseRequest(node="blue-node-1", deployment="blue", process=0, max_minibatches=1)
    )
    agent.nodes_by_name.pop("blue-node-0")  # preempted: the agent lists it no more
    w.clock.now += 1  # well within the lease expiry: only the agent's word can requeue it
    w.scheduler._scale_due = True
    w.scheduler.tick()
    states = {b.idx: (b.state, b.failures) for b in w.store.minibatches(name)}
    assert states[lost.minibatch] == ("pending", 0) and states[kept.minibatch] == ("leased", 0)
    (attempt,) = [a for a in w.store.attempts(name) if a.node == "blue-node-0" and a.outcome != "succeeded"]
    assert attempt.outcome == "expired"
    assert "its node blue-node-0 is gone (its container stopped running)" in (attempt.error or "")
    # The gone node is no longer one of the job's two: the node that replaces it gets work at once.
    assert w.scheduler.lease(LeaseRequest(node="blue-node-2", deployment="blue", process=0))
    # The lost node's late report (it cannot send one, but a frozen one could) is refused.
    late = Completion(token=lost.token, node="blue-node-0", process=0, outcome="succeeded", rows=1)
    assert w.scheduler.complete(Report(completions=[late])).accepted == [False]


def test_nodes_of_an_older_template_finish_what_they_hold_get_nothing_more_and_are_replaced(
    world: Callable[..., World], root: Path
) -> None:
    agent = FakeAgent()
    w = world(agent, mini_batch_size=1)
    write_inputs(root, 10)
    name = w.invoke()
    w.scheduler.tick()  # blue-node-0 and blue-node-1
    (held,) = w.scheduler.lease(LeaseRequest(node="blue-node-0", deployment="blue", process=0))
    agent.outdate("blue")  # `pulumi up` changed the cluster's size: both nodes are of the old template
    w.scheduler._scale_due = True
    w.scheduler.tick()
    # The idle old node goes at once, the busy one stays; two nodes of the new template are asked for.
    assert [c for c in agent.calls if c[0] == "remove"] == [("remove", "blue-node-1")]
    assert agent.calls[-1] == ("ensure", "blue", "2")
    assert sorted(agent.nodes_by_name) == ["blue-node-0", "blue-node-2", "blue-node-3"]
    # The old node gets no more work: not its worker bound to the job, not a fresh one.
    bound = LeaseRequest(node="blue-node-0", deployment="blue", process=0, job=name)
    assert w.scheduler.lease(bound) == []
    assert w.scheduler.lease(LeaseRequest(node="blue-node-0", deployment="blue", process=1)) == []
    assert w.scheduler.waiting_nodes("blue") == 0
    assert w.run_one(node="blue-node-2")
    # What it held is accepted, and once idle it goes too.
    assert w.succeed(held, "blue-node-0")
    w.scheduler._scale_due = True
    w.scheduler.tick()
    assert [c for c in agent.calls if c[0] == "remove"] == [
        ("remove", "blue-node-1"),
        ("remove", "blue-node-0"),
    ]
    while w.run_one(node="blue-node-3"):
        pass
    assert {b.state for b in w.store.minibatches(name)} == {"succeeded"}


def test_a_new_config_is_reported_applied_only_once_a_scaling_pass_knows_the_old_nodes(
    world: Callable[..., World], root: Path
) -> None:
    agent = FakeAgent()
    w = world(agent, mini_batch_size=1)
    write_inputs(root, 10)
    assert w.scheduler.config_digest == ""  # nothing reported before the first pass
    w.scheduler.tick()
    first = w.watcher.current.digest
    assert w.scheduler.config_digest == first
    w.invoke()
    w.scheduler.tick()  # blue-node-0 and blue-node-1, idle
    # `pulumi up` writes new node templates, then a config naming them; `pulumi up` ends once the
    # health answer reports that config. No scaling pass is due by the clock.
    agent.outdate("blue")
    cfg = config(deployment("blue", cluster=CLUSTER, max_concurrency_per_instance=2, instance_count=2))
    write_config(w.settings.config, cfg.model_copy(update={"deployments": {
        "blue": cfg.deployments["blue"].model_copy(update={"template": "new"})}}))  # fmt: skip
    assert w.scheduler.config_digest == first
    w.scheduler.tick()
    assert w.scheduler.config_digest == w.watcher.current.digest != first
    # From that report on, the old nodes get no work: the job goes on on nodes of the new template.
    assert not w.run_one(node="blue-node-0")
    assert ("remove", "blue-node-0") in agent.calls
    assert sorted(agent.nodes_by_name) == ["blue-node-2", "blue-node-3"]
    assert w.run_one(node="blue-node-2")


def test_finalize_merges_in_mini_batch_order_and_writes_azures_logs(
    world: Callable[..., World], root: Path
) -> None:
    w = world(None, mini_batch_size=3)
    inputs = write_inputs(root, 10)
    name = w.invoke()
    leases = [w.scheduler.lease(LeaseRequest(node="n1", deployment="blue", process=p))[0] for p in range(4)]
    for lease in reversed(leases):  # complete in reverse: the merge still follows mini-batch order
        w.scheduler.complete(Report(completions=[_succeed(lease)]))
    w.scheduler.tick()
    job = w.store.job(name)
    assert job.status == "Completed" and job.finalized
    output = root / "workspaceblobstore" / "azureml" / name / "score" / "predictions.csv"
    assert output.read_text().splitlines() == rows_for([str(p) for p in inputs])
    logs = root / "workspaceblobstore" / "azureml" / name / "logs"
    assert "Job " + name + ": Completed" in (logs / "job_result.txt").read_text()
    assert len(list(logs.glob("job_progress_overview.*.txt"))) == 1
    assert (logs / "sys" / "job_report" / "processed_mini-batches.csv").read_text().count("\n") == 5
    assert not (logs / "job_error.txt").exists()
    assert not Path(job.spec.parts_folder).exists()


def test_a_failed_job_names_its_failed_mini_batches(world: Callable[..., World], root: Path) -> None:
    w = world(None, mini_batch_size=2)
    write_inputs(root, 6)
    name = w.invoke(error_threshold=1, max_retries=0)
    assert w.run_one()
    assert w.run_one(fail=True)  # 2 files failed > threshold 1
    w.scheduler.tick()
    job = w.store.job(name)
    assert job.status == "Failed"
    assert job.error is not None
    assert "error_threshold 1 exceeded: 2 input files failed." in job.error
    assert "mini-batch 1 (f00002.txt, f00003.txt) failed after 1 try: " in job.error
    assert "run() raised an exception: ValueError: bad row" in job.error
    logs = Path(job.spec.logs_folder)
    assert "f00003.txt" in (logs / "job_error.txt").read_text()
    # The rows that were accepted are merged all the same.
    assert Path(job.spec.output_file).read_text() == "f00000.txt,0\nf00001.txt,1\n"


def test_a_finalize_killed_after_the_merge_is_redone_with_the_same_output(
    world: Callable[..., World], root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = world(None, mini_batch_size=2)
    write_inputs(root, 5)
    name = w.invoke()
    while w.run_one():
        pass
    real_merge = scheduler_module.merge_parts

    def merge_then_die(parts: list[tuple[int, str]], target: Path) -> int:
        real_merge(parts, target)
        raise SystemExit("killed after the rename")  # stands for kill -9 of the controller

    monkeypatch.setattr(scheduler_module, "merge_parts", merge_then_die)
    with pytest.raises(SystemExit):
        w.scheduler.tick()
    assert w.store.job(name).status == "Finalizing"
    monkeypatch.setattr(scheduler_module, "merge_parts", real_merge)
    restarted = World(w.settings)  # a new process on the same state
    restarted.scheduler.start()
    restarted.scheduler.tick()
    job = restarted.store.job(name)
    assert job.status == "Completed"
    lines = Path(job.spec.output_file).read_text().splitlines()
    assert lines == [f"f{i:05d}.txt,{i}" for i in range(5)]


def test_canceled_jobs_get_logs_and_lose_their_parts(world: Callable[..., World], root: Path) -> None:
    w = world(None, mini_batch_size=1)
    write_inputs(root, 3)
    name = w.invoke()
    assert w.run_one()
    answer = w.api("POST", f"/jobs/{name}/cancel", {"authorization": f"Bearer {KEY}"}, b"")
    assert answer.status == 200
    w.scheduler.tick()
    job = w.store.job(name)
    assert job.status == "Canceled" and job.finalized
    assert not Path(job.spec.output_file).exists()
    assert not Path(job.spec.parts_folder).exists()
    assert "Canceled" in (Path(job.spec.logs_folder) / "job_result.txt").read_text()


def test_a_job_where_every_mini_batch_failed_fails_and_says_why(
    world: Callable[..., World], root: Path
) -> None:
    w = world(None, mini_batch_size=2)
    write_inputs(root, 3)
    name = w.invoke(max_retries=0)  # error_threshold -1 tolerates the failures, but nothing succeeded
    while w.run_one(fail=True):
        pass
    w.scheduler.tick()
    job = w.store.job(name)
    assert job.status == "Failed"
    assert job.error is not None and job.error.startswith("No mini-batch succeeded: all 2 failed.")
    assert "mini-batch 0 (f00000.txt, f00001.txt)" in job.error and "mini-batch 1 (f00002.txt)" in job.error
    assert not Path(job.spec.output_file).exists()


def test_failed_mini_batches_under_the_threshold_still_complete_the_job(
    world: Callable[..., World], root: Path
) -> None:
    w = world(None, mini_batch_size=1)
    write_inputs(root, 3)
    name = w.invoke(max_retries=0, error_threshold=1)
    assert w.run_one(fail=True)
    while w.run_one():
        pass
    w.scheduler.tick()
    job = w.store.job(name)
    assert (job.status, job.error, job.failed_files) == ("Completed", None, 1)
    assert Path(job.spec.output_file).read_text() == "f00001.txt,1\nf00002.txt,2\n"
    assert "Mini-batch 0: failed after 1 try" in (Path(job.spec.logs_folder) / "job_error.txt").read_text()
