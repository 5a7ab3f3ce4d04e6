"""Request id headers: echoed, generated, Azure ML's legacy fallback, and 431 when too long."""

from __future__ import annotations

from tests.serving.harness import Client, in_process


def test_ids_are_echoed() -> None:
    headers = {"x-request-id": "req-1", "x-ms-client-request-id": "client-1", "TraceId": "trace-1"}
    answer = in_process("ok", lambda c: c.post("/score", json_body={"data": [1]}, headers=headers))
    assert answer.headers["x-request-id"] == "req-1"
    assert answer.headers["x-ms-client-request-id"] == "client-1"
    assert answer.headers["x-ms-request-id"] == "client-1"
    assert answer.headers["traceid"] == "trace-1"


def test_a_request_id_is_generated_when_missing() -> None:
    answer = in_process("ok", lambda c: c.get("/"))
    generated = answer.headers["x-request-id"]
    assert len(generated) == 36
    assert answer.headers["x-ms-request-id"] == generated
    assert "x-ms-client-request-id" not in answer.headers


def test_legacy_x_ms_request_id_doubles_as_client_id() -> None:
    answer = in_process("ok", lambda c: c.get("/", headers={"x-ms-request-id": "legacy-1"}))
    assert answer.headers["x-ms-request-id"] == "legacy-1"
    assert answer.headers["x-ms-client-request-id"] == "legacy-1"


def test_ids_longer_than_100_characters_are_a_431() -> None:
    def calls(client: Client) -> list:
        return [
            client.post("/score", json_body={"data": [1]}, headers={"x-request-id": "r" * 101}),
            client.get("/", headers={"x-ms-client-request-id": "c" * 101}),
            client.get("/", headers={"x-ms-request-id": "l" * 101}),
            client.get("/", headers={"x-request-id": "r" * 100}),
        ]

    too_long, client_too_long, legacy_too_long, at_limit = in_process("ok", calls)
    assert too_long.status == 431
    assert too_long.message == "x-request-id must not exceed 100 characters"
    assert "x-request-id" not in too_long.headers
    assert client_too_long.status == 431 and legacy_too_long.status == 431
    assert "x-ms-client-request-id must not exceed 100" in client_too_long.message
    assert at_limit.status == 200
