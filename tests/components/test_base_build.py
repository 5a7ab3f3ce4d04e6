"""Project base images are built on demand through scripts/base-image; other images are left alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.base_build import BaseImageError, ensure_base
from components.base_images import BASE_IMAGES, main


def _script(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "base-image"
    script.write_text(f'echo "$@" >> "{tmp_path}/calls"\n{body}\n')
    return script


def test_a_project_base_is_made_by_the_script_for_its_suite(tmp_path: Path) -> None:
    said: list[str] = []
    script = _script(tmp_path, 'echo "[base-image] built"')
    assert ensure_base("mlendpoints/base:trixie-py313", said.append, script) is True
    assert (tmp_path / "calls").read_text() == "trixie\n"
    assert said == ["[base-image] built"]


def test_other_images_are_not_the_project_s_to_build(tmp_path: Path) -> None:
    script = _script(tmp_path, "exit 0")
    assert ensure_base("python:3.12-slim", print, script) is False
    assert not (tmp_path / "calls").exists()


def test_a_failed_build_names_the_suite_the_command_and_its_last_line(tmp_path: Path) -> None:
    script = _script(tmp_path, 'echo "[base-image] FAILED: debootstrap trixie; log: /x.log" >&2; exit 1')
    with pytest.raises(BaseImageError) as raised:
        ensure_base("mlendpoints/base:trixie-py313", print, script)
    assert str(raised.value) == (
        "base image mlendpoints/base:trixie-py313 (Debian trixie, Python 3.13) could not be built: "
        "`scripts/base-image trixie` exited with 1: [base-image] FAILED: debootstrap trixie; log: /x.log"
    )


def test_the_script_reads_tag_revision_and_packages_from_the_table(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for base in BASE_IMAGES:
        assert main(["base_images", base.suite]) == 0
        assert capsys.readouterr().out == f"{base.tag} {base.rev} {','.join(base.packages)}\n"
    assert main(["base_images", "buster"]) == 2
    assert "one of bookworm, bullseye, trixie" in capsys.readouterr().err
