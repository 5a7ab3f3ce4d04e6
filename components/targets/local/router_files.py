"""The router's config and secrets files on the host, written atomically; the router reloads on change."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from components.targets.local.host_files import read_json, write_atomically
from components.targets.rendering import render_files

# Moved to components.targets.router_applied; named here too for stacks whose state pickled
# the provider from this module.
from components.targets.router_applied import _AppliedProvider as _AppliedProvider

CONFIG_FILE = "config.json"
SECRETS_FILE = "secrets.json"


def _write(props: dict[str, Any]) -> None:
    folder = Path(props["folder"])
    config_text, secrets_text = render_files(props["config"], props["secrets"])
    write_atomically(folder / SECRETS_FILE, secrets_text, mode=0o600)
    write_atomically(folder / CONFIG_FILE, config_text)


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

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        # On refresh, report what is really on disk: a missing file makes the files "gone" (created
        # again), an edited one shows as a change that the next update writes back.
        folder = Path(props.get("folder") or id_)
        try:
            on_disk = {"config": read_json(folder / CONFIG_FILE), "secrets": read_json(folder / SECRETS_FILE)}
        except FileNotFoundError:
            return ReadResult(id_="", outs={})
        return ReadResult(id_=id_, outs={**props, **on_disk})

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
