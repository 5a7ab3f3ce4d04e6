"""The venv the tests run in pins the runtime exactly as the image does."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _lines(text: str) -> set[str]:
    return {line.split("#")[0].strip() for line in text.splitlines() if line.split("#")[0].strip()}


def test_serving_extra_pins_match_the_image_requirements() -> None:
    image = _lines((REPO / "serving" / "requirements.txt").read_text())
    extra = set(
        tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["serving"]
    )
    image_names = {line.split("==")[0].lower(): line for line in image}
    for pin in extra:
        name = pin.split("==")[0].lower()
        assert image_names.get(name) == pin, f"{pin} differs from serving/requirements.txt"
