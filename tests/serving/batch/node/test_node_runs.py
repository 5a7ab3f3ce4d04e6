"""Real node processes against the fake controller: results, rows, logs, binding to a job."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from tests.serving.batch.node.conftest import NODE, NodeRun
from tests.serving.batch.node.fake_controller import FakeController, read_text

Start = Callable[..., NodeRun]


def files(tmp_path: Path, *names: str) -> list[str]:
    return [str(tmp_path / "data" / name) for name in names]


def test_list_results_become_rows_and_init_runs_once_per_process(
    tmp_path: Path, controller: FakeController, start_node: Start
) -> None:
    leases = [
        controller.add("job-a", files(tmp_path, "a.csv", "bb.csv"), minibatch=0),
        controller.add("job-a", files(tmp_path, "ccc.csv"), minibatch=1),
        controller.add("job-a", files(tmp_path, "d.csv", "e.csv"), minibatch=2),
    ]
    node = start_node()
    done = [controller.completion(lease.token) for lease in leases]

    assert [c.outcome for c in done] == ["succeeded"] * 3
    assert [c.rows for c in done] == [2, 1, 2]
    assert all(c.node == NODE and c.failure is None for c in done)
    # Azure renders a list element with str(): a list element is its Python repr.
    assert controller.rows_of(leases[0]) == "['a.csv', 5]\n['bb.csv', 6]\n"
    assert controller.rows_of(leases[1]) == "['ccc.csv', 7]\n"
    init = node.lines("init.log")
    assert len(init) == 1, init
    pid, output_path, model_dir = init[0].split()
    assert output_path == leases[0].output_path and os.path.isdir(output_path)
    assert model_dir == str(tmp_path / "model")
    assert {line.split()[0] for line in node.lines("run.log")} == {pid}
    assert node.lines("env.log") == ["node secret visible: False"]  # user code cannot reach the controller
    # After its first lease the worker asks for its own job only.
    process = done[0].process
    bound = [r for r in controller.lease_requests if r.process == process]
    assert bound[0].job is None and all(r.job == "job-a" for r in bound[1:])
    assert all(r.node == NODE and r.deployment == "blue" for r in controller.lease_requests)
    # The next lease rides on each completion: the second and third mini-batches came with the
    # completions of the first two, with no lease round trip of their own.
    assert [controller.handed_by[lease.token] for lease in leases] == ["lease", "complete", "complete"]
    reports = [r for r in controller.reports if r.completions[0].token in {lease.token for lease in leases}]
    assert all(r.next_lease is not None and r.next_lease.job == "job-a" for r in reports)


def test_driver_output_goes_to_azure_user_log_files(
    tmp_path: Path, controller: FakeController, start_node: Start
) -> None:
    lease = controller.add("job-logs", files(tmp_path, "a.csv"))
    start_node()
    completion = controller.completion(lease.token)
    logs = Path(lease.user_log_dir) / "logs" / "user"
    name = f"process{completion.process:03d}"
    stdout = read_text(logs / "stdout" / NODE / f"{name}.stdout.txt")
    stderr = read_text(logs / "stderr" / NODE / f"{name}.stderr.txt")
    assert "driver: init via print" in stdout
    assert "driver: init via logging" in stdout  # the root logger at the lease's logging_level
    assert "driver: run on a.csv" in stdout
    assert "driver: a line on stderr" in stderr


def test_dataframe_rows_are_space_separated_without_header_or_index(
    tmp_path: Path, controller: FakeController, start_node: Start
) -> None:
    lease = controller.add("job-frame", files(tmp_path, "frame-1.csv", "frame-2.csv"))
    start_node()
    completion = controller.completion(lease.token)
    assert completion.outcome == "succeeded" and completion.rows == 2
    assert controller.rows_of(lease) == 'frame-1.csv 0 0.5 \nframe-2.csv 1 1.5 "two words"\n'


def test_summary_only_counts_rows_and_writes_nothing(
    tmp_path: Path, controller: FakeController, start_node: Start
) -> None:
    lease = controller.add("job-summary", files(tmp_path, "a.csv", "b.csv"), output_action="summary_only")
    start_node()
    completion = controller.completion(lease.token)
    assert completion.outcome == "succeeded" and completion.rows == 2
    assert not os.path.exists(lease.part_path)


def test_run_raising_fails_the_mini_batch_names_files_and_keeps_the_worker(
    tmp_path: Path, controller: FakeController, start_node: Start
) -> None:
    failing = controller.add("job-raise", files(tmp_path, "raise-me.csv", "b.csv"), minibatch=4, attempt=1)
    after = controller.add("job-raise", files(tmp_path, "c.csv"), minibatch=5)
    node = start_node()
    completion = controller.completion(failing.token)
    assert completion.outcome == "failed" and completion.failure == "exception"
    assert completion.error is not None
    for needed in ("ValueError: cannot score raise-me.csv", "driver.py, line", "mini-batch 4 (attempt 1)"):
        assert needed in completion.error
    assert failing.files[0] in completion.error and failing.files[1] in completion.error
    name = f"process{completion.process:03d}"
    assert f"logs/user/error/{NODE}/{name}.txt" in completion.error
    error_log = read_text(Path(failing.user_log_dir) / "logs" / "user" / "error" / NODE / f"{name}.txt")
    assert "Traceback (most recent call last)" in error_log and "raise ValueError" in error_log
    assert not os.path.exists(failing.part_path)

    assert controller.completion(after.token).outcome == "succeeded"
    assert len(node.lines("init.log")) == 1  # an exception in run() does not cost the worker


def test_too_few_rows_fails_with_the_counts_and_files(
    tmp_path: Path, controller: FakeController, start_node: Start
) -> None:
    lease = controller.add("job-few", files(tmp_path, "few.csv", "b.csv", "c.csv"))
    start_node()
    completion = controller.completion(lease.token)
    assert completion.outcome == "failed" and completion.failure == "too_few_rows"
    assert completion.error is not None
    assert "returned 1 row(s) for 3 input file(s)" in completion.error
    assert all(path in completion.error for path in lease.files)
    assert not os.path.exists(lease.part_path)


def test_run_returning_none_is_a_clear_failure(
    tmp_path: Path, controller: FakeController, start_node: Start
) -> None:
    lease = controller.add("job-none", files(tmp_path, "none.csv"))
    start_node()
    completion = controller.completion(lease.token)
    assert completion.outcome == "failed" and completion.failure == "exception"
    assert completion.error is not None and "run() returned None" in completion.error
    assert lease.files[0] in completion.error


def test_a_worker_bound_to_a_job_exits_when_the_job_has_no_more_work(
    tmp_path: Path, controller: FakeController, start_node: Start
) -> None:
    first = controller.add("job-a", files(tmp_path, "a.csv"))
    node = start_node()
    done_a = controller.completion(first.token)
    # job-a has nothing left: the worker's next request (job=job-a) gets 204 and the process exits.
    controller.wait_until(
        lambda: any(r.process != done_a.process and r.job is None for r in controller.lease_requests),
        what="a lease request from a fresh, unbound worker process",
    )
    second = controller.add("job-b", files(tmp_path, "b.csv"))
    done_b = controller.completion(second.token)

    assert done_b.outcome == "succeeded" and done_b.process != done_a.process
    init = [line.split() for line in node.lines("init.log")]
    assert len(init) == 2
    assert init[0][0] != init[1][0]  # two processes, each with its own init()
    assert [line[1] for line in init] == [first.output_path, second.output_path]
    asked_a = [r for r in controller.lease_requests if r.process == done_a.process]
    assert asked_a[-1].job == "job-a"
    assert not any(r.process == done_a.process and r.job == "job-b" for r in controller.lease_requests)


def test_processes_run_side_by_side_with_their_own_init(
    tmp_path: Path, controller: FakeController, start_node: Start
) -> None:
    leases = [controller.add("job-par", files(tmp_path, f"gate-{i}.csv"), minibatch=i) for i in range(2)]
    node = start_node(processes=2)
    runs = node.wait_for_lines("run.log", 2)  # both run() calls are in progress at once
    (node.state / "gate").touch()
    done = [controller.completion(lease.token) for lease in leases]
    assert {c.outcome for c in done} == {"succeeded"}
    assert len({c.process for c in done}) == 2
    assert len({line.split()[0] for line in runs}) == 2
    assert len(node.lines("init.log")) == 2
