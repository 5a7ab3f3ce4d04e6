"""@rawhttp scripts get the request object and may answer with AMLResponse, via Azure ML's import paths."""

from __future__ import annotations

from tests.serving.harness import Client, in_process


def test_binary_body_round_trips() -> None:
    payload = bytes(range(256))
    answer = in_process(
        "raw", lambda c: c.post("/score", body=payload, headers={"Content-Type": "application/octet-stream"})
    )
    assert answer.status == 200
    assert answer.body == payload[::-1]
    assert answer.headers["content-type"] == "application/octet-stream"


def test_request_object_exposes_method_args_headers_and_json() -> None:
    def calls(client: Client) -> list:
        return [
            client.get("/score?a=1&b=two", headers={"X-Custom": "yes"}),
            client.post("/score", json_body={"k": [1, 2]}),
            client.request("OPTIONS", "/score"),
        ]

    get, post, options = in_process("raw", calls)
    assert get.json() == {
        "method": "GET",
        "args": {"a": "1", "b": "two"},
        "length": 0,
        "content_type": None,
        "header": "yes",
        "path": "/score",
    }
    assert post.json()["json"] == {"k": [1, 2]}
    assert options.json()["method"] == "OPTIONS"  # raw mode hands OPTIONS to run(), as Azure ML does


def test_aml_response_status_and_failure_header() -> None:
    answer = in_process("raw", lambda c: c.post("/score?status=502", body=b"x"))
    assert answer.status == 502
    assert answer.json() == {"status": "502"}
    assert answer.headers["x-ms-run-function-failed"] == "True"


def test_legacy_import_path_and_plain_text_response() -> None:
    answer = in_process("raw_legacy", lambda c: c.post("/score", body=b""))
    assert answer.status == 201
    assert answer.body == b"plain text POST"
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.headers["x-multi"] == "a, b"
