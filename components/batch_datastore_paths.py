"""Datastore URIs (`azureml://datastores/<ds>/paths/<p>`) <-> folders and files on this machine."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from components.endpoint_cli import CliError
from serving.batch.controller.datastores import parse_uri
from serving.batch.controller.errors import BadRequest

DATASTORE_URI = "azureml://datastores/<datastore>/paths/<path>"


def datastore_folders(ep: Mapping[str, Any]) -> dict[str, Path]:
    """Datastore name -> host folder, from the endpoint's `datastores` output."""
    return {str(name): Path(str(folder)) for name, folder in (ep.get("datastores") or {}).items()}


def _parse(uri: str, what: str) -> tuple[str, str]:
    try:
        location = parse_uri(uri, what)
    except BadRequest as exc:
        raise CliError(str(exc)) from None
    return location.datastore, location.path


def host_path(uri: str, folders: Mapping[str, Path]) -> Path:
    """`azureml://datastores/<ds>/paths/<p>` -> the file or folder on this machine."""
    datastore, path = _parse(uri, "URI")
    folder = folders.get(datastore)
    if folder is None:
        known = ", ".join(sorted(folders)) or "none"
        raise CliError(f"{uri}: datastore {datastore!r} is not in the stack's outputs (datastores: {known})")
    return folder / path if path else folder


def datastore_uri(path: Path, folders: Mapping[str, Path], folder: bool = False) -> str | None:
    """A host path inside a datastore folder -> its datastore URI (None: in no datastore)."""
    real = Path(os.path.realpath(path))
    best: tuple[int, str, str] | None = None
    for name, root in folders.items():
        real_root = Path(os.path.realpath(root))
        if real == real_root or real_root in real.parents:
            relative = real.relative_to(real_root).as_posix()
            depth = len(real_root.parts)
            if best is None or depth > best[0]:
                best = (depth, name, "" if relative == "." else relative)
    if best is None:
        return None
    tail = best[2] + ("/" if folder and best[2] else "")
    return f"azureml://datastores/{best[1]}/paths/{tail}"


def _shown(uri: str | None, folders: Mapping[str, Path]) -> str:
    """The host path of a URI for display; says why when there is none, or when nothing is there."""
    if not uri:
        return "-"
    try:
        path = host_path(uri, folders)
    except CliError as exc:
        return f"(no host path: {exc})"
    return str(path) if path.exists() else f"{path} (not there)"
