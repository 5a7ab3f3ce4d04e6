"""Real node processes when things go wrong: timeouts, killed workers, controller outages, SIGTERM."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from tests.serving.batch.node.conftest import NODE, NodeRun, pid_alive, wait_dead
from tests.serving.batch.node.fake_controller import FakeController, read_text

Start = Callable[..., NodeRun]


def files(tmp_path: Path, *names: str) -> list[str]:
    return [str(tmp_path / "data" / name) for name in names]


def test_timeout_kills_the_worker_reports_the_files_and_a_new_worker_inits(
    tmp_path: Path, controller: FakeController, start_node: Start
) -> None:
    slow = controller.add("job-t", files(tmp_path, "sleep.csv", "b.csv"), minibatch=3, timeout_s=1.0)
    after = controller.add("job-t", files(tmp_path, "c.csv"), minibatch=4)
    node = start_node()
    completion = controller.completion(slow.token)

    assert completion.outcome == "failed" and completion.failure == "timeout"
    assert completion.error is not None
    assert "retry_settings.timeout=1 s" in completion.error and "mini-batch 3" in completion.error
    assert all(path in completion.error for path in slow.files)
    wait_dead(int(node.lines("sleeping.pid")[0]))
    assert controller.completion(after.token).outcome == "succeeded"
    init = node.lines("init.log")
    assert len(init) == 2 and init[0].split()[0] != init[1].split()[0]
    assert controller.completions_of(after.token)[0].process != completion.process


def test_a_worker_killed_mid_run_is_reported_as_worker_died(
    tmp_path: Path, controller: FakeController, start_node: Start
) -> None:
    lease = controller.add("job-k", files(tmp_path, "sleep.csv", "b.csv"))
    after = controller.add("job-k", files(tmp_path, "c.csv"), minibatch=1)
    node = start_node()
    pid = int(node.wait_for_lines("sleeping.pid", 1)[0])
    os.kill(pid, signal.SIGKILL)
    completion = controller.completion(lease.token)

    assert completion.outcome == "failed" and completion.failure == "worker_died"
    assert completion.error is not None
    assert f"(pid {pid}) was killed by SIGKILL (signal 9)" in completion.error
    assert "OOM" in completion.error
    assert all(path in completion.error for path in lease.files)
    assert not os.path.exists(lease.part_path)
    assert controller.completion(after.token).outcome == "succeeded"
    assert node.process.poll() is None


def test_completion_survives_a_controller_outage_and_is_delivered_once(
    tmp_path: Path, controller: FakeController, start_node: Start
) -> None:
    lease = controller.add("job-o", files(tmp_path, "gate.csv"))
    node = start_node()
    node.wait_for_lines("run.log", 1)
    controller.heartbeat_with(lease.token)  # tokens in progress are heartbeated
    controller.stop()  # killed controller: connections refused from now on
    (node.state / "gate").touch()
    # The rows are on disk before the completion is sent, so the node is now retrying against a dead port.
    while not os.path.exists(lease.part_path):
        assert node.process.poll() is None
        time.sleep(0.02)
    assert controller.completions_of(lease.token) == []
    controller.start()  # back on the same port, as after a restart

    completion = controller.completion(lease.token)
    assert completion.outcome == "succeeded" and completion.rows == 1
    # Nothing else to deliver: later heartbeats no longer carry it, and it was sent exactly once.
    controller.wait_until(
        lambda: any(not h.tokens for h in controller.heartbeats[-2:]), what="an empty heartbeat"
    )
    assert len(controller.completions_of(lease.token)) == 1
    assert controller.rows_of(lease) == "['gate.csv', 8]\n"
    assert node.process.poll() is None


def test_a_failing_controller_is_retried_until_it_answers(
    tmp_path: Path, controller: FakeController, start_node: Start
) -> None:
    controller.fail_status = 503
    lease = controller.add("job-503", files(tmp_path, "a.csv"))
    node = start_node()
    # Leases and heartbeats get 503 (a controller up but not ready): the node keeps asking.
    controller.wait_until(lambda: controller.failed_on_purpose >= 4, what="requests answered 503")
    assert node.process.poll() is None and controller.completions == []
    controller.fail_status = None
    assert controller.completion(lease.token).outcome == "succeeded"


def test_heartbeat_abandon_kills_the_worker_and_drops_the_attempt(
    tmp_path: Path, controller: FakeController, start_node: Start
) -> None:
    lease = controller.add("job-ab", files(tmp_path, "sleep.csv"))
    after = controller.add("job-ab", files(tmp_path, "b.csv"), minibatch=1)
    node = start_node()
    pid = int(node.wait_for_lines("sleeping.pid", 1)[0])
    controller.heartbeat_with(lease.token)
    controller.to_abandon.add(lease.token)
    wait_dead(pid)

    assert controller.completion(after.token).outcome == "succeeded"
    assert controller.completions_of(lease.token) == []
    assert not os.path.exists(lease.part_path)
    assert len(node.lines("init.log")) == 2  # the killed worker was replaced


def test_a_refused_completion_deletes_the_part_file(
    tmp_path: Path, controller: FakeController, start_node: Start
) -> None:
    controller.accept = lambda completion: False
    lease = controller.add("job-stale", files(tmp_path, "a.csv"))
    node = start_node()
    controller.completion(lease.token)
    controller.wait_until(lambda: not os.path.exists(lease.part_path), what="the part file to go")
    assert node.process.poll() is None


def test_init_failure_is_reported_with_the_error_and_logged(
    tmp_path: Path, controller: FakeController, start_node: Start
) -> None:
    lease = controller.add("job-init", files(tmp_path, "a.csv"))
    start_node(driver="init_raises.py")
    completion = controller.completion(lease.token)
    assert completion.outcome == "failed" and completion.failure == "init_failed"
    assert completion.error is not None
    assert "init() in" in completion.error and "init_raises.py" in completion.error
    assert "RuntimeError: model not found under" in completion.error and lease.files[0] in completion.error
    name = f"process{completion.process:03d}"
    error_log = read_text(Path(lease.user_log_dir) / "logs" / "user" / "error" / NODE / f"{name}.txt")
    assert "Traceback (most recent call last)" in error_log and "RuntimeError" in error_log


def test_a_driver_without_run_is_reported_as_no_run(
    tmp_path: Path, controller: FakeController, start_node: Start
) -> None:
    lease = controller.add("job-norun", files(tmp_path, "a.csv"))
    start_node(driver="no_run.py")
    completion = controller.completion(lease.token)
    assert completion.failure == "no_run"
    assert completion.error is not None and "no_run.py does not define a run(mini_batch)" in completion.error


def test_a_missing_driver_names_the_path(
    tmp_path: Path, controller: FakeController, start_node: Start
) -> None:
    lease = controller.add("job-missing", files(tmp_path, "a.csv"))
    start_node(driver="not_there.py")
    completion = controller.completion(lease.token)
    assert completion.failure == "init_failed"
    assert completion.error is not None and "not_there.py" in completion.error
    assert "not found" in completion.error


def test_sigterm_abandons_a_long_run_and_exits_zero(
    tmp_path: Path, controller: FakeController, start_node: Start
) -> None:
    lease = controller.add("job-stop", files(tmp_path, "sleep.csv"))
    node = start_node(MLE_BATCH_GRACEFUL_TIMEOUT_S="0.5")
    pid = int(node.wait_for_lines("sleeping.pid", 1)[0])
    requests = len(controller.lease_requests)
    assert node.stop(signal.SIGTERM) == 0
    assert not pid_alive(pid)
    assert controller.completions_of(lease.token) == []  # the controller re-queues it
    assert not os.path.exists(lease.part_path)
    assert len(controller.lease_requests) == requests  # no lease after SIGTERM


def test_sigterm_lets_a_short_run_finish_and_report(
    tmp_path: Path, controller: FakeController, start_node: Start
) -> None:
    lease = controller.add("job-drain", files(tmp_path, "gate.csv"))
    node = start_node(MLE_BATCH_GRACEFUL_TIMEOUT_S="30")
    node.wait_for_lines("run.log", 1)
    node.process.send_signal(signal.SIGTERM)
    (node.state / "gate").touch()
    assert node.stop(signal.SIGTERM) == 0
    assert [c.outcome for c in controller.completions_of(lease.token)] == ["succeeded"]


def test_idle_exit_stops_the_node(controller: FakeController, start_node: Start) -> None:
    node = start_node(MLE_BATCH_IDLE_EXIT_S="0.5")
    assert node.process.wait(60) == 0
    assert "no work for" in node.output


def test_a_killed_supervisor_takes_its_workers_and_fork_server_with_it(
    tmp_path: Path, controller: FakeController, start_node: Start
) -> None:
    # Workers are forked from the node's fork server, not from the supervisor: when the supervisor is
    # SIGKILLed (no handler runs), its workers must end all the same, and then the fork server (its
    # pipe closed by every holder). Nothing of the node may keep running user code.
    controller.add("job-orphan", files(tmp_path, "sleep.csv"))
    node = start_node()
    pid = int(node.wait_for_lines("sleeping.pid", 1)[0])
    server = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])  # the worker's parent
    assert server != node.process.pid
    node.process.kill()
    node.process.wait()
    wait_dead(pid)
    wait_dead(server)
