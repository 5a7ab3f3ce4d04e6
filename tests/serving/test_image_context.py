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
import zipfile
for name in names:
    path = f"{dest}/{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:  # a whole zip: torn wheels are refused
        wheel.writestr(f"{name}/__init__.py", "")
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
    assemble_context(plan, context, wheel_cache=tmp_path / "cache", pip=fake_pip, resolve=False)
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
        assemble_context(plan, context, wheel_cache=tmp_path / "cache", pip=fake_pip, resolve=False)


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


TORN_ONCE = """
import os, sys, zipfile
args = sys.argv[1:]
dest = args[args.index("--dest") + 1]
path = f"{dest}/six-1.0-py3-none-any.whl"
marker = f"{dest}/.calls"
calls = int(open(marker).read()) if os.path.exists(marker) else 0
open(marker, "w").write(str(calls + 1))
if not os.path.exists(path):
    if calls == 0:
        open(path, "w").write("cut short")  # a download killed half way
    else:
        with zipfile.ZipFile(path, "w") as wheel:
            wheel.writestr("six.py", "")
print(f"{'File was already downloaded' if calls else 'Saved'} {path}")
"""


def test_a_torn_wheel_in_the_cache_is_downloaded_again(tmp_path: Path) -> None:
    from components.image_build import download_wheels

    script = tmp_path / "torn_pip.py"
    script.write_text(TORN_ONCE)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("six\n")
    cache = tmp_path / "cache"
    [wheel] = download_wheels([requirements], cache, "3.11", pip=(sys.executable, str(script)))
    assert wheel.read_bytes().startswith(b"PK")
    assert (cache / ".calls").read_text() == "2"
