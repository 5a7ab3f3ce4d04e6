"""Project base images on demand: the one a plan needs is built (scripts/base-image) when missing."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from components.base_images import by_tag

BASE_IMAGE_SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "base-image"


class BaseImageError(RuntimeError):
    """The base image could not be built; the message names the suite, the command and its log."""


def ensure_base(tag: str, say: Callable[[str], None], script: Path = BASE_IMAGE_SCRIPT) -> bool:
    """Build the project base `tag` if it is missing or of an older revision; False for other images.

    Runs scripts/base-image (debootstrap from the Debian mirror, ~1 min the first time, a fraction of a
    second once the image is there). The caller holds the build locks: two builds needing the same
    base wait for one another, not for two debootstraps."""
    base = by_tag(tag)
    if base is None:
        return False
    result = subprocess.run(["bash", str(script), base.suite], capture_output=True, text=True, check=False)
    for line in (result.stdout + result.stderr).splitlines():
        if line.strip():
            say(line)
    if result.returncode != 0:
        last = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or ["(no output)"]
        raise BaseImageError(
            f"base image {tag} (Debian {base.suite}, Python {base.python}) could not be built: "
            f"`scripts/base-image {base.suite}` exited with {result.returncode}: {last[0]}"
        )
    return True
