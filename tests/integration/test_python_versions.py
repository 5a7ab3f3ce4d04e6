"""The image's Python follows the conda file: trixie's 3.13 when asked (its base built on demand), and
for 3.8 the nearest Debian has, bullseye's 3.9, with a warning naming both."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.fixtures.tiny_endpoint import local_stack, tiny_serving
from tests.integration.pulumi_stack import TempStack
from tests.integration.scoring import post_score

pytestmark = pytest.mark.integration
ENDPOINT = "it-pyver"
FIXTURE = Path(__file__).parent / "fixtures" / "python_versions"
# As the examples name it: replaced by the project base for the conda file's Python.
AZUREML_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"


def test_each_deployment_runs_on_the_python_its_conda_file_asks_for() -> None:
    serving = tiny_serving(ENDPOINT)
    blue = serving["deployments"][0]
    blue["code_configuration"] = {"code": str(FIXTURE / "onlinescoring"), "scoring_script": "score.py"}
    blue["environment"] = {"image": AZUREML_IMAGE, "conda_file": str(FIXTURE / "py313" / "conda.yaml")}
    green = {
        **blue,
        "name": "green",
        "environment": {
            "image": AZUREML_IMAGE,
            "conda_file": str(FIXTURE / "py38" / "conda.yaml"),
        },
    }
    serving["deployments"].append(green)
    serving["endpoints"][0]["traffic"] = {"blue": 50, "green": 50}
    stack = TempStack.create(local_stack(serving))
    try:
        up = stack.up()
        out = stack.outputs(show_secrets=True)
        uri, key = out[f"{ENDPOINT}.scoring_uri"], out[f"{ENDPOINT}.primary_key"]
        body = json.dumps({"data": [1]}).encode()
        status, answer = post_score(uri, key, "blue", body)
        assert status == 200, answer
        assert answer["python"].startswith("3.13."), answer
        assert answer["sum"] == 3.0
        status, answer = post_score(uri, key, "green", body)
        assert status == 200, answer
        assert answer["python"].startswith("3.9."), answer
        assert answer["sum"] == 3.0
        text = " ".join((up.stdout + up.stderr).split())
        assert (
            "python=3.8.5 asks for Python 3.8; the image has Python 3.9 (mlendpoints/base:bullseye-py39)"
            in text
        )
    finally:
        stack.destroy_and_remove()
