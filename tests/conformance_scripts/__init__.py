"""Our stand-ins for the scripts ../shared/conformance's YAML files name (it is data only), and overrides."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO.parent / "shared" / "conformance" / "azureml-examples"
# Stand-ins sit here under the path their folder has below cli/endpoints, e.g. online/model-1/onlinescoring.
ENDPOINTS = EXAMPLES / "cli" / "endpoints"
STAND_INS = Path(__file__).resolve().parent
ABSENT = f"conformance inputs not found at {EXAMPLES} (they live in ../shared beside the repo)"


def code_folder(relative: str, script: str = "score.py") -> Path:
    """`online/model-1/onlinescoring` -> the real folder when a developer put the script there, else ours."""
    real = ENDPOINTS / relative
    return real if (real / script).is_file() else STAND_INS / relative


def code_override(yaml_file: Path) -> dict[str, Any]:
    """Keys for a stack config entry `{file: yaml_file, **keys}` that supply our stand-in for the code folder
    the file names when its script is missing; empty when it is there, named nowhere, or has no stand-in.
    """
    data = yaml.safe_load(yaml_file.read_text())
    code = data.get("code_configuration") if isinstance(data, dict) else None
    if not isinstance(code, dict) or not isinstance(code.get("code"), str):
        return {}
    folder = Path(os.path.normpath(yaml_file.parent / code["code"]))
    script = code.get("scoring_script")
    if not isinstance(script, str) or not folder.is_relative_to(ENDPOINTS):
        return {}
    ours = code_folder(folder.relative_to(ENDPOINTS).as_posix(), script)
    if ours == folder or not (ours / script).is_file():
        return {}
    return {"code_configuration": {"code": str(ours), "scoring_script": script}}
