"""Conda files and requirements.txt -> the image's pip requirements, warnings and content-hash tag."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.environments import (
    DEFAULT_BASE_IMAGE,
    EnvironmentMappingError,
    EnvironmentPlan,
    base_image_for,
    conda_dependency,
    image_tag,
    pip_requirements,
    plan_environment,
    plan_for_spec,
    runtime_requirements,
)

CONFORMANCE = Path(__file__).resolve().parents[2].parent / "shared" / "conformance"
MODEL_1_CONDA = CONFORMANCE / "azureml-examples/cli/endpoints/online/model-1/environment/conda.yaml"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "online"


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("numpy", "numpy"),
        ("numpy=1.26.4", "numpy==1.26.4"),
        ("numpy=1.26", "numpy==1.26.*"),
        ("numpy==1.26", "numpy==1.26"),
        ("numpy>=1.20,<2", "numpy>=1.20,<2"),
        ("numpy 1.26.*", "numpy==1.26.*"),
        ("conda-forge::scipy=1.11.4", "scipy==1.11.4"),
        ("pandas=2.1.4=py311h1234_0", "pandas==2.1.4"),
        ("pytorch=2.1.0", "torch==2.1.0"),
        ("py-xgboost", "xgboost"),
        ("scikit-learn=1.7.0", "scikit-learn==1.7.0"),
        ("numpy=*", "numpy"),
    ],
)
def test_conda_specs_become_pip_lines(entry: str, expected: str) -> None:
    assert conda_dependency(entry, "conda.yaml")[0] == expected


def test_conda_only_and_tooling_packages_are_dropped() -> None:
    assert conda_dependency("mkl", "c.yaml") == (
        None,
        "c.yaml: mkl is a conda-only package (no pip equivalent); skipped",
    )
    assert conda_dependency("pip=25.1.1", "c.yaml") == (None, None)
    assert conda_dependency("python=3.11", "c.yaml") == (None, None)
    assert conda_dependency("python>=3.8", "c.yaml") == (None, None)


def test_the_conda_file_s_python_picks_the_base_image(tmp_path: Path) -> None:
    conda = tmp_path / "conda.yaml"
    for wanted, base, python in (
        ("3.13", "mlendpoints/base:trixie-py313", "3.13"),
        ("3.13.1", "mlendpoints/base:trixie-py313", "3.13"),
        ("3.11", DEFAULT_BASE_IMAGE, "3.11"),
        (">=3.8", DEFAULT_BASE_IMAGE, "3.11"),
    ):
        conda.write_text(f"name: e\ndependencies:\n  - python={wanted}\n  - pip:\n    - requests\n")
        plan = plan_environment(conda_file=conda)
        assert (plan.base_image, plan.python_version, plan.warnings) == (base, python, ()), wanted
    # Another Python does not share the image (its tag) with the same packages on 3.11.
    conda.write_text("dependencies:\n  - python=3.11\n")
    on_311 = image_tag(plan_environment(conda_file=conda))
    conda.write_text("dependencies:\n  - python=3.13\n")
    assert image_tag(plan_environment(conda_file=conda)) != on_311


def test_a_python_debian_has_not_here_gets_the_nearest_with_a_warning_naming_both(tmp_path: Path) -> None:
    conda = tmp_path / "conda.yaml"
    conda.write_text("name: e\ndependencies:\n  - python=3.12\n  - numpy\n")
    plan = plan_environment(conda_file=conda)
    # On a tie the older Python: pins made for 3.12 have wheels for 3.11, not always for 3.13.
    assert (plan.base_image, plan.python_version) == (DEFAULT_BASE_IMAGE, "3.11")
    assert plan.warnings == (
        f"{conda}:3: python=3.12 asks for Python 3.12; the image has Python 3.11 "
        "(mlendpoints/base:bookworm-py311), the nearest available: Debian's suites here have Python "
        "3.9, 3.11, 3.13; packages are resolved for 3.11",
    )
    conda.write_text("dependencies:\n- python=3.8.5\n")
    plan = plan_environment(conda_file=conda)
    assert (plan.base_image, plan.python_version) == ("mlendpoints/base:bullseye-py39", "3.9")
    assert plan.warnings == (
        f"{conda}:2: python=3.8.5 asks for Python 3.8; the image has Python 3.9 "
        "(mlendpoints/base:bullseye-py39), the nearest available: Debian's suites here have Python 3.9, "
        "3.11, 3.13; packages are resolved for 3.9",
    )
    conda.write_text("dependencies:\n- python=3.10\n")
    assert plan_environment(conda_file=conda).python_version == "3.9"  # the tie goes to the older one
    conda.write_text("dependencies:\n- python=3.9\n")
    plan = plan_environment(conda_file=conda)
    assert (plan.base_image, plan.python_version, plan.warnings) == (
        "mlendpoints/base:bullseye-py39",
        "3.9",
        (),
    )


def test_a_base_the_user_named_keeps_its_python(tmp_path: Path) -> None:
    conda = tmp_path / "conda.yaml"
    conda.write_text("dependencies:\n- python=3.13\n")
    plan = plan_environment(conda_file=conda, image="python:3.12-slim")
    assert (plan.base_image, plan.python_version) == ("python:3.12-slim", "3.13")
    assert (
        f"{conda}:2: python=3.13: the image python:3.12-slim must provide Python 3.13 with venv"
        in plan.warnings
    )
    # A target whose base is set elsewhere (stack config) keeps it too.
    other = plan_environment(conda_file=conda, base_image="registry.local/base:py311")
    assert other.base_image == "registry.local/base:py311"


def test_model_1_conda_file_maps_to_pypi() -> None:
    if not MODEL_1_CONDA.is_file():
        pytest.skip(f"conformance inputs not present at {CONFORMANCE}")
    plan = plan_environment(
        conda_file=MODEL_1_CONDA, image="mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"
    )
    assert plan.requirements == ("numpy==2.3.1", "scikit-learn==1.7.0", "scipy==1.16.0", "joblib")
    assert plan.base_image == DEFAULT_BASE_IMAGE
    text = "\n".join(plan.warnings)
    assert "python=3.12 asks for Python 3.12; the image has Python 3.11" in text
    assert "azureml-inference-server-http==1.4.1 is not installed" in text
    assert "Azure ML base images are not reachable" in text


def test_server_packages_are_replaced_by_the_runtime() -> None:
    lines = [
        "azureml-inference-server-http==1.4.1",
        "azureml_defaults",
        "inference-schema[numpy-support,pandas-support]==1.5",
        "joblib==1.5.1",
    ]
    requirements, warnings = pip_requirements(lines, "req.txt")
    assert requirements == ["numpy", "pandas", "joblib==1.5.1"]
    assert len(warnings) == 3
    assert any("inference-schema" in warning and "runtime's pinned" in warning for warning in warnings)


def test_unreachable_requirements_warn_and_are_skipped() -> None:
    lines = [
        "# comment",
        "",
        "--extra-index-url https://example.invalid/simple",
        "git+https://github.com/x/y.git",
        "./local-package",
        "mypkg @ https://example.invalid/mypkg.whl",
        "requests>=2.31  # inline comment",
        'tomli; python_version < "3.11"',
    ]
    requirements, warnings = pip_requirements(lines, "req.txt")
    assert requirements == ["requests>=2.31", 'tomli; python_version < "3.11"']
    assert len(warnings) == 4


def test_requirements_file_and_conda_merge_one_line_per_project(tmp_path: Path) -> None:
    conda = tmp_path / "conda.yaml"
    conda.write_text("dependencies:\n  - numpy=1.26.4\n  - pip:\n    - numpy\n    - requests==2.31.0\n")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("Requests==2.32.0\nPyYAML\n")
    plan = plan_environment(conda_file=conda, requirements_file=requirements)
    assert plan.requirements == ("numpy==1.26.4", "requests==2.31.0", "PyYAML")
    assert any("keeping 'requests==2.31.0'" in warning for warning in plan.warnings)


def test_conda_variables_and_unknown_sections_warn() -> None:
    plan = plan_environment(conda_file={"dependencies": ["numpy", {"conda": ["x"]}], "variables": {"A": "1"}})
    assert plan.requirements == ("numpy",)
    assert len(plan.warnings) == 2


def test_bad_conda_files_name_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "conda.yaml"
    broken.write_text("dependencies: [numpy\n")
    with pytest.raises(EnvironmentMappingError, match=r"conda\.yaml: the conda file is not valid YAML"):
        plan_environment(conda_file=broken)
    with pytest.raises(EnvironmentMappingError, match="cannot read the conda file"):
        plan_environment(conda_file=tmp_path / "missing.yaml")
    with pytest.raises(EnvironmentMappingError, match="`dependencies` must be a list"):
        plan_environment(conda_file={"dependencies": "numpy"})


def test_images() -> None:
    assert base_image_for(None) == (DEFAULT_BASE_IMAGE, [])
    assert base_image_for(DEFAULT_BASE_IMAGE) == (DEFAULT_BASE_IMAGE, [])
    image, warnings = base_image_for(
        "mcr.microsoft.com/azureml/minimal-ubuntu22.04-py39-cpu-inference:latest"
    )
    assert image == DEFAULT_BASE_IMAGE and warnings
    image, warnings = base_image_for("python:3.11-slim")
    assert image == "python:3.11-slim" and "must provide python3" in warnings[0]


class _Spec:
    def __init__(self, **values: object) -> None:
        self.reference = values.get("reference")
        self.build = values.get("build")
        self.image = values.get("image")
        self.conda_file = values.get("conda_file")


def test_spec_like_objects() -> None:
    conda = EXAMPLES / "model-blue" / "environment" / "conda.yaml"
    plan = plan_for_spec(_Spec(image=DEFAULT_BASE_IMAGE, conda_file=conda))
    assert plan.requirements == ("numpy==2.4.6",)
    assert all("azureml-inference-server-http" in warning for warning in plan.warnings)
    with pytest.raises(EnvironmentMappingError, match="registered on Azure ML"):
        plan_for_spec(_Spec(reference="azureml:env:1"))
    with pytest.raises(EnvironmentMappingError, match="build context"):
        plan_for_spec(_Spec(build=object()))


def test_image_tag_is_a_content_hash(tmp_path: Path) -> None:
    serving = tmp_path / "serving"
    (serving / "scorer" / "__pycache__").mkdir(parents=True)
    (serving / "requirements.txt").write_text("httptools==0.9.0\n")
    (serving / "Dockerfile").write_text("FROM x\n")
    (serving / "scorer" / "app.py").write_text("A = 1\n")
    plan = EnvironmentPlan(requirements=("numpy==2.4.6",))
    tag = image_tag(plan, serving)
    assert tag.startswith("mlendpoints/serving:") and len(tag.split(":")[1]) == 24
    assert image_tag(EnvironmentPlan(requirements=("numpy==2.4.6",), warnings=("x",)), serving) == tag
    (serving / "scorer" / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"cache")
    assert image_tag(plan, serving) == tag
    assert image_tag(EnvironmentPlan(requirements=("numpy==2.4.5",)), serving) != tag
    assert (
        image_tag(EnvironmentPlan(requirements=plan.requirements, base_image="python:3.11"), serving) != tag
    )
    for changed in ("requirements.txt", "Dockerfile", "scorer/app.py"):
        before = (serving / changed).read_text()
        (serving / changed).write_text(before + "# change\n")
        assert image_tag(plan, serving) != tag, changed
        (serving / changed).write_text(before)
    assert image_tag(plan, serving) == tag


def test_each_python_s_runtime_pins_name_the_same_projects() -> None:
    projects = {
        python: {line.split("==")[0] for line in runtime_requirements(python_version=python)}
        for python in ("3.9", "3.11", "3.13")
    }
    assert projects["3.11"] == projects["3.13"]  # requirements.txt serves both
    # 3.9's own file: the same projects, plus what lets pydantic read `X | None` there (and dateutil's six).
    assert (
        projects["3.9"] - projects["3.11"] == {"eval-type-backport", "six"}
        and projects["3.11"] <= projects["3.9"]
    )


def test_runtime_requirements_are_exact_pins() -> None:
    lines = runtime_requirements()
    assert lines and all("==" in line for line in lines)
    assert any(line.startswith("httptools==") for line in lines)
