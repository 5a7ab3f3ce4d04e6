"""Real node processes taking bundles of leases: one worker runs them in order, one report settles them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.serving.batch.node.conftest import NodeRun, wait_dead
from tests.serving.batch.node.fake_controller import FakeController, read_text

Start = Callable[..., NodeRun]


def files(tmp_path: Path, *names: str) -> list[str]:
    return [str(tmp_path / "data" / name) for name in names]


def test_a_bundle_runs_in_order_on_one_worker_and_is_reported_once(
    tmp_path: Path, controller: FakeController, start_node: Start
) -> None:
    controller.bundle = 3
    leases = [controller.add("job-b", files(tmp_path, f"f{i}.csv"), minibatch=i) for i in range(3)]
    node = start_node()
    done = [controller.completion(lease.token) for lease in leases]

    assert [c.outcome for c in done] == ["succeeded"] * 3
    assert [controller.rows_of(lease) for lease in leases] == [f"['f{i}.csv', 6]\n" for i in range(3)]
    # All in the first lease's part file, one after another: no file per mini-batch.
    assert {c.part.path if c.part else "" for c in done} == {leases[0].part_path}
    assert read_text(leases[0].part_path) == "".join(f"['f{i}.csv', 6]\n" for i in range(3))
    assert not any(Path(lease.part_path).exists() for lease in leases[1:])
    runs = [line.split() for line in node.lines("run.log")]
    assert [names for _, names in runs] == ["f0.csv", "f1.csv", "f2.csv"]
    assert len({pid for pid, _ in runs}) == 1 and len(node.lines("init.log")) == 1
    # One lease answer carried the three; one report carried their three outcomes and asked for more.
    assert [controller.handed_by[lease.token] for lease in leases] == ["lease"] * 3
    (report,) = [r for r in controller.reports if r.completions[0].token == leases[0].token]
    assert [c.token for c in report.completions] == [lease.token for lease in leases]
    assert report.next_lease is not None and report.next_lease.job == "job-b"
    first = controller.lease_requests[0]
    assert first.max_minibatches == 64  # the node's default, MLE_BATCH_MAX_BUNDLE


def test_a_timeout_inside_a_bundle_fails_that_lease_only_and_the_rest_runs_on_a_new_worker(
    tmp_path: Path, controller: FakeController, start_node: Start
) -> None:
    controller.bundle = 3
    before = controller.add("job-t", files(tmp_path, "a.csv"), minibatch=0, timeout_s=1.0)
    slow = controller.add("job-t", files(tmp_path, "sleep.csv"), minibatch=1, timeout_s=1.0)
    after = controller.add("job-t", files(tmp_path, "c.csv"), minibatch=2, timeout_s=1.0)
    node = start_node()

    assert controller.completion(before.token).outcome == "succeeded"
    timed_out = controller.completion(slow.token)
    assert timed_out.failure == "timeout" and "mini-batch 1" in (timed_out.error or "")
    wait_dead(int(node.lines("sleeping.pid")[0]))
    rest = controller.completion(after.token)
    assert rest.outcome == "succeeded" and rest.process != timed_out.process
    # The lease the killed worker never started was not handed again: the node kept it for the next one.
    assert controller.handed_by[after.token] == "lease" and len(controller.completions_of(after.token)) == 1
    (report,) = [r for r in controller.reports if r.completions[0].token == before.token]
    assert [c.token for c in report.completions] == [before.token, slow.token]
    assert report.next_lease is None  # the slot still held a lease: it asked for nothing more
    assert controller.rows_of(after) == "['c.csv', 5]\n"


def test_bundles_can_be_turned_off(tmp_path: Path, controller: FakeController, start_node: Start) -> None:
    controller.bundle = 3
    leases = [controller.add("job-1", files(tmp_path, f"f{i}.csv"), minibatch=i) for i in range(2)]
    start_node(MLE_BATCH_MAX_BUNDLE="1")
    assert all(controller.completion(lease.token).outcome == "succeeded" for lease in leases)
    assert {r.max_minibatches for r in controller.lease_requests} == {1}
    assert all(len(r.completions) == 1 for r in controller.reports)
