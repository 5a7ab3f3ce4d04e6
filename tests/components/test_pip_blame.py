"""pip failures name the user's conda/requirements file and line, not the build's temporary files."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from components import environments, image_build

CONDA = """\
name: model-env
channels:
  - conda-forge
dependencies:
  - python=3.8
  - scikit-learn=1.1.2
  - pip
  - pip:
      - xgboost==1.3.3
"""


def failing_pip(message: str) -> tuple[str, ...]:
    """A stand-in for `python -m pip` that fails the way pip does."""
    return (sys.executable, "-c", f"import sys; print({message!r}); sys.exit(1)")


def test_origins_point_at_the_line_the_user_wrote(tmp_path: Path) -> None:
    conda = tmp_path / "conda.yaml"
    conda.write_text(CONDA)
    plan = environments.plan_environment(conda_file=conda)
    assert plan.origin("scikit_learn") == f"{conda}:6: - scikit-learn=1.1.2"
    assert plan.origin("xgboost") == f"{conda}:9: - xgboost==1.3.3"
    assert plan.origin("pandas") is None


def test_a_missing_wheel_is_blamed_on_the_conda_file(tmp_path: Path) -> None:
    conda = tmp_path / "conda.yaml"
    conda.write_text(CONDA)
    plan = environments.plan_environment(conda_file=conda)
    context = tmp_path / "context"
    context.mkdir()
    pip = failing_pip(
        "ERROR: Could not find a version that satisfies the requirement scikit-learn==1.1.* "
        "(from versions: 1.3.0)\nERROR: No matching distribution found for scikit-learn==1.1.*"
    )
    with pytest.raises(image_build.ImageBuildError) as error:
        image_build.assemble_context(plan, context, wheel_cache=tmp_path / "wheels", pip=pip, resolve=False)
    first = str(error.value).splitlines()[0]
    assert first.startswith(f"{conda}:6: - scikit-learn=1.1.2: no wheel of it for Python 3.9")
    assert "/tmp/mlendpoints-build" not in first and "user.txt" not in first


def test_unknown_failures_keep_pips_words(tmp_path: Path) -> None:
    plan = environments.plan_environment()
    context = tmp_path / "context"
    context.mkdir()
    with pytest.raises(image_build.ImageBuildError, match="ERROR: network is down"):
        image_build.assemble_context(
            plan,
            context,
            wheel_cache=tmp_path / "wheels",
            pip=failing_pip("ERROR: network is down"),
            resolve=False,
        )
