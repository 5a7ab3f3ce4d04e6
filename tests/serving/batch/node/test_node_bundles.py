"""Real node processes taking bundles of leases: one worker runs them in order, one report settles them."""

from __future__ import annotations

import itertools
import os
import signal
from collections.abc import Callable
from pathlib import Path

from serving.batch.node.slot import init_limit_s
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
    assert first.max_minibatches == 128  # the node's default, MLE_BATCH_MAX_BUNDLE


def test_an_empty_answer_to_a_report_s_ask_retires_the_worker_without_asking_again(
    tmp_path: Path, controller: FakeController, start_node: Start
) -> None:
    controller.bundle = 2
    leases = [controller.add("job-e", files(tmp_path, f"f{i}.csv"), minibatch=i) for i in range(2)]
    start_node()
    for lease in leases:
        controller.completion(lease.token)
    # The worker retires (its job has no more work) and the slot's next worker asks for any job.
    controller.wait_until(
        lambda: any(r.job is None for r in controller.lease_requests[1:]), what="a fresh worker's request"
    )
    # The report asked once for job-e and got nothing; nobody asked job-e's question again.
    assert [r.job for r in controller.lease_requests].count("job-e") == 1


def test_a_timeout_inside_a_bundle_fails_that_lease_only_and_the_rest_runs_on_a_new_worker(
    tmp_path: Path, controller: FakeController, start_node: Start
) -> None:
    controller.bundle = 3
    before = controller.add("job-t", files(tmp_path, "a.csv"), minibatch=0, timeout_s=1.0)
    slow = controller.add("job-t", files(tmp_path, "sleep.csv"), minibatch=1, timeout_s=1.0)
    after = controller.add("job-t", files(tmp_path, "c.csv"), minibatch=2, timeout_s=1.0)
    node = start_node()

    timed_out = controller.completion(slow.token)
    assert timed_out.failure == "timeout" and "mini-batch 1" in (timed_out.error or "")
    # Killed on run()'s 1 s, not on the fresh worker's init() limit (3 x 1 + 30 s) still in force.
    assert init_limit_s(1.0) == 33.0 and 1.0 <= timed_out.elapsed_s < 10.0
    wait_dead(killed := int(node.lines("sleeping.pid")[0]))
    rest = controller.completion(after.token)
    assert rest.outcome == "succeeded" and rest.process != timed_out.process
    # The lease the killed worker never started was not handed again: the node kept it for the next one.
    assert controller.handed_by[after.token] == "lease" and len(controller.completions_of(after.token)) == 1
    # The killed worker had finished `before`, but outcomes travel once per bundle: it went down with
    # the worker, so the new worker ran `before` again, same token (no retry counted), reported once.
    (report,) = [r for r in controller.reports if slow.token in [c.token for c in r.completions]]
    assert [c.token for c in report.completions] == [slow.token]
    assert report.next_lease is None  # the slot still held leases: it asked for nothing more
    (again,) = controller.completions_of(before.token)
    assert again.outcome == "succeeded" and again.process == rest.process
    runs = [line.split() for line in node.lines("run.log")]
    assert [name for _, name in runs] == ["a.csv", "sleep.csv", "a.csv", "c.csv"]
    assert runs[0][0] == str(killed) and runs[2][0] != str(killed)
    assert controller.rows_of(before) == "['a.csv', 5]\n" and controller.rows_of(after) == "['c.csv', 5]\n"


def test_a_worker_dying_inside_a_bundle_blames_the_lease_it_was_running(
    tmp_path: Path, controller: FakeController, start_node: Start
) -> None:
    # The supervisor waits on the worker without re-reading its progress: it must read it again when
    # the worker dies, or it blames the bundle's first lease and gives the culprit a free retry.
    controller.bundle = 3
    before = controller.add("job-d", files(tmp_path, "a.csv"), minibatch=0)
    deadly = controller.add("job-d", files(tmp_path, "sleep.csv"), minibatch=1)
    after = controller.add("job-d", files(tmp_path, "c.csv"), minibatch=2)
    node = start_node()
    os.kill(killed := int(node.wait_for_lines("sleeping.pid", 1)[0]), signal.SIGKILL)

    died = controller.completion(deadly.token)
    assert died.failure == "worker_died", died
    assert f"(pid {killed}) was killed by SIGKILL" in (died.error or "")
    assert "mini-batch 1" in (died.error or "") and deadly.files[0] in (died.error or "")
    # The others were not to blame: run again by the next worker with their own tokens, once each.
    for lease in (before, after):
        assert controller.completion(lease.token).outcome == "succeeded"
        assert len(controller.completions_of(lease.token)) == 1


def test_the_timeout_runs_per_mini_batch_from_its_own_start_not_the_bundle_s(
    tmp_path: Path, controller: FakeController, start_node: Start
) -> None:
    # Four 0.4 s run()s in one bundle, 1 s each allowed: the bundle takes longer than one timeout, and
    # the supervisor (which hears from the worker once per bundle) must still time each run() alone.
    controller.bundle = 4
    leases = [
        controller.add("job-n", files(tmp_path, f"nap{i}.csv"), minibatch=i, timeout_s=1.0) for i in range(4)
    ]
    node = start_node()
    done = [controller.completion(lease.token) for lease in leases]
    assert [c.outcome for c in done] == ["succeeded"] * 4, [c.error for c in done]
    assert len({pid for pid, _ in (line.split() for line in node.lines("run.log"))}) == 1
    (report,) = [r for r in controller.reports if r.completions[0].token == leases[0].token]
    assert len(report.completions) == 4
    # Each attempt's start is the worker's own: 0.4 s or more apart, in order.
    starts = [c.started_at or 0.0 for c in done]
    assert all(later - earlier >= 0.39 for earlier, later in itertools.pairwise(starts))


def test_bundles_can_be_turned_off(tmp_path: Path, controller: FakeController, start_node: Start) -> None:
    controller.bundle = 3
    leases = [controller.add("job-1", files(tmp_path, f"f{i}.csv"), minibatch=i) for i in range(2)]
    start_node(MLE_BATCH_MAX_BUNDLE="1")
    assert all(controller.completion(lease.token).outcome == "succeeded" for lease in leases)
    assert {r.max_minibatches for r in controller.lease_requests} == {1}
    assert all(len(r.completions) == 1 for r in controller.reports)
