"""Liveness, readiness, unknown paths and methods, and the headers every answer carries."""

from __future__ import annotations

from tests.serving.harness import Answer, Client, in_process


def _all(client: Client) -> dict[str, Answer]:
    return {
        "live": client.get("/"),
        "head_live": client.request("HEAD", "/"),
        "ready": client.get("/readyz"),
        "missing": client.get("/nope"),
        "trailing": client.get("/score/"),
        "post_live": client.post("/", body=b"x"),
        "put_score": client.request("PUT", "/score", body=b"{}"),
        "options": client.request("OPTIONS", "/score"),
        "swagger_post": client.post("/swagger.json", body=b""),
    }


def test_liveness_readiness_and_errors() -> None:
    answers = in_process("ok", _all)
    assert (answers["live"].status, answers["live"].body) == (200, b"Healthy")
    assert answers["head_live"].status == 200 and answers["head_live"].body == b""
    assert answers["head_live"].headers["content-length"] == "7"
    assert (answers["ready"].status, answers["ready"].body) == (200, b"Ready")
    assert answers["missing"].status == 404
    assert "requested URL was not found" in answers["missing"].message
    assert answers["trailing"].status == 404
    assert answers["post_live"].status == 405
    assert answers["put_score"].status == 405
    assert answers["put_score"].message == "The method is not allowed for the requested URL."
    assert answers["options"].status == 200 and answers["options"].body == b""
    assert answers["swagger_post"].status == 405


def test_every_answer_carries_the_azure_headers() -> None:
    answers = in_process("ok", _all)
    for name, answer in answers.items():
        assert "x-ms-run-fn-exec-ms" in answer.headers, name
        assert answer.headers["x-ms-run-function-failed"] == "False", name
        assert answer.headers["x-request-id"], name
        assert answer.headers["x-ms-server-version"].startswith("mlendpoints-scorer/"), name


def test_errors_are_json_messages() -> None:
    answers = in_process("ok", _all)
    for name in ("missing", "post_live", "put_score"):
        assert answers[name].headers["content-type"] == "application/json"
        assert set(answers[name].json()) == {"message"}
