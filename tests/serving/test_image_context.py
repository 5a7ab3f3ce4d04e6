"""The image build context, assembled without Docker or network (pip replaced by a stand-in)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from components.environments import EnvironmentPlan, runtime_files
from components.image_build import ImageBuildError, assemble_context, build_image

FAKE_PIP = """
import sys
args = sys.argv[1:]
dest = args[args.index("--dest") + 1]
requirements = [args[i + 1] for i, arg in enumerate(args) if arg == "-r"]
names = [line.split("==")[0].strip() for path in requirements for line in open(path) if line.strip()
         and not line.startswith("#")]
if "nosuchpackage" in names:
    print("ERROR: Could not find a version that satisfies the requirement nosuchpackage")
    print("ERROR: No matching distribution found for nosuchpackage")
    sys.exit(1)
assert "--only-binary=:all:" in args and args[args.index("--python-version") + 1] == "3.11"
for name in names:
    path = f"{dest}/{name}-1.0-py3-none-any.whl"
    open(path, "w").write("wheel")
    print(f"Saved {path}")
"""


@pytest.fixture()
def fake_pip(tmp_path: Path) -> tuple[str, ...]:
    script = tmp_path / "fake_pip.py"
    script.write_text(FAKE_PIP)
    return (sys.executable, str(script))


def test_context_has_dockerfile_runtime_requirements_and_wheels(
    tmp_path: Path, fake_pip: tuple[str, ...]
) -> None:
    context = tmp_path / "context"
    context.mkdir()
    plan = EnvironmentPlan(requirements=("numpy==2.4.6", "joblib"))
    assemble_context(plan, context, wheel_cache=tmp_path / "cache", pip=fake_pip)
    assert (context / "Dockerfile").read_text().startswith("# One image")
    assert (context / "requirements" / "user.txt").read_text() == "numpy==2.4.6\njoblib\n"
    assert "httptools==" in (context / "requirements" / "runtime.txt").read_text()
    assert (context / "serving" / "scorer" / "app.py").is_file()
    assert not list(context.rglob("__pycache__"))
    copied = {
        str(path.relative_to(context / "serving"))
        for path in (context / "serving").rglob("*")
        if path.is_file()
    }
    serving = Path(__file__).resolve().parents[2] / "serving"
    assert copied == {str(path.relative_to(serving)) for path in runtime_files(serving)}
    wheels = sorted(path.name for path in (context / "wheels").iterdir())
    assert "numpy-1.0-py3-none-any.whl" in wheels and "joblib-1.0-py3-none-any.whl" in wheels
    assert (tmp_path / "cache" / "numpy-1.0-py3-none-any.whl").is_file()


def test_pip_failure_names_the_step_and_the_package(tmp_path: Path, fake_pip: tuple[str, ...]) -> None:
    context = tmp_path / "context"
    context.mkdir()
    plan = EnvironmentPlan(requirements=("nosuchpackage",))
    with pytest.raises(
        ImageBuildError, match=r"step: wheels.*No matching distribution found for nosuchpackage"
    ):
        assemble_context(plan, context, wheel_cache=tmp_path / "cache", pip=fake_pip)


class _Images:
    def __init__(self, present: set[str]) -> None:
        self.present = present

    def get(self, reference: str) -> object:
        import docker.errors

        if reference not in self.present:
            raise docker.errors.ImageNotFound(reference)
        return object()


class _Client:
    def __init__(self, present: set[str]) -> None:
        self.images = _Images(present)


def test_existing_tag_is_not_rebuilt_and_missing_base_is_explained(tmp_path: Path) -> None:
    pytest.importorskip("docker")
    from components.environments import image_tag

    plan = EnvironmentPlan(requirements=("numpy==2.4.6",))
    tag = image_tag(plan)
    logs: list[str] = []
    assert build_image(plan, client=_Client({tag}), on_log=logs.append) == tag
    assert logs == [f"image {tag} is up to date"]
    with pytest.raises(
        ImageBuildError, match="base image mlendpoints/base:bookworm-py311 is not in the local"
    ):
        build_image(plan, client=_Client(set()))
