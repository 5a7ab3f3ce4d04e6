"""Registered asset versions with the real engine: a version's content may not change between ups."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.integration.fixtures.tiny_endpoint import local_stack
from tests.integration.pulumi_stack import TempStack

pytestmark = pytest.mark.integration
ASSETS = Path(__file__).resolve().parents[1] / "components" / "fixtures" / "assets"


def _serving(model: Path, version: int) -> dict[str, Any]:
    return {
        "models": [{"name": "it-model", "version": version, "path": str(model), "description": "v"}],
        "data": [{"name": "it-data", "path": str(model.parent / "data")}],
    }


def _diagnostics(preview: dict[str, Any]) -> str:
    return "\n".join(d.get("message", "") for d in preview.get("diagnostics", [])) + preview["_stderr"]


def test_a_registered_version_cannot_change_content(tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(ASSETS / "model", model)
    shutil.copytree(ASSETS / "environment", tmp_path / "data")
    stack = TempStack.create(local_stack(_serving(model, 1)))
    try:
        stack.up()
        assert stack.outputs()["assets"] == {"model": ["it-model:1"], "data": ["it-data:1"]}
        # Same content, a new description: nothing to refuse (Azure lets descriptions change).
        config = local_stack(_serving(model, 1))
        config["mlendpoints:serving"]["models"][0]["description"] = "updated"
        stack.reconfigure(config)
        assert stack.preview()["_returncode"] == 0

        (model / "model.txt").write_text("other weights\n")
        refused = stack.preview()
        assert refused["_returncode"] != 0
        text = _diagnostics(refused)
        assert "model it-model:1 (stack config models[0]) changed since it was registered" in text, text
        assert "it held 1 file(s), 62 bytes" in text and "now 1 file(s), 14 bytes" in text
        assert "register the new content as a new version" in text
        assert "data it-data" not in text  # its folder did not change

        # The new content as version 2 is a new registration: fine.
        stack.reconfigure(local_stack(_serving(model, 2)))
        stack.up()
        assert stack.outputs()["assets"] == {"model": ["it-model:2"], "data": ["it-data:1"]}
    finally:
        stack.destroy_and_remove()
