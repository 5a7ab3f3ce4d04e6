"""The scorer as a subprocess: logs, pre-forked workers, start-up readiness and shutdown."""

from __future__ import annotations

import json
import threading

from tests.serving.harness import Client, scorer_process


def test_structured_request_log_and_user_output_on_stdout() -> None:
    with scorer_process("ok") as scorer:
        scorer.wait_ready()
        answer = Client(scorer.port).post(
            "/score", json_body={"data": [1]}, headers={"x-request-id": "log-me"}
        )
        assert answer.status == 200
        scorer.wait_for_output('"request_id": "log-me"')
    assert "ok fixture: init via print" in scorer.output
    assert "ok fixture: init via logging" in scorer.output
    assert "ok fixture: run via print" in scorer.output
    line = next(line for line in scorer.lines if '"request_id": "log-me"' in line)
    record = json.loads(line)
    assert record["status"] == 200 and record["path"] == "/score" and record["method"] == "POST"
    assert record["duration_ms"] >= record["run_ms"] >= 0


def test_each_of_the_workers_runs_init_and_serves() -> None:
    with scorer_process("pids", WORKER_COUNT="2") as scorer:
        scorer.wait_ready()
        scorer.wait_for_output("init() returned", timeout=10)
        pids: set[int] = set()

        def hit() -> None:
            for _ in range(10):
                pids.add(Client(scorer.port).post("/score", body="{}").json()["pid"])

        threads = [threading.Thread(target=hit) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(pids) == 2
    assert scorer.output.count("pids fixture: init in") == 2


def test_readiness_fails_until_init_returns() -> None:
    with scorer_process("slow_init") as scorer:
        client = Client(scorer.port)
        live = client.get("/")
        not_ready = client.get("/readyz")
        score = Client(scorer.port).post("/score", body="{}")
        assert live.status == 200 and live.body == b"Healthy"
        assert not_ready.status == 503 and "init() is still running" in not_ready.message
        assert score.status == 503
        scorer.wait_ready()
        assert Client(scorer.port).post("/score", body="{}").json() == "ready"


def test_sigterm_stops_cleanly() -> None:
    with scorer_process("ok", WORKER_COUNT="2") as scorer:
        scorer.wait_ready()
        code = scorer.stop()
    assert code == 0
    assert "stopping 2 worker(s)" in scorer.output
