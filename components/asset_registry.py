"""The stack's local asset registry: the models, environments and data assets its config declares,
and Azure ML's references to them resolved as Azure resolves them.

Azure ML keeps registered assets in the workspace (`az ml model create -f model.yml`) and deployments
name them: `azureml:<name>:<version>`, `azureml:<name>@latest`, or the long resource id
`azureml:/subscriptions/.../workspaces/<ws>/models/<name>/versions/<version>`. Off Azure the stack
config is the workspace: asset YAML files listed under `models`, `environments`, `data` (or `files`)
are registered, and references resolve against them before any target sees a deployment. Shared
registries (`azureml://registries/...`, e.g. curated environments) are not local: those references
stay, and the target check refuses them with its own message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, cast

from components.azureml_yaml import Document, kind_of
from components.errors import Problem, Source, format_loc
from components.specs import EnvironmentSpec, ModelSpec, PipelineComponentBatchDeploymentSpec
from components.specs.assets import DataAssetSpec, EnvironmentAssetSpec, ModelAssetSpec
from components.specs.pipelines import CommandComponentSpec, PipelineComponentSpec

AssetKind = Literal["model", "environment", "data", "component"]
AssetSpec = (
    ModelAssetSpec | EnvironmentAssetSpec | DataAssetSpec | CommandComponentSpec | PipelineComponentSpec
)
# Stack config key of each kind (where a user registers one).
CONFIG_KEY: Mapping[AssetKind, str] = MappingProxyType(
    {"model": "models", "environment": "environments", "data": "data", "component": "components"}
)
# The `$schema` to name in messages about registering one.
_SCHEMA_OF: Mapping[AssetKind, str] = MappingProxyType(
    {"model": "model", "environment": "environment", "data": "data", "component": "commandComponent"}
)
# `az ml component create` numbers a component without a version: the first one is version 1.
FIRST_VERSION = "1"
_LATEST = "latest"

_SHORT = re.compile(
    r"azureml:(?P<name>[A-Za-z0-9_][A-Za-z0-9_.-]*)"
    r"(?::(?P<version>[A-Za-z0-9_.-]+)|@(?P<label>[A-Za-z0-9_.-]+))"
)
# The ARM id form, as `az ml ... show` prints `id` (also accepted without the leading `azureml:`).
_LONG = re.compile(
    r"(?:azureml:)?/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.MachineLearningServices/"
    r"workspaces/[^/]+/(?P<kind>models|environments|data|components)/(?P<name>[^/]+)/versions/(?P<version>[^/]+)",
    re.IGNORECASE,
)
_LONG_KIND: Mapping[str, AssetKind] = MappingProxyType(
    {"models": "model", "environments": "environment", "data": "data", "components": "component"}
)


class AssetLookupError(LookupError):
    """A reference that names no registered asset; the message says what is registered."""


@dataclass(frozen=True)
class Reference:
    """A workspace reference: a name with a version, or with a label (only `latest` exists locally)."""

    name: str
    version: str | None = None
    label: str | None = None

    def __str__(self) -> str:
        return f"azureml:{self.name}:{self.version}" if self.version else f"azureml:{self.name}@{self.label}"


def parse_reference(value: str, kind: AssetKind) -> Reference | None:
    """The workspace reference in `value`; None for anything else (a shared registry, a cloud URI).

    ValueError when the long form names another kind of asset than `kind`.
    """
    text = value.strip()
    short = _SHORT.fullmatch(text)
    if short:
        return Reference(short["name"], short["version"], short["label"])
    long = _LONG.fullmatch(text)
    if long:
        named = _LONG_KIND[long["kind"].lower()]
        if named != kind:
            raise ValueError(f"{value!r} is the id of a registered {named}, not of a {kind}")
        return Reference(long["name"], long["version"])
    return None


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Natural order: "10" after "9", "1.10" after "1.9"; numbers before words at the same place."""
    parts = re.findall(r"\d+|[^\d.]+", version)
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in parts)


@dataclass(frozen=True)
class Registered:
    """One registered asset version and where it was declared (for messages)."""

    kind: AssetKind
    spec: AssetSpec
    where: str  # "file:line", or the stack config entry
    # Where the spec was read (its lines, for messages about its content; the file a pipeline
    # deployment then points at).
    source: Source = field(default_factory=Source, compare=False)

    @property
    def name(self) -> str:
        return self.spec.name or ""

    @property
    def version(self) -> str:
        return self.spec.version or FIRST_VERSION

    def for_deployment(self) -> ModelSpec | EnvironmentSpec:
        """The spec a deployment's `model`/`environment` takes: the registered one, inline."""
        if isinstance(self.spec, ModelAssetSpec):
            return ModelSpec.model_validate(self.spec.model_dump(exclude_none=True))
        if isinstance(self.spec, EnvironmentAssetSpec):
            return EnvironmentSpec.model_validate(self.spec.model_dump(exclude_none=True))
        raise TypeError(f"a {self.kind} asset is not used by deployments")


@dataclass
class Registry:
    """Registered assets by kind and name, then version."""

    _assets: dict[tuple[AssetKind, str], dict[str, Registered]] = field(default_factory=dict)

    def register(self, asset: Registered) -> Registered | None:
        """Add an asset version; the one already there when it differs (versions never change)."""
        versions = self._assets.setdefault((asset.kind, asset.name), {})
        known = versions.get(asset.version)
        if known is None:
            versions[asset.version] = asset
            return None
        return None if known.spec == asset.spec else known

    def names(self, kind: AssetKind) -> list[str]:
        return sorted(name for (known, name) in self._assets if known == kind)

    def versions(self, kind: AssetKind, name: str) -> list[str]:
        return sorted(self._assets.get((kind, name), {}), key=version_key)

    def entries(self) -> list[Registered]:
        return [
            asset
            for key in sorted(self._assets)
            for _, asset in sorted(self._assets[key].items(), key=lambda item: version_key(item[0]))
        ]

    def resolve(self, kind: AssetKind, reference: Reference) -> Registered:
        """The asset a reference names (`@latest`: the highest version); AssetLookupError otherwise."""
        versions = self._assets.get((kind, reference.name))
        if not versions:
            names = ", ".join(self.names(kind)) or "none"
            raise AssetLookupError(
                f"no {kind} named {reference.name!r} is registered in this stack "
                f"({CONFIG_KEY[kind]}: {names}); "
                "register it by listing its YAML file (`$schema: https://azuremlschemas.azureedge.net/"
                f"latest/{_SCHEMA_OF[kind]}.schema.json`, name, version) "
                f"under `{CONFIG_KEY[kind]}:` in the stack config, as `az ml {kind} create -f` does"
            )
        if reference.label is not None:
            if reference.label != _LATEST:
                raise AssetLookupError(
                    f"{reference}: label {reference.label!r} is not known locally; only @latest (the highest "
                    f"version: {self.versions(kind, reference.name)[-1]}) is, or name a version"
                )
            return versions[self.versions(kind, reference.name)[-1]]
        assert reference.version is not None
        found = versions.get(reference.version)
        if found is None:
            listed = ", ".join(self.versions(kind, reference.name))
            raise AssetLookupError(
                f"{kind} {reference.name!r} has no version {reference.version!r} (registered: {listed})"
            )
        return found


def _kind_of(spec: object) -> AssetKind | None:
    """The asset kind of a spec to register (the loader's kind), None for anything else."""
    if isinstance(spec, CommandComponentSpec | PipelineComponentSpec):
        return "component"
    if not isinstance(spec, ModelAssetSpec | EnvironmentAssetSpec | DataAssetSpec):
        return None
    return cast(AssetKind, kind_of(spec))  # "model", "environment" or "data" for these specs


def _where(file: str | None, line: int | None, entry: str) -> str:
    """`file:line`, or the stack config entry (`stack config models[0]`) of an inline definition."""
    if file and line:
        return f"{file}:{line}"
    return " ".join(part for part in (file or "stack config", entry) if part)


def build_registry(documents: Iterable[Document]) -> tuple[Registry, list[Problem]]:
    """Register every asset document; a second, different definition of a name:version is a problem."""
    registry = Registry()
    problems: list[Problem] = []
    for document in documents:
        kind = _kind_of(document.spec)
        if kind is None:
            continue
        source = document.source
        line = source.line_of(())
        where = _where(source.file, line, format_loc(source.root))
        spec = document.spec
        assert isinstance(spec, AssetSpec)
        asset = Registered(kind, spec, where, source)
        if not asset.name:
            problems.append(source.problem((), f"a {kind} to register needs a `name`"))
            continue
        known = registry.register(asset)
        if known is not None:
            problems.append(
                source.problem(
                    ("version",),
                    f"{kind} {asset.name}:{asset.version} is already registered with different content (in "
                    f"{known.where}); a registered version never changes, as on Azure: give this one a new "
                    f"version",
                )
            )
    return registry, problems


# Deployment fields that may name a registered asset, and the kind they name.
_REFERENCING_FIELDS: tuple[tuple[str, AssetKind], ...] = (("model", "model"), ("environment", "environment"))


@dataclass
class Resolved:
    """Documents with their workspace references replaced by the registered assets."""

    documents: list[Document]
    problems: list[Problem]
    # (document, field) of each reference that could not be resolved (its problem says why): the
    # target check does not refuse the same reference a second time.
    unresolved: list[tuple[Document, str]]


def registered_component(registry: Registry, text: str) -> Registered:
    """The registered component `text` (azureml:name:version, @latest, the id form) names."""
    try:
        reference = parse_reference(text, "component")
    except ValueError as error:
        raise AssetLookupError(str(error)) from None
    if reference is None:
        raise AssetLookupError(
            f"{text!r} is not a component of this stack (azureml:<name>:<version> or azureml:<name>@latest)"
        )
    return registry.resolve("component", reference)


def _component_in_place(asset: Registered) -> Path | dict[str, Any]:
    """What a pipeline deployment's `component` becomes: the registered file, or the inline spec."""
    if asset.source.file is not None and Path(asset.source.file).is_file():
        return Path(asset.source.file)
    return asset.spec.model_dump(mode="json", exclude_none=True)


def resolve_documents(documents: Iterable[Document], registry: Registry) -> Resolved:
    """Replace each deployment's `azureml:` model, environment and (pipeline deployments) component
    references by the registered specs."""
    result = Resolved([], [], [])
    for document in documents:
        spec, failed = document.spec, []
        updates: dict[str, Any] = {}
        component = getattr(spec, "component", None)
        if isinstance(spec, PipelineComponentBatchDeploymentSpec) and isinstance(component, str):
            try:
                asset = registered_component(registry, component)
                if not isinstance(asset.spec, PipelineComponentSpec):
                    raise AssetLookupError(
                        f"{component} is a command component; a pipeline deployment runs a pipeline "
                        "component (type: pipeline)"
                    )
                updates["component"] = _component_in_place(asset)
            except AssetLookupError as error:
                result.problems.append(document.source.problem(("component",), str(error)))
                failed.append("component")
        for field_name, kind in _REFERENCING_FIELDS:
            value = getattr(spec, field_name, None)
            reference_text = getattr(value, "reference", None)
            if _kind_of(spec) in ("model", "environment", "data") or not isinstance(reference_text, str):
                continue
            try:
                reference = parse_reference(reference_text, kind)
                if reference is None:
                    continue  # a shared registry or a cloud URI: the target check decides
                updates[field_name] = registry.resolve(kind, reference).for_deployment()
            except (AssetLookupError, ValueError) as error:
                result.problems.append(document.source.problem((field_name,), str(error)))
                failed.append(field_name)
        if updates:
            document = Document(spec.model_copy(update=updates), document.source)
        result.documents.append(document)
        result.unresolved += [(document, field_name) for field_name in failed]
    return result
