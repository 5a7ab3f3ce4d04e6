"""A worker's run() progress in shared memory, and its one message per bundle."""

from __future__ import annotations

import multiprocessing
import time
from typing import Any

import pytest

from serving.batch.node.progress import RunProgress
from serving.batch.node.worker import Outcome, decode_outcomes, encode_outcomes


def _begin_in_child(cells: Any, index: int) -> None:
    RunProgress.attach(cells).begin(index)


def test_a_worker_process_s_progress_is_seen_by_the_supervisor() -> None:
    context = multiprocessing.get_context("forkserver")
    progress = RunProgress(context)
    assert progress.read()[0] == -1  # nothing begun
    before = time.monotonic()
    child = context.Process(target=_begin_in_child, args=(progress.cells, 3))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    index, started = progress.read()
    assert index == 3 and before <= started <= time.monotonic()  # one clock for both processes
    progress.reset()
    assert progress.read()[0] == -1


def test_outcomes_travel_in_order_and_whole() -> None:
    done = [
        (
            "t0",
            Outcome(
                "succeeded", rows=2, elapsed_s=0.5, part_path="/p/mb0.part", part_length=9, started_at=1.5
            ),
        ),
        ("t1", Outcome("failed", elapsed_s=0.1, failure="exception", error="boom", started_at=2.0)),
    ]
    assert decode_outcomes(encode_outcomes(done)) == done


@pytest.mark.parametrize(
    "data",
    [
        b"{}",
        b'{"done": {}}',
        b'{"done": [["t", ["succeeded", 1, 0.1, null, null, null, 0, 0, 0, "extra"]]]}',
        b"x",
    ],
)
def test_a_malformed_message_is_refused(data: bytes) -> None:
    with pytest.raises((ValueError, KeyError, TypeError)):
        decode_outcomes(data)
