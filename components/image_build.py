"""Build the serving image for one environment: context with host-downloaded wheels, classic docker build."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from components import env_resolution
from components.base_build import BaseImageError, ensure_base
from components.environments import (
    SERVING_ROOT,
    EnvironmentMappingError,
    EnvironmentPlan,
    image_tag,
    plan_for_spec,
    runtime_files,
    runtime_requirements_file,
)

log = logging.getLogger("mlendpoints.image_build")

DEFAULT_WHEEL_CACHE = (
    Path(os.environ.get("MLENDPOINTS_CACHE", Path.home() / ".cache" / "mlendpoints")) / "wheels"
)
# glibc of Debian bookworm is 2.36: any manylinux wheel up to that runs in the base image.
_GLIBC_MINOR = 36
_SAVED = re.compile(r"(?:Saved|File was already downloaded) (.+\.whl)\s*$")


class ImageBuildError(RuntimeError):
    """A failed image build; the message names the step and the file or package involved."""


def build_image(
    env: EnvironmentPlan | Any,
    *,
    client: Any = None,
    wheel_cache: Path = DEFAULT_WHEEL_CACHE,
    serving_root: Path = SERVING_ROOT,
    pip: tuple[str, ...] = (sys.executable, "-m", "pip"),
    on_log: Callable[[str], None] | None = None,
) -> str:
    """The tag of an image with the serving runtime and `env`'s packages; built only if the tag is missing.

    `env` is an EnvironmentPlan or an EnvironmentSpec-like object (image / conda_file attributes).
    The tag is a content hash (see environments.image_tag), so an unchanged environment never rebuilds.
    """
    say = on_log or log.info
    try:
        plan = env if isinstance(env, EnvironmentPlan) else plan_for_spec(env)
    except EnvironmentMappingError as ex:
        raise ImageBuildError(f"environment: {ex}") from ex
    for warning in plan.warnings:
        say(f"warning: {warning}")
    tag = image_tag(plan, serving_root)
    docker = client or _connect()
    if _image_exists(docker, tag):
        say(f"image {tag} is up to date")
        return tag
    # Deployments that share an environment plan the same tag and are built at the same moment
    # (by threads of one provider, or by other `pulumi up`s): the first builds, the others wait for
    # it and then find the image. Different tags take different locks and build in parallel.
    with file_lock(_lock_path(wheel_cache, tag)), file_lock(builds_lock_path(wheel_cache), shared=True):
        if _image_exists(docker, tag):
            say(f"image {tag} was built meanwhile")
            return tag
        with file_lock(_lock_path(wheel_cache, f"base-{plan.base_image}")):
            try:
                # A project base is built when missing (trixie for Python 3.13 on first use, or the default
                # one removed since the bootstrap); any other base must be in the engine already.
                ensure_base(plan.base_image, say)
            except BaseImageError as ex:
                raise ImageBuildError(f"{ex} (step: base image)") from ex
        if not _image_exists(docker, plan.base_image):
            raise ImageBuildError(
                f"base image {plan.base_image} is not in the local Docker engine (step: base image); "
                "build or pull it first, or leave environment.image out to use the project's own base"
            )
        with tempfile.TemporaryDirectory(prefix="mlendpoints-build-") as workdir:
            context = Path(workdir)
            assemble_context(
                plan, context, wheel_cache=wheel_cache, serving_root=serving_root, pip=pip, on_log=say
            )
            _docker_build(docker, context, tag, plan.base_image, say)
    say(f"built image {tag}")
    _prune_package_stages(docker, wheel_cache)
    return tag


@contextlib.contextmanager
def file_lock(path: Path, *, shared: bool = False) -> Iterator[None]:
    """A lock held across processes and threads (one open file per holder, flock)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def builds_lock_path(wheel_cache: Path = DEFAULT_WHEEL_CACHE) -> Path:
    """Builds hold it shared; pruning needs it alone, because the classic builder reuses earlier
    builds' untagged stage images as its cache, and pruning one mid-build fails that build
    ("failed to set parent ... unknown parent image ID", seen with two environments at once)."""
    return wheel_cache.parent / "locks" / "builds.lock"


def _lock_path(wheel_cache: Path, tag: str) -> Path:
    return wheel_cache.parent / "locks" / f"image-{tag.replace('/', '_').replace(':', '_')}.lock"


def assemble_context(
    plan: EnvironmentPlan,
    context: Path,
    *,
    wheel_cache: Path = DEFAULT_WHEEL_CACHE,
    serving_root: Path = SERVING_ROOT,
    pip: tuple[str, ...] = (sys.executable, "-m", "pip"),
    on_log: Callable[[str], None] | None = None,
    resolve: bool = True,
) -> None:
    """Dockerfile, serving/, requirements/{runtime,user}.txt and wheels/ (downloaded on the host, cached).

    With `resolve` (and uv installed), the requirements are first resolved into one lock
    (components/env_resolution.py); without, pip resolves them while downloading."""
    target = context / "serving"
    for path in runtime_files(serving_root):
        destination = target / path.relative_to(serving_root)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination)
    dockerfile = serving_root / "Dockerfile"
    if not dockerfile.is_file():
        raise ImageBuildError(f"{dockerfile} is missing (step: build context)")
    shutil.copy2(dockerfile, context / "Dockerfile")
    requirements = context / "requirements"
    requirements.mkdir()
    runtime = requirements / "runtime.txt"
    shutil.copy2(runtime_requirements_file(serving_root, plan.python_version), runtime)
    user = requirements / "user.txt"
    user.write_text("".join(f"{line}\n" for line in plan.requirements), encoding="utf-8")
    wheels = context / "wheels"
    wheels.mkdir()
    no_deps = False
    uv = _uv() if resolve else None
    if plan.requirements and uv is not None:
        # One consistent lock in the world of the user's pins (components/env_resolution.py).
        try:
            resolution = env_resolution.resolve(
                _requirement_lines(runtime),
                list(plan.requirements),
                plan.python_version,
                uv,
                origin=plan.origin,
                workdir=requirements,
            )
        except (env_resolution.ResolutionError, OSError) as exc:
            named = [
                line for project, line in plan.origins if re.search(rf"\b{re.escape(project)}\b", str(exc))
            ]
            where = "".join(f"{line}\n" for line in named)
            raise ImageBuildError(f"{where}{exc} (step: resolve)") from None
        for warning in resolution.warnings:
            (on_log or log.warning)(f"warning: {warning}")
        if resolution.world and on_log:
            on_log(f"unpinned packages held to releases before {resolution.world} (the newest pin's date)")
        user.write_text("".join(f"{line}\n" for line in resolution.pins), encoding="utf-8")
        no_deps = True
    try:
        downloaded = download_wheels(
            [runtime, user], wheel_cache, plan.python_version, pip=pip, on_log=on_log, no_deps=no_deps
        )
    except ImageBuildError as exc:
        raise ImageBuildError(_blame(str(exc), plan)) from None
    for wheel in downloaded:
        _link_or_copy(wheel, wheels / wheel.name)


# pip's words for a requirement it cannot satisfy.
_UNSATISFIED = re.compile(
    r"(?:satisfies the requirement|No matching distribution found for|depends on) "
    r"([A-Za-z0-9][A-Za-z0-9._-]*)"
)


def _uv() -> tuple[str, ...] | None:
    """The uv next to this interpreter (the project venv installs it), if any."""
    beside = Path(sys.executable).parent / "uv"
    if beside.is_file():
        return (str(beside),)
    found = shutil.which("uv")
    return (found,) if found else None


def _requirement_lines(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line]


def _blame(message: str, plan: EnvironmentPlan) -> str:
    """Name the user's file and line for each project pip could not get, instead of our temp files."""
    projects = dict.fromkeys(matched.group(1) for matched in _UNSATISFIED.finditer(message))
    blamed = [
        f"{origin}: no wheel of it for Python {plan.python_version} on Linux (pip could not get "
        f"{project}); choose a version that has one"
        for project in projects
        if (origin := plan.origin(project)) is not None
    ]
    if not blamed:
        return message
    return "\n".join([*blamed, f"(pip said: {message})"])


def download_wheels(
    requirement_files: list[Path],
    cache: Path,
    python_version: str,
    *,
    pip: tuple[str, ...] = (sys.executable, "-m", "pip"),
    on_log: Callable[[str], None] | None = None,
    no_deps: bool = False,
) -> list[Path]:
    """`pip download --only-binary` for the image's Python and platform into a cache outside the repo."""
    cache.mkdir(parents=True, exist_ok=True)
    version = python_version.replace(".", "")
    command = [
        *pip,
        "download",
        "--disable-pip-version-check",
        "--progress-bar",
        "off",
        "--only-binary=:all:",
        "--python-version",
        python_version,
        "--implementation",
        "cp",
        "--abi",
        f"cp{version}",
        *[arg for platform_tag in _platforms() for arg in ("--platform", platform_tag)],
        "--dest",
        str(cache),
    ]
    if no_deps:  # a resolved lock: every package is listed already
        command.append("--no-deps")
    for path in requirement_files:
        command += ["-r", str(path)]
    if on_log:
        on_log(f"downloading wheels for Python {python_version} into {cache}")
    # Two pip processes writing the same wheel into one folder leave torn or missing files (seen
    # on a fresh machine): downloads into the shared cache take turns.
    with file_lock(cache / ".download.lock"):
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        # A download cut short (a killed build) leaves a torn wheel that pip would then report as
        # "already downloaded" for ever: drop torn wheels and download those again, once.
        torn = [path for path in _saved_wheels(result.stdout, cache) if not _whole_wheel(path)]
        if result.returncode == 0 and torn:
            for path in torn:
                path.unlink(missing_ok=True)
            result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        detail = _pip_error(result.stdout + result.stderr)
        listed = ", ".join(str(path) for path in requirement_files)
        raise ImageBuildError(f"pip download failed for {listed} (step: wheels): {detail}")
    wheels = _saved_wheels(result.stdout, cache)
    missing = [str(path) for path in wheels if not _whole_wheel(path)]
    if missing or not wheels:
        raise ImageBuildError(
            f"pip download reported wheels that are not in {cache} (step: wheels): {missing}"
        )
    return sorted(set(wheels))


def _saved_wheels(pip_output: str, cache: Path) -> list[Path]:
    found = [Path(match.group(1)) for line in pip_output.splitlines() if (match := _SAVED.search(line))]
    return [path if path.is_absolute() else cache / path for path in found]


def _whole_wheel(path: Path) -> bool:
    """The file is there and its zip directory (at the very end) reads: not cut short."""
    try:
        with zipfile.ZipFile(path) as wheel:
            return bool(wheel.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def _platforms() -> list[str]:
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(
        platform.machine().lower(), platform.machine().lower()
    )
    tags = [f"manylinux_2_{minor}_{machine}" for minor in range(_GLIBC_MINOR, 16, -1)]
    return [*tags, f"manylinux2014_{machine}", f"manylinux2010_{machine}", f"manylinux1_{machine}"]


def _pip_error(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    return " | ".join(errors[-3:] or lines[-3:]) or "no output"


def _link_or_copy(source: Path, destination: Path) -> None:
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


def _connect() -> Any:
    try:
        import docker

        client = docker.from_env()
        client.ping()
    except Exception as ex:
        raise ImageBuildError(
            f"no Docker engine answers (step: connect; DOCKER_HOST or /var/run/docker.sock): {ex}"
        ) from ex
    return client


def image_present(reference: str) -> bool | None:
    """Whether the local engine holds `reference`; None when no engine answers (nobody can tell)."""
    try:
        return _image_exists(_connect(), reference)
    except ImageBuildError:
        return None


def _image_exists(client: Any, reference: str) -> bool:
    import docker.errors

    try:
        client.images.get(reference)
    except docker.errors.ImageNotFound:
        return False
    except docker.errors.APIError as ex:
        raise ImageBuildError(
            f"the Docker engine failed to look up {reference} (step: image lookup): {ex}"
        ) from ex
    return True


# Untagged leftovers of our builds: first-stage (packages) images and images whose tag went to a
# later build. Only those older than ten minutes: a build running in parallel keeps its stages.
_LEFTOVER_LABELS = ("org.mlendpoints.stage=packages", "org.mlendpoints.image=serving")


def prune_build_leftovers(client: Any) -> int:
    """Remove untagged images our builds left behind; returns the bytes reclaimed."""
    reclaimed = 0
    for label in _LEFTOVER_LABELS:
        report = client.images.prune(filters={"dangling": True, "label": label, "until": "10m"})
        reclaimed += int(report.get("SpaceReclaimed") or 0)
    return reclaimed


def _prune_package_stages(client: Any, wheel_cache: Path) -> None:
    """Prune leftovers unless another build runs now (then the last one to finish prunes)."""
    import docker.errors

    path = builds_lock_path(wheel_cache)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return
        try:
            prune_build_leftovers(client)
        except docker.errors.APIError as ex:
            log.warning("could not prune old build stages: %s", ex)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _docker_build(client: Any, context: Path, tag: str, base_image: str, say: Callable[[str], None]) -> None:
    """Classic builder through the Engine API, no network in the build, progress forwarded line by line."""
    import docker.errors

    tail: list[str] = []
    try:
        stream = client.api.build(
            path=str(context),
            tag=tag,
            buildargs={"BASE_IMAGE": base_image},
            network_mode="none",
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
            labels={"org.mlendpoints.image": "serving"},
        )
        for chunk in stream:
            if "error" in chunk:
                detail = chunk.get("errorDetail", {}).get("message") or chunk["error"]
                raise ImageBuildError(
                    f"docker build of {tag} failed (step: docker build, Dockerfile in {context}): "
                    f"{str(detail).strip()}\n" + "\n".join(tail[-20:])
                )
            text = str(chunk.get("stream", "")).rstrip()
            if text:
                tail.append(text)
                say(text)
    except docker.errors.APIError as ex:
        raise ImageBuildError(f"docker build of {tag} failed (step: docker build): {ex}") from ex
