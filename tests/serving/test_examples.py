"""The blue and green example deployments answer differently, in-process with the real scorer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.serving.harness import REPO, in_process

pytest.importorskip("numpy")

EXAMPLES = REPO / "examples" / "online"
EXPECTED = {
    "blue": [1959.2839567386, 739.4902814977],
    "green": [1289.0474097716, 1236.1247111113],
}


@pytest.mark.parametrize("color", ["blue", "green"])
def test_example_model_answers_its_sample_request(color: str) -> None:
    root = EXAMPLES / f"model-{color}"
    body = (root / "sample-request.json").read_text()
    answer = in_process(
        "ok",
        lambda c: c.post("/score", body=body, headers={"Content-Type": "application/json"}),
        app_root=str(root / "onlinescoring"),
        model_dir=str(root),
    )
    assert answer.status == 200, answer.body
    result = answer.json()
    assert result["model"] == color
    assert result["predictions"] == pytest.approx(EXPECTED[color], rel=1e-9)


def test_example_rejects_wrongly_shaped_rows() -> None:
    root = EXAMPLES / "model-blue"
    answer = in_process(
        "ok",
        lambda c: c.post("/score", body=json.dumps({"data": [[1, 2]]})),
        app_root=str(root / "onlinescoring"),
        model_dir=str(root),
    )
    assert answer.status == 500
    assert "expected rows of 10 numbers" in answer.message


def test_training_is_deterministic(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("train_examples", EXAMPLES / "train.py")
    assert spec is not None and spec.loader is not None
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    features, target = train.training_data()
    coef, intercept = train.fit_linear(features, target, ridge=0.0)
    saved = json.loads((EXAMPLES / "model-blue" / "model" / "model.json").read_text())
    assert [round(float(value), 10) for value in coef] == saved["coef"]
    assert round(intercept, 10) == saved["intercept"]
