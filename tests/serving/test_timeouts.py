"""request_timeout_ms: a slow run() answers 504 and the worker serves the next request."""

from __future__ import annotations

import http.client

from tests.serving.harness import Client, in_process, scorer_process


def test_slow_run_times_out_and_the_worker_recovers() -> None:
    def calls(client: Client) -> list:
        return [client.post("/score", json_body={"sleep": 30}), client.post("/score", json_body={"sleep": 0})]

    slow, after = in_process("slow", calls, request_timeout_ms=300)
    assert slow.status == 504
    assert slow.message.startswith("Scoring timeout after 300 ms")
    assert slow.headers["x-ms-run-function-failed"] == "True"
    assert 250 <= float(slow.headers["x-ms-run-fn-exec-ms"]) < 5000
    assert after.status == 200


def test_run_that_swallows_exception_still_times_out() -> None:
    def calls(client: Client) -> list:
        return [client.post("/score", json_body={"swallow": 30}), client.post("/score", json_body={})]

    swallowed, after = in_process("slow", calls, request_timeout_ms=300)
    assert swallowed.status == 504
    assert after.status == 200


def test_watchdog_replaces_a_worker_stuck_in_run() -> None:
    with scorer_process("swallow", SCORING_TIMEOUT_MS="100") as scorer:
        scorer.wait_ready()
        client = Client(scorer.port, timeout=30)
        try:
            answer = client.post("/score", body="{}")
            dropped = False
            status = answer.status
        except (http.client.HTTPException, ConnectionError):
            dropped, status = True, 0
        assert dropped or status >= 500
        scorer.wait_for_output("replacing it")
        scorer.wait_ready()
        assert Client(scorer.port).get("/readyz").status == 200
