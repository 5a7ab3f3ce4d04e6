"""JSON files in a host folder that containers mount (configs, secrets, templates), as one resource.

Written atomically (the watching process never reads half a file); refresh reads them back, so a
deleted file is written again and an edited one shows as a change that the next update reverts.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from components.targets.rendering import whole_numbers

# Secret files are readable by their owner only.
SECRET_MODE = 0o600
PLAIN_MODE = 0o644


def write_atomically(path: Path, text: str, mode: int = PLAIN_MODE) -> None:
    """Replace a file in one rename, so a watching process never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def without_nulls(value: Any) -> Any:
    """Pulumi drops None from maps on the way to a provider: drop them on this side too."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def render(content: Any) -> str:
    """A file's text exactly as written (the same in the program and the provider)."""
    return json.dumps(whole_numbers(without_nulls(content)), indent=2, sort_keys=True)


def _write(props: dict[str, Any]) -> None:
    folder = Path(props["folder"])
    for name, content in sorted((props.get("files") or {}).items()):
        write_atomically(folder / name, render(content), mode=PLAIN_MODE)
    for name, content in sorted((props.get("secret_files") or {}).items()):
        write_atomically(folder / name, render(content), mode=SECRET_MODE)


def read_json(path: Path) -> Any:
    """A file written by this module as it is now (its text kept when it is not JSON any more)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        return whole_numbers(json.loads(text))
    except ValueError:
        return {"unreadable": text[:200]}


class _HostFilesProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        _write(props)
        return CreateResult(id_=props["folder"], outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in ("folder", "files", "secret_files") if olds.get(k) != news.get(k)]
        return DiffResult(
            changes=bool(changed), replaces=["folder"] if "folder" in changed else [], stables=["folder"]
        )

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        _write(news)
        return UpdateResult(outs=news)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        folder = Path(props.get("folder") or id_)
        try:
            on_disk = {
                key: {name: read_json(folder / name) for name in (props.get(key) or {})}
                for key in ("files", "secret_files")
            }
        except FileNotFoundError:
            return ReadResult(id_="", outs={})
        return ReadResult(id_=id_, outs={**props, **on_disk})

    def delete(self, id_: str, _props: dict[str, Any]) -> None:
        shutil.rmtree(id_, ignore_errors=True)


class HostFiles(Resource):
    """`files` and `secret_files` (name -> JSON content) in `folder`; the folder is this resource's own."""

    folder: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        folder: str,
        files: pulumi.Input[dict[str, Any]],
        secret_files: pulumi.Input[dict[str, Any]] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=["secret_files"])
        )
        secrets: pulumi.Input[dict[str, Any]] = (
            pulumi.Output.secret(secret_files) if secret_files is not None else {}
        )
        super().__init__(
            _HostFilesProvider(),
            resource_name,
            {"folder": folder, "files": files, "secret_files": secrets},
            opts,
        )
