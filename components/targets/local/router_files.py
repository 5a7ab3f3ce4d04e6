"""The router's config and secrets files on the host, written atomically; the router reloads on change."""

from __future__ import annotations

import shutil
import time
import urllib.request
from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from components.targets.local.host_files import read_json, write_atomically
from components.targets.rendering import render_files
from serving.router.nginx_conf import CONFIG_HEADER

APPLY_TIMEOUT_S = 60.0

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


def wait_applied(url: str, digest: str, timeout_s: float = APPLY_TIMEOUT_S) -> None:
    """Poll the router's health answer until it reports `digest` (the files now in force)."""
    deadline = time.monotonic() + timeout_s
    seen = "no answer"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                seen = resp.headers.get(CONFIG_HEADER, "") or "no config digest"
                if seen == digest:
                    return
        except OSError as exc:
            seen = str(exc)
        time.sleep(0.2)
    raise RuntimeError(
        f"the router at {url} did not apply the new config within {timeout_s:.0f}s (it reports: {seen}); "
        "see its log: scripts/mle logs"
    )


class _AppliedProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        wait_applied(props["url"], props["digest"])
        return CreateResult(id_=props["url"], outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in ("url", "digest") if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        wait_applied(news["url"], news["digest"])
        return UpdateResult(outs=news)


class RouterApplied(Resource):
    """Completes once the router serves the config files with `digest`: traffic changes are in force."""

    def __init__(
        self,
        resource_name: str,
        url: pulumi.Input[str],
        digest: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(_AppliedProvider(), resource_name, {"url": url, "digest": digest}, opts)
