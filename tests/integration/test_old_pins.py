"""A conda file with old pins and an open numpy deploys and answers: unpinned packages are resolved in
the pins' world (components/env_resolution.py), not today's, where numpy 2 breaks scikit-learn 1.2.2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.fixtures.tiny_endpoint import local_stack, tiny_serving
from tests.integration.pulumi_stack import TempStack
from tests.integration.scoring import post_score

pytestmark = pytest.mark.integration
ENDPOINT = "it-old-pins"
FIXTURE = Path(__file__).parent / "fixtures" / "old_pins"


def test_old_pins_get_a_matching_world() -> None:
    serving = tiny_serving(ENDPOINT)
    deployment = serving["deployments"][0]
    deployment["model"] = {"path": str(FIXTURE / "model")}
    deployment["code_configuration"] = {"code": str(FIXTURE / "onlinescoring"), "scoring_script": "score.py"}
    deployment["environment"] = {
        "image": "mlendpoints/base:bookworm-py311",
        "conda_file": str(FIXTURE / "environment" / "conda.yaml"),
    }
    stack = TempStack.create(local_stack(serving))
    try:
        stack.up()
        out = stack.outputs(show_secrets=True)
        body = json.dumps({"data": [[4.0], [10.0]]}).encode()
        status, answer = post_score(out[f"{ENDPOINT}.scoring_uri"], out[f"{ENDPOINT}.primary_key"], body=body)
        assert status == 200, answer
        assert answer["predictions"] == [9.0, 21.0]
        assert answer["sklearn"] == "1.2.2"
        assert answer["numpy"].startswith("1."), answer  # the world of scikit-learn 1.2.2, not numpy 2
    finally:
        stack.destroy_and_remove()
