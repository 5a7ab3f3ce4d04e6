"""Idle workers import the driver's libraries before their job comes (node/warm.py)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from tests.serving.batch.node.conftest import REPO, NodeRun
from tests.serving.batch.node.fake_controller import FakeController

Start = Callable[..., NodeRun]
SITE = Path(__file__).parent / "site"
PATH = f"{REPO}{os.pathsep}{SITE}"


def test_an_idle_worker_imports_the_driver_s_libraries_before_its_job(
    tmp_path: Path, controller: FakeController, start_node: Start
) -> None:
    node = start_node("warm_driver.py", PYTHONPATH=PATH)
    # No lease exists yet: the idle worker imported the library with no job's environment.
    (ahead,) = node.wait_for_lines("warmlib.log", 1)
    pid, output_path = ahead.split()
    assert output_path == "unset"
    time.sleep(0.2)
    assert node.lines("helper.log") == []  # the code folder's own module waits for the job
    lease = controller.add("job-w", [str(tmp_path / "a.csv")])
    done = controller.completion(lease.token)
    assert done.outcome == "succeeded", done.error
    assert controller.rows_of(lease) == f"{pid} a.csv 8\n"  # the worker that imported it ran the job
    # The helper came in with the driver, in the job's environment; warmlib was not imported again.
    assert node.lines("helper.log")[0] == f"{pid} {lease.output_path}"
    assert [line.split()[0] for line in node.lines("warmlib.log")].count(pid) == 1


def test_with_warm_imports_off_the_libraries_come_with_the_job(
    tmp_path: Path, controller: FakeController, start_node: Start
) -> None:
    node = start_node("warm_driver.py", PYTHONPATH=PATH, MLE_BATCH_WARM_IMPORTS="false")
    time.sleep(1.0)  # time enough for an idle worker to have imported it
    assert node.lines("warmlib.log") == []
    lease = controller.add("job-cold", [str(tmp_path / "a.csv")])
    assert controller.completion(lease.token).outcome == "succeeded"
    assert node.lines("warmlib.log")[0].split()[1] == lease.output_path


def test_a_library_that_kills_its_process_on_import_fails_the_job_s_mini_batch_not_the_node(
    tmp_path: Path, controller: FakeController, start_node: Start
) -> None:
    node = start_node("warm_driver.py", PYTHONPATH=PATH, WARMLIB_CRASH="1")
    node.wait_for_lines("warmlib.log", 1)  # the idle worker died importing it ahead
    lease = controller.add("job-crash", [str(tmp_path / "a.csv")])
    done = controller.completion(lease.token)
    assert done.outcome == "failed" and done.failure == "worker_died"
    assert "while importing the driver or in init()" in (done.error or "")
    assert "a.csv" in (done.error or "")
    assert "import the driver's libraries when their job comes" in node.output
    # The failed try was the job's own import, in the job's environment.
    assert lease.output_path in [line.split()[1] for line in node.lines("warmlib.log")]
