"""Scripts that fail to load keep the worker alive: liveness OK, readiness and /score 503 with the cause."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.serving.harness import Client, copy_fixture, in_process, scorer_process


def _probe(client: Client) -> dict:
    return {
        "live": client.get("/"),
        "ready": client.get("/readyz"),
        "score": client.post("/score", json_body={"data": [1]}),
        "swagger": client.get("/swagger.json"),
    }


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        (
            "import_error",
            "ModuleNotFoundError: No module named 'package_that_does_not_exist_anywhere' (score.py, line 3)",
        ),
        ("missing_run", "does not define a run() function"),
        ("missing_init", "does not define a init() function"),
        ("init_raises", "init() in "),
        ("bad_signature", "run() cannot accept positional-only arguments, *args, or **kwargs."),
    ],
)
def test_broken_script_answers_503_with_its_error(fixture: str, expected: str) -> None:
    answers = in_process(fixture, _probe)
    assert answers["live"].status == 200
    for name in ("ready", "score", "swagger"):
        assert answers[name].status == 503, name
        assert expected in answers[name].message, answers[name].message
        # Deployers stop waiting for readiness when the script itself failed.
        assert answers[name].headers.get("x-ms-scorer-state") == "failed", answers[name].headers


def test_init_error_names_the_exception_and_line() -> None:
    answers = in_process("init_raises", _probe)
    message = answers["score"].message
    assert "FileNotFoundError: model file not found:" in message
    assert "model/missing.pkl (score.py, line 6)" in message


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    root = copy_fixture("syntax_error", tmp_path / "app")
    answers = in_process("syntax_error", _probe, app_root=str(root))
    assert answers["ready"].status == 503
    assert "SyntaxError: " in answers["score"].message
    assert "(score.py, line 8)" in answers["score"].message


def test_missing_script_lists_the_app_root(tmp_path: Path) -> None:
    answers = in_process("ok", _probe, entry_script="nothere.py")
    assert answers["score"].status == 503
    assert "Scoring script not found" in answers["score"].message
    assert "score.py" in answers["score"].message


def test_process_stays_up_and_logs_the_error(tmp_path: Path) -> None:
    root = copy_fixture("syntax_error", tmp_path / "app")
    with scorer_process(root) as scorer:
        scorer.wait_for_output("scoring script failed, the worker stays up but not ready")
        client = Client(scorer.port)
        assert client.get("/").status == 200
        # The worker logs before the supervisor hears of the failure: poll (bounded) until it has.
        for _ in range(100):
            answer = client.get("/readyz")
            if "still running" not in answer.message:
                break
            time.sleep(0.05)
        assert answer.status == 503 and "line 8" in answer.message
        assert answer.headers.get("x-ms-scorer-state") == "failed"
        assert scorer.proc.poll() is None
    assert "Traceback" in scorer.output and "SyntaxError" in scorer.output
