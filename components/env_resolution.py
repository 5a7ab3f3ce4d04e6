"""Environments resolved like conda would: one consistent set of wheels for the image's Python, in the
world the user's own pins come from.

Conda files pin a few packages and leave the rest open; pip then takes today's release of everything
unpinned, and an old pin meets a new world: `scikit-learn==1.2.2` with numpy 2.x crashes at import
("numpy.dtype size changed"). The rule here:

1. An exact pin with no wheel for the image's Python becomes the nearest release that has one (the
   newest of the same major.minor at or above it, else the next release above it), with a warning
   naming the user's file and line.
2. The pins' world: unpinned packages are resolved as of the newest pinned release's upload date
   (+1 day) -- uv's `--exclude-newer` -- so they do not jump past what the pins were built for. The
   serving runtime's own exact pins are exempt (`--exclude-newer-package`).
3. uv resolves runtime and user requirements together for the image's Python and platform
   (`--only-binary :all:`, no builds in the image) into exact pins; when no resolution exists in the
   pins' world, today's packages are used, with a warning saying so.

PyPI's simple API (PEP 691 JSON) gives each file's name and upload time.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

SIMPLE_INDEX = "https://pypi.org/simple"
_EXACT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*==\s*([A-Za-z0-9.+!_-]+)\s*$")
_GLIBC_MINOR = 36

Files = list[dict[str, object]]
FetchFiles = Callable[[str], Files]


class ResolutionError(RuntimeError):
    """No consistent set of wheels; the message names the user's line where it can."""


@dataclass
class Resolution:
    pins: list[str]  # exact `name==version` of every package the image installs
    warnings: list[str] = field(default_factory=list)
    world: str | None = None  # the date unpinned packages were held to, if any


def target_tags(python_version: str) -> set[Tag]:
    """Wheel tags the image's CPython on manylinux x86_64 accepts."""
    major, minor = (int(part) for part in python_version.split(".")[:2])
    platforms = [f"manylinux_2_{m}_x86_64" for m in range(_GLIBC_MINOR, 4, -1)]
    platforms += ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64", "linux_x86_64"]
    abi = f"cp{major}{minor}"
    found = set(cpython_tags((major, minor), [abi, "abi3", "none"], platforms))
    found |= set(compatible_tags((major, minor), abi, platforms))
    return found


def fetch_files(project: str, index: str = SIMPLE_INDEX) -> Files:
    """The project's files (filename, upload-time, requires-python) from the simple API."""
    request = urllib.request.Request(
        f"{index}/{canonicalize_name(project)}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        files: Files = json.loads(answer.read())["files"]
    return files


def _wheels(files: Files) -> dict[Version, list[tuple[set[Tag], str]]]:
    found: dict[Version, list[tuple[set[Tag], str]]] = {}
    for entry in files:
        name = str(entry.get("filename", ""))
        if not name.endswith(".whl") or entry.get("yanked"):
            continue
        try:
            _, version, _, tags = parse_wheel_filename(name)
        except (InvalidWheelFilename, InvalidVersion):
            continue
        found.setdefault(version, []).append((set(tags), str(entry.get("upload-time") or "")))
    return found


def has_wheel(files: Files, version: str, tags: set[Tag]) -> bool:
    return any(wheel_tags & tags for wheel_tags, _ in _wheels(files).get(Version(version), []))


def nearest_with_wheel(files: Files, version: str, tags: set[Tag]) -> str | None:
    """The newest release of the same major.minor at or above `version` with a wheel for `tags`, else
    the lowest release above it that has one (pre-releases skipped)."""
    wanted = Version(version)
    usable = sorted(
        v for v, wheels in _wheels(files).items() if not v.is_prerelease and any(t & tags for t, _ in wheels)
    )
    above = [v for v in usable if v >= wanted]
    same = [v for v in above if v.release[:2] == wanted.release[:2]]
    if same:
        return str(same[-1])
    return str(above[0]) if above else None


def release_date(files: Files, version: str) -> dt.datetime | None:
    """When a release was first uploaded (its earliest file)."""
    times = []
    for entry in files:
        name = str(entry.get("filename", ""))
        if f"-{version}-" not in name and f"-{version}.tar" not in name and f"-{version}.zip" not in name:
            continue
        stamp = str(entry.get("upload-time") or "")
        if stamp:
            times.append(dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")))
    return min(times) if times else None


def exact_pins(lines: Iterable[str]) -> list[tuple[str, str, str]]:
    """(line, project, version) of every `name==version` line (extras kept in the line)."""
    found = []
    for line in lines:
        matched = _EXACT.match(line)
        if matched:
            found.append((line, matched.group(1), matched.group(3)))
    return found


def hold_pins(
    user: Sequence[str],
    python_version: str,
    fetch: FetchFiles = fetch_files,
    origin: Callable[[str], str | None] = lambda _: None,
) -> tuple[list[str], list[str], dt.datetime | None]:
    """Rule 1 and the world's date: the user's lines with pins moved to the nearest release that has
    a wheel, the warnings, and the newest pinned release's upload date."""
    tags = target_tags(python_version)
    lines, warnings, dates = list(user), [], []
    for line, project, version in exact_pins(user):
        files = fetch(project)
        chosen = version
        if not has_wheel(files, version, tags):
            nearest = nearest_with_wheel(files, version, tags)
            where = origin(project) or line
            if nearest is None:
                raise ResolutionError(
                    f"{where}: no release of {project} at or above {version} has a wheel for Python "
                    f"{python_version} on Linux; pin a version that has one"
                )
            chosen = nearest
            lines[lines.index(line)] = line.replace(version, nearest, 1)
            warnings.append(
                f"{where}: {project}=={version} has no wheel for Python {python_version}; using {nearest}, "
                "the nearest release that has one"
            )
        date = release_date(files, chosen)
        if date is not None:
            dates.append(date)
    return lines, warnings, max(dates) if dates else None


def resolve(
    runtime: Sequence[str],
    user: Sequence[str],
    python_version: str,
    uv: Sequence[str],
    *,
    fetch: FetchFiles = fetch_files,
    origin: Callable[[str], str | None] = lambda _: None,
    workdir: Path,
) -> Resolution:
    """Runtime and user requirements -> exact pins of everything, resolved by uv (see the module)."""
    held, warnings, newest = hold_pins(user, python_version, fetch, origin)
    world = (newest + dt.timedelta(days=1)).date().isoformat() if newest else None
    (workdir / "runtime.in").write_text("".join(f"{line}\n" for line in runtime))
    (workdir / "user.in").write_text("".join(f"{line}\n" for line in held))
    exempt = [f"{project}={_far_future()}" for _, project, _ in exact_pins(runtime)]
    result = _compile(uv, python_version, workdir, world, exempt)
    if result.returncode != 0 and world is not None:
        reason = _uv_error(result.stderr)
        warnings.append(
            f"the packages left unpinned could not all be held to {world} (the newest pin's date): "
            f"{reason}; they are resolved against today's releases instead"
        )
        world = None
        result = _compile(uv, python_version, workdir, None, [])
    if result.returncode != 0:
        raise ResolutionError(
            f"no consistent set of wheels for Python {python_version}: {_uv_error(result.stderr)}"
        )
    pins = [
        line.strip()
        for line in result.stdout.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    return Resolution(pins, warnings, world)


def _compile(
    uv: Sequence[str], python_version: str, workdir: Path, world: str | None, exempt: list[str]
) -> subprocess.CompletedProcess[str]:
    command = [
        *uv,
        "pip",
        "compile",
        "--quiet",
        "--no-header",
        "--no-annotate",
        "--python-version",
        python_version,
        "--python-platform",
        f"x86_64-manylinux_2_{_GLIBC_MINOR}",
        "--only-binary",
        ":all:",
        str(workdir / "runtime.in"),
        str(workdir / "user.in"),
    ]
    if world is not None:
        command += ["--exclude-newer", world]
        for entry in exempt:
            command += ["--exclude-newer-package", entry]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def _far_future() -> str:
    return (dt.date.today() + dt.timedelta(days=2)).isoformat()


def _uv_error(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return " ".join(lines[-6:]) or "no output"
