"""Ray for the batch bench: a bench-only venv on the nodes' Python (Debian's 3.11 in the base image).

The host's Python may be a different build (here pyenv's 3.11.7 without PGO/LTO runs this driver about
1.5x slower than Debian's 3.11.2 in the images), so Ray runs in a container of the base image the
nodes are built on: same interpreter, same files, no CPU limit. The wheels come from PyPI with pip on
the host (`pip download`, ordinary client), the venv is created inside the container from them with
no network, and both stay under the cache for the next run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from paths import CACHE, REPO

# The newest ray `pip index versions ray` showed that installs for Python 3.11.
RAY = "ray[data]==2.60.0"
WHEELS = CACHE / "ray-bench-wheels"
VENV = CACHE / "ray-bench-venv-bookworm"
VENV_MOUNT = "/opt/ray-venv"


def _image_id(image: str) -> str:
    return subprocess.run(
        ["docker", "image", "inspect", "-f", "{{.Id}}", image], capture_output=True, text=True, check=True
    ).stdout.strip()


def ensure_ray(image: str) -> None:
    """The venv with RAY for `image`'s Python under the cache (built once; ~1 min)."""
    marker = VENV / ".mlendpoints-bench"
    wanted = f"{RAY}\n{_image_id(image)}"
    if marker.exists() and marker.read_text() == wanted:
        return
    print(f"preparing {VENV} ({RAY} on {image}'s Python) ...", flush=True)
    WHEELS.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
         "--only-binary=:all:", "--python-version", "3.11", "-d", str(WHEELS), RAY],
        check=True,
    )  # fmt: skip
    VENV.mkdir(parents=True, exist_ok=True)
    script = (
        f"python3 -m venv --clear {VENV_MOUNT} && {VENV_MOUNT}/bin/pip install -q --no-index "
        f"--disable-pip-version-check --find-links /wheels '{RAY}'"
    )
    subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "--user", f"{os.getuid()}:{os.getgid()}",
         "-e", "HOME=/tmp", "-v", f"{WHEELS}:/wheels:ro", "-v", f"{VENV}:{VENV_MOUNT}",
         "--entrypoint", "sh", image, "-c", script],
        check=True,
    )  # fmt: skip
    marker.write_text(wanted)


def ray_command(image: str, code: Path, data: Path, args: list[str]) -> list[str]:
    """`docker run` of bench/batch_ray.py in `image` with the venv; paths in args under /bench/."""
    return [
        "docker", "run", "--rm", "--network", "none", "--shm-size", "2g",
        "--user", f"{os.getuid()}:{os.getgid()}", "-e", "HOME=/tmp",
        "-v", f"{VENV}:{VENV_MOUNT}:ro", "-v", f"{code}:/bench/code:ro", "-v", f"{data}:/bench/data:ro",
        "-v", f"{REPO / 'bench' / 'batch_ray.py'}:/bench/batch_ray.py:ro",
        "--entrypoint", f"{VENV_MOUNT}/bin/python", image, "/bench/batch_ray.py", *args,
    ]  # fmt: skip
