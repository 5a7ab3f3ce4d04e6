"""The project's base images, one per Python minor that Debian ships: bullseye 3.9, bookworm 3.11,
trixie 3.13.

A conda file's `python=X.Y` picks the image whose Python is X.Y, or the nearest one with a warning
naming both. Each base is Debian's own Python, built from the Debian mirror by `scripts/base-image`
(no image registry answers here). The runtime's pins for 3.9 are serving/requirements-py39.txt.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

from pydantic import BaseModel, Field


class BaseImage(BaseModel, frozen=True):
    """One base image: Debian suite, its Python, the tag `scripts/base-image` gives it."""

    suite: str = Field(description="Debian suite debootstrap installs (bullseye, bookworm, trixie).")
    python: str = Field(description="The suite's python3 as MAJOR.MINOR.")
    tag: str = Field(description="Docker tag of the image in the local engine.")
    packages: tuple[str, ...] = Field(description="Debian packages on top of debootstrap's minbase.")
    rev: int = Field(description="Bumped when `packages` change: an image with another rev is rebuilt.")


DEFAULT_PYTHON = "3.11"
# bookworm also carries nginx: the router's data path runs in images of the default base. bullseye's
# and trixie's images only ever hold a deployment's scorer, batch node or pipeline step.
BASE_IMAGES: tuple[BaseImage, ...] = (
    BaseImage(
        suite="bookworm",
        python="3.11",
        tag="mlendpoints/base:bookworm-py311",
        packages=("python3", "python3-venv", "ca-certificates", "nginx-light"),
        rev=2,
    ),
    BaseImage(
        suite="bullseye",
        python="3.9",
        tag="mlendpoints/base:bullseye-py39",
        packages=("python3", "python3-venv", "ca-certificates"),
        rev=1,
    ),
    BaseImage(
        suite="trixie",
        python="3.13",
        tag="mlendpoints/base:trixie-py313",
        packages=("python3", "python3-venv", "ca-certificates"),
        rev=1,
    ),
)
_MINOR = re.compile(r"^(\d+)\.(\d+)")


@dataclass(frozen=True)
class PythonChoice:
    """The base chosen for a conda file's python, and the warning when it is not the one asked for."""

    base: BaseImage
    warning: str | None = None


def default_base() -> BaseImage:
    return next(base for base in BASE_IMAGES if base.python == DEFAULT_PYTHON)


def by_tag(tag: str) -> BaseImage | None:
    """The project base with this tag (None for any other image)."""
    return next((base for base in BASE_IMAGES if base.tag == tag), None)


def wanted_minor(spec: str) -> str | None:
    """`3.12`, `3.8.5`, `==3.13.*`, `3.13.*` -> MAJOR.MINOR; None for ranges (`>=3.8`) and anything else."""
    text = spec.strip().removeprefix("==").removeprefix("=")
    if not text or text[0] in "<>!~":
        return None
    matched = _MINOR.match(text)
    return f"{matched.group(1)}.{matched.group(2)}" if matched else None


def choose_base(spec: str, where: str) -> PythonChoice:
    """The base for `python=<spec>` written at `where` (file:line): the same minor, else the nearest.

    On a tie the older Python wins: a pin chosen for 3.12 (or 3.10) was released when 3.11 (3.9) was
    supported, while the newer Python may postdate it (and have no wheel of it)."""
    minor = wanted_minor(spec)
    if minor is None:
        return PythonChoice(default_base())
    for base in BASE_IMAGES:
        if base.python == minor:
            return PythonChoice(base)
    wanted = _number(minor)
    nearest = min(BASE_IMAGES, key=lambda base: (abs(_number(base.python) - wanted), _number(base.python)))
    pythons = sorted((base.python for base in BASE_IMAGES), key=_number)
    reason = f"Debian's suites here have Python {', '.join(pythons)}"
    return PythonChoice(
        nearest,
        f"{where}: {as_written(spec)} asks for Python {minor}; the image has Python {nearest.python} "
        f"({nearest.tag}), the nearest available: {reason}; packages are resolved for {nearest.python}",
    )


def as_written(spec: str) -> str:
    """`python=3.12` for the spec `=3.12` (or `3.12`), `python>=3.8` for `>=3.8`."""
    spec = spec.strip()
    return f"python{spec}" if spec[:1] in ("=", "<", ">", "!", "~") else f"python={spec}"


def _number(minor: str) -> int:
    major, rest = minor.split(".")[:2]
    return int(major) * 100 + int(rest)


def main(argv: list[str]) -> int:
    """`python -m components.base_images SUITE`: `TAG REV PACKAGES` for scripts/base-image."""
    base = next((base for base in BASE_IMAGES if argv[1:] == [base.suite]), None)
    if base is None:
        suites = ", ".join(base.suite for base in BASE_IMAGES)
        print(f"usage: python -m components.base_images SUITE (one of {suites})", file=sys.stderr)
        return 2
    print(base.tag, base.rev, ",".join(base.packages))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
