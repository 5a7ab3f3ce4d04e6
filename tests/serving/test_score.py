"""POST/GET /score for an undecorated run(): the body as a string, the model folder, and run()'s outputs."""

from __future__ import annotations

import json
import socket

from tests.serving.harness import Client, in_process, in_process_port


def test_post_runs_the_model_from_azureml_model_dir() -> None:
    answer = in_process("ok", lambda c: c.post("/score", json_body={"data": [1, 2, 3]}))
    assert answer.status == 200
    assert answer.json() == [3.0, 5.0, 7.0]
    assert answer.headers["content-type"] == "application/json"
    assert float(answer.headers["x-ms-run-fn-exec-ms"]) >= 0


def test_run_gets_the_body_unchanged_as_text() -> None:
    body = '{"echo": 1,   "spaces": "kept"}'
    answer = in_process("ok", lambda c: c.post("/score", body=body))
    assert answer.json() == {"echo": body}


def test_get_passes_query_parameters_as_json_text() -> None:
    answer = in_process("ok", lambda c: c.get("/score?echo=1&b=[1,2]&c=x&c=y&d=null"))
    assert json.loads(answer.json()["echo"]) == {"echo": 1, "b": [1, 2], "c": ["x", "y"], "d": None}


def test_get_without_query_passes_an_empty_object() -> None:
    answer = in_process("headers", lambda c: c.get("/score"))
    assert answer.json()["body"] == "{}"


def test_body_that_is_not_utf8_is_a_400() -> None:
    answer = in_process("ok", lambda c: c.post("/score", body=b"\xff\xfe"))
    assert answer.status == 400
    assert "cannot be decoded as UTF-8" in answer.message


def test_run_exception_is_a_500_with_the_message_and_the_next_request_works() -> None:
    def calls(client: Client) -> list:
        return [
            client.post("/score", json_body={"fail": True}),
            client.post("/score", json_body={}),
        ]

    failed, ok = in_process("run_raises", calls)
    assert failed.status == 500
    assert failed.headers["x-ms-run-function-failed"] == "True"
    assert "ValueError: the input has fail=true" in failed.message
    assert "(score.py, line" in failed.message
    assert ok.status == 200 and ok.json() == {"calls": 2}


def test_outputs_follow_azure_ml_rules() -> None:
    def calls(client: Client) -> dict:
        return {
            kind: client.post("/score", json_body={"kind": kind})
            for kind in ("none", "text", "object", "failed-response", "dict")
        }

    answers = in_process("outputs", calls)
    assert answers["none"].body == b"{}"
    assert answers["text"].json() == "a plain string"
    assert answers["object"].status == 500
    assert "cannot be encoded as JSON" in answers["object"].message
    assert answers["failed-response"].status == 503
    assert answers["failed-response"].body == b"backend unavailable"
    assert answers["failed-response"].headers["x-ms-run-function-failed"] == "True"
    assert answers["dict"].json() == {"kind": "dict"}


def test_run_with_request_headers_gets_them() -> None:
    answer = in_process(
        "headers",
        lambda c: c.post("/score", body="hi", headers={"X-Custom": "v1", "Content-Type": "text/plain"}),
    )
    assert answer.json() == {"body": "hi", "custom": "v1", "has_ct": True}


def test_keep_alive_reuses_one_connection() -> None:
    def calls(client: Client) -> list[int]:
        client.post("/score", json_body={"data": [1]})
        first = client._conn.sock.getsockname() if client._conn and client._conn.sock else None
        client.post("/score", json_body={"data": [2]})
        second = client._conn.sock.getsockname() if client._conn and client._conn.sock else None
        return [first, second]

    first, second = in_process("ok", calls)
    assert first is not None and first == second


def _raw(port: int, payload: bytes, read_until: int = 1) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(payload)
        data = b""
        while data.count(b"HTTP/1.1 ") < read_until or not data.endswith((b"]", b"}", b"y")):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


def test_pipelined_requests_are_answered_in_order() -> None:
    body = b'{"data": [1]}'
    one = b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    payload = one + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + one
    data = in_process_port("ok", lambda port: _raw(port, payload, read_until=3))
    assert data.count(b"HTTP/1.1 200 OK") == 3
    assert data.index(b"[3.0]") < data.index(b"Healthy") < data.rindex(b"[3.0]")


def test_malformed_request_is_a_400_and_closes() -> None:
    data = in_process_port("ok", lambda port: _raw(port, b"NOT HTTP AT ALL\r\n\r\n"))
    assert data.startswith(b"HTTP/1.1 400 ")
    assert b"connection: close" in data


def test_body_over_the_limit_is_a_413() -> None:
    answer = in_process("ok", lambda c: c.post("/score", body=b"x" * 5000), max_request_body_bytes=1000)
    assert answer.status == 413
    assert "max_request_body_bytes=1000" in answer.message


def test_expect_100_continue_is_answered() -> None:
    body = b'{"data": [4]}'
    payload = b"POST /score HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(
        body
    )

    def exchange(port: int) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(payload)
            interim = sock.recv(1024)
            sock.sendall(body)
            data = b""
            while not data.endswith(b"]"):
                data += sock.recv(65536)
            return interim + data

    data = in_process_port("ok", exchange)
    assert data.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK")
    assert data.endswith(b"[9.0]")


def test_http_1_0_closes_after_the_answer() -> None:
    data = in_process_port("ok", lambda port: _raw(port, b"GET / HTTP/1.0\r\n\r\n"))
    assert data.startswith(b"HTTP/1.1 200 OK")
    assert b"connection: close" in data
