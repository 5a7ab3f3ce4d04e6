"""A deployment whose script cannot start fails `pulumi up` with its error; fixing it lets `up` finish."""

from __future__ import annotations

import shutil
from pathlib import Path

import docker
import pytest

from tests.integration.fixtures.tiny_endpoint import local_stack, tiny_serving
from tests.integration.pulumi_stack import REPO, TempStack

pytestmark = pytest.mark.integration
ENDPOINT = "it-broken"


def _config(root: Path) -> dict[str, object]:
    serving = tiny_serving(ENDPOINT)
    deployment = serving["deployments"][0]
    deployment["model"] = {"path": str(root / "model")}
    deployment["code_configuration"] = {"code": str(root / "onlinescoring"), "scoring_script": "score.py"}
    return local_stack(serving)


def test_failed_init_fails_the_update_and_a_fix_finishes_it(tmp_path: Path) -> None:
    root = tmp_path / "model-blue"
    shutil.copytree(REPO / "examples" / "online" / "model-blue", root)
    score = root / "onlinescoring" / "score.py"
    good = score.read_text()
    score.write_text(
        good.replace("def init():", "def init():\n    raise RuntimeError('model store unreachable')\n", 1)
    )
    stack = TempStack.create(_config(root))
    try:
        failed = stack.run("up", "--stack", stack.name, "--yes", "--skip-preview", check=False)
        out = failed.stdout + failed.stderr
        assert failed.returncode != 0
        assert "the scoring script failed" in out
        assert "RuntimeError: model store unreachable" in out
        assert "Last log lines" in out
        # The failed instance was removed: nothing half-made for the next update to trip over.
        leftovers = docker.from_env().containers.list(
            all=True,
            filters={"label": [f"io.mlendpoints.endpoint={ENDPOINT}", "io.mlendpoints.deployment=blue"]},
        )
        assert leftovers == []

        score.write_text(good)
        stack.up()
        out_after = stack.outputs()
        assert out_after[f"{ENDPOINT}.provisioning_state"] == "Succeeded"
    finally:
        stack.destroy_and_remove()
