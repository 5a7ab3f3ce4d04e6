"""Registered asset versions kept in the stack's state, so that a version's content never changes.

On Azure ML a registered `name:version` is immutable: its files were uploaded when it was created,
and creating it again with other content fails. Locally the files stay where they are, so the stack
records a fingerprint of each registered version (its files' contents and the settings that define
it) and the next preview fails, naming the asset, when the same version now holds other content.
Description and tags may change, as `az ml model update --set description=...` allows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

from components.asset_registry import AssetSpec, Registered, build_registry
from components.azureml_yaml import Document
from components.specs.assets import DataAssetSpec, EnvironmentAssetSpec, ModelAssetSpec
from components.specs.pipelines import CommandComponentSpec

TYPE_TOKEN = "mlendpoints:index:AssetRegistry"


@dataclass(frozen=True)
class Fingerprint:
    digest: str
    files: int
    size: int

    def describe(self) -> str:
        return f"{self.files} file(s), {self.size} bytes, digest {self.digest[:12]}"


def _files(root: Path) -> list[tuple[str, Path]]:
    if root.is_file():
        return [(root.name, root)]
    found = [
        p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    ]
    return sorted((p.relative_to(root).as_posix(), p) for p in found)


def fingerprint(spec: AssetSpec) -> Fingerprint:
    """What a version is: its files' relative paths and bytes, and the settings that define it
    (not where the files are, nor description or tags)."""
    roots: list[Path] = []
    definition: dict[str, Any] = {}
    if isinstance(spec, ModelAssetSpec):
        roots = [spec.path] if spec.path is not None else []
        definition = {"type": spec.type, "flavors": spec.flavors}
    elif isinstance(spec, EnvironmentAssetSpec):
        definition = {"image": spec.image, "os_type": spec.os_type}
        if isinstance(spec.conda_file, Path):
            roots.append(spec.conda_file)
        else:
            definition["conda_file"] = spec.conda_file
        if spec.build is not None:
            roots.append(spec.build.path)
            definition["dockerfile_path"] = spec.build.dockerfile_path
    elif isinstance(spec, DataAssetSpec):
        roots = [spec.path] if spec.path is not None else []
        definition = {"type": spec.type, "uri": spec.uri}
    else:  # a component: what it runs (its code folder's files; a pipeline's job component files)
        definition = spec.model_dump(mode="json", exclude={"description", "tags", "display_name"})
        if isinstance(spec, CommandComponentSpec):
            roots = [spec.code] if spec.code is not None else []
        else:
            roots = [job.component for job in spec.jobs.values() if isinstance(job.component, Path)]
    digest = hashlib.sha256(json.dumps(definition, sort_keys=True, default=str).encode())
    files = size = 0
    for index, root in enumerate(roots):
        for relative, path in _files(root):
            data = path.read_bytes()
            digest.update(f"{index}:{relative}\0".encode())
            digest.update(hashlib.sha256(data).digest())
            files, size = files + 1, size + len(data)
    return Fingerprint(digest.hexdigest(), files, size)


class _AssetVersionProvider(ResourceProvider):
    """No external state: the resource is the record of what a version held when registered."""

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        old, new = olds.get("fingerprint"), news.get("fingerprint")
        if old and new and old != new:
            kind, name, version = news.get("kind"), news.get("name"), news.get("version")
            message = (
                f"{kind} {name}:{version} ({news.get('where')}) changed since it was registered: it held "
                f"{olds.get('content')}, now {news.get('content')}. A registered version never changes, "
                f"as on Azure ML: register the new content as a new version (and point deployments at "
                f"it), or put the old content back"
            )
            return CheckResult(news, [CheckFailure("fingerprint", message)])
        return CheckResult(news, [])

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=f"{props['kind']}:{props['name']}:{props['version']}", outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = any(olds.get(key) != news.get(key) for key in ("where", "description"))
        return DiffResult(changes=changed, replaces=[], stables=["kind", "name", "version", "fingerprint"])

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=news)


class _AssetVersion(Resource):
    def __init__(self, resource_name: str, props: dict[str, Any], opts: pulumi.ResourceOptions) -> None:
        super().__init__(_AssetVersionProvider(), resource_name, props, opts)


@dataclass(frozen=True)
class AssetRegistryArgs:
    assets: tuple[Registered, ...]


class AssetRegistry(pulumi.ComponentResource):
    """The stack's registered models, environments, data assets and components, one child per version."""

    def __init__(
        self, name: str, args: AssetRegistryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE_TOKEN, name, None, opts)
        registered: dict[str, list[str]] = {}
        for asset in args.assets:
            found = fingerprint(asset.spec)
            props = {
                "kind": asset.kind,
                "name": asset.name,
                "version": asset.version,
                "where": asset.where,
                "description": asset.spec.description,
                "fingerprint": found.digest,
                "content": found.describe(),
            }
            _AssetVersion(
                f"{asset.kind}-{asset.name}-{asset.version}", props, pulumi.ResourceOptions(parent=self)
            )
            registered.setdefault(asset.kind, []).append(f"{asset.name}:{asset.version}")
        self.registered = registered
        self.data = data_assets(args.assets)
        self.register_outputs({"registered": registered, "data": self.data})


def data_assets(assets: Iterable[Registered]) -> dict[str, dict[str, dict[str, str]]]:
    """Registered data assets as `mle batch invoke --input azureml:<name>@latest` reads them from the
    stack's outputs: name -> version -> {type, path (a host path) or uri (a datastore URI)}."""
    found: dict[str, dict[str, dict[str, str]]] = {}
    for asset in assets:
        spec = asset.spec
        if isinstance(spec, DataAssetSpec):
            where = {"path": str(spec.path)} if spec.path is not None else {"uri": str(spec.uri)}
            found.setdefault(spec.name, {})[spec.version] = {"type": spec.type, **where}
    return found


def registered_assets(documents: Iterable[Document]) -> tuple[Registered, ...]:
    """The assets a stack's documents register (the same entries the resolver used)."""
    registry, _ = build_registry(documents)
    return tuple(registry.entries())
