"""Config files as every target writes them: the router reports the digest of exactly these texts."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from serving.router.config import files_digest


def whole_numbers(value: Any) -> Any:
    """Pulumi carries every number as a float (90 arrives in a provider as 90.0): back to ints."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [whole_numbers(v) for v in value]
    return value


def render_files(config: dict[str, Any], secrets: dict[str, Any]) -> tuple[str, str]:
    """(config.json text, secrets.json text) exactly as written; their digest is what the router reports.

    Rendered the same in the program and in the provider process, whatever Pulumi did to the numbers.
    """
    return (
        json.dumps(whole_numbers(config), indent=2, sort_keys=True),
        json.dumps(whole_numbers(secrets), indent=2, sort_keys=True),
    )


def expected_digest(config: dict[str, Any], secrets: dict[str, Any]) -> str:
    return files_digest(*render_files(config, secrets))


def digest(value: Any) -> str:
    """Stable short hash of JSON-able data."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:12]


def tree_digest(paths: Iterable[Path]) -> str:
    """Hash of every file's relative path and bytes under the given files/folders (caches skipped).

    A changed model or score script changes this, which is what makes Pulumi replace the instances.
    """
    h = hashlib.sha256()
    for root in sorted({Path(p) for p in paths}):
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for f in files:
            if "__pycache__" in f.parts or f.suffix == ".pyc":
                continue
            h.update(str(f.relative_to(root.parent)).encode())
            h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()[:12]
