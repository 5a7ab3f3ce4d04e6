"""The router's config and secrets files on the host, written atomically; the router reloads on change."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider, UpdateResult

CONFIG_FILE = "config.json"
SECRETS_FILE = "secrets.json"


def write_atomically(path: Path, text: str, mode: int = 0o644) -> None:
    """Replace a file in one rename, so the watching router never reads half a file."""
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


def _write(props: dict[str, Any]) -> None:
    folder = Path(props["folder"])
    write_atomically(folder / SECRETS_FILE, json.dumps(props["secrets"], indent=2), mode=0o600)
    write_atomically(folder / CONFIG_FILE, json.dumps(props["config"], indent=2, sort_keys=True))


class _RouterFilesProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        _write(props)
        return CreateResult(id_=props["folder"], outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in ("folder", "config", "secrets") if olds.get(k) != news.get(k)]
        return DiffResult(
            changes=bool(changed), replaces=["folder"] if "folder" in changed else [], stables=["folder"]
        )

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        _write(news)
        return UpdateResult(outs=news)

    def delete(self, id_: str, _props: dict[str, Any]) -> None:
        shutil.rmtree(id_, ignore_errors=True)


class RouterFiles(Resource):
    """config.json (traffic, mirror, instances) and secrets.json (keys) in `folder` on the host."""

    folder: pulumi.Output[str]
    config: pulumi.Output[dict[str, Any]]

    def __init__(
        self,
        resource_name: str,
        folder: str,
        config: pulumi.Input[dict[str, Any]],
        secrets: pulumi.Input[dict[str, Any]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=["secrets"])
        )
        super().__init__(
            _RouterFilesProvider(),
            resource_name,
            {"folder": folder, "config": config, "secrets": pulumi.Output.secret(secrets)},
            opts,
        )
