"""Stack config (YAML file names, or the same structure inline) -> specs grouped by endpoint."""

from __future__ import annotations

import os
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from components.asset_registry import build_registry, resolve_documents
from components.azureml_yaml import (
    FAMILY_KEYS,
    KINDS,
    TARGETS,
    Document,
    Family,
    Loaded,
    Unloaded,
    check_documents,
    load_all,
    load_one,
    spec_from_mapping,
    unloaded_from,
)
from components.errors import Loc, Problem, Source, SpecError, closest, ordered, show
from components.instance_types import apply_instance_types, parse_instance_types
from components.pipeline_loading import check_pipeline_deployments
from components.specs import (
    AmlComputeSpec,
    BatchDeploymentSpec,
    BatchEndpointSpec,
    ModelBatchDeploymentSpec,
    OnlineDeploymentSpec,
    OnlineEndpointSpec,
    PipelineComponentBatchDeploymentSpec,
)
from components.specs.fields import path_kind

CONFIG_KEYS: Mapping[str, Family | None] = MappingProxyType(
    {
        "endpoints": "endpoint",
        "deployments": "deployment",
        "computes": "compute",
        # Assets to register (as `az ml <kind> create -f`), referred to as azureml:<name>:<version>.
        "models": "model",
        "environments": "environment",
        "data": "data",
        "components": "component",
        "files": None,  # any kind, told by `$schema` (components only under `components`)
    }
)
STACK_CONFIG = "stack config"


@dataclass(frozen=True)
class OnlineEndpointGroup:
    """An online endpoint with its deployments, in the order they were given."""

    endpoint: OnlineEndpointSpec
    deployments: tuple[OnlineDeploymentSpec, ...] = ()

    def deployment(self, name: str) -> OnlineDeploymentSpec:
        return next(d for d in self.deployments if d.name == name)


@dataclass(frozen=True)
class BatchEndpointGroup:
    """A batch endpoint with its deployments, in the order they were given."""

    endpoint: BatchEndpointSpec
    deployments: tuple[BatchDeploymentSpec, ...] = ()

    def deployment(self, name: str) -> BatchDeploymentSpec:
        return next(d for d in self.deployments if d.name == name)


@dataclass(frozen=True)
class StackSpec:
    """Everything a stack serves. `documents` keeps where each spec came from (not part of equality)."""

    online: tuple[OnlineEndpointGroup, ...] = ()
    batch: tuple[BatchEndpointGroup, ...] = ()
    computes: tuple[AmlComputeSpec, ...] = ()
    documents: tuple[Document, ...] = field(default=(), compare=False, repr=False)

    def online_endpoint(self, name: str) -> OnlineEndpointGroup:
        return next(group for group in self.online if group.endpoint.name == name)

    def batch_endpoint(self, name: str) -> BatchEndpointGroup:
        return next(group for group in self.batch if group.endpoint.name == name)

    def compute(self, name: str) -> AmlComputeSpec:
        return next(compute for compute in self.computes if compute.name == name)


# ---------------------------------------------------------------- reading entries


def _family_problem(document: Document, family: Family | None) -> list[Problem]:
    kind_family = KINDS[document.kind][2]
    if family is None or family == kind_family:
        return []
    message = f"this is a {document.kind}; list it under {FAMILY_KEYS[kind_family]}"
    return [document.source.problem((), message)]


def _from_path(
    entry: str,
    base_dir: Path,
    overrides: Mapping[str, Any],
    check_paths: bool,
    source: Source,
    loc: Loc,
    family: Family | None = None,
) -> Loaded:
    path = Path(os.path.normpath(base_dir / entry))
    try:
        found = path_kind(path)
    except ValueError as error:
        found, message = None, str(error)
    else:
        message = f"no such file: {path} (paths are relative to {base_dir})"
    if found == "folder" and not overrides:
        loaded = load_all([path], check_paths=check_paths, family=family)
        if not loaded.files:
            loaded.problems.append(source.problem(loc, f"no YAML files with `$schema` in folder {path}"))
        return loaded
    if found == "folder":
        message = f"{path} is a folder; an entry with overrides names one YAML file"
    if found == "other":
        message = f"{path} is neither a file nor a folder"
    if found != "file":
        # Nothing is known about what the file would have held: cross-checks keep quiet about it.
        unknown = unloaded_from(None, None, overrides)
        return Loaded(problems=[source.problem(loc, message)], unloaded=[unknown])
    return load_one(path, overrides=overrides, check_paths=check_paths, entry=source, family=family)


def _entry(entry: Any, source: Source, family: Family | None, base_dir: Path, check_paths: bool) -> Loaded:
    if isinstance(entry, str):
        return _from_path(entry, base_dir, {}, check_paths, source, (), family)
    if isinstance(entry, Mapping) and "file" in entry:
        # `{file: blue.yml, endpoint_name: other}`: the file, with keys replaced like the az CLI's --set.
        overrides = {key: value for key, value in entry.items() if key != "file"}
        if not isinstance(entry["file"], str):
            problem = source.problem(("file",), f"must be a path (got {show(entry['file'])})")
            return Loaded(problems=[problem], unloaded=[unloaded_from(None, None, overrides)])
        return _from_path(entry["file"], base_dir, overrides, check_paths, source, ("file",), family)
    if isinstance(entry, Mapping):
        try:
            spec = spec_from_mapping(
                entry, source=source, base_dir=base_dir, check_paths=check_paths, family=family
            )
        except SpecError as error:
            return Loaded(problems=list(error.problems), unloaded=[unloaded_from(entry, None)])
        return Loaded(documents=[Document(spec, source)])
    problem = source.problem((), f"must be a YAML file path or an inline spec (got {show(entry)})")
    return Loaded(problems=[problem], unloaded=[unloaded_from(None, None)])


def read_all(config: Mapping[str, Any] | None, base_dir: Path | str, *, check_paths: bool = True) -> Loaded:
    """Load every entry of the stack config: specs, every problem, and what failed to load."""
    base_dir = Path(base_dir).absolute()
    loaded = Loaded(files=[STACK_CONFIG])
    if config is None:
        return loaded
    if not isinstance(config, Mapping):
        loaded.problems.append(
            Problem(f"must be a mapping of keys to values (got {show(config)})", file=STACK_CONFIG)
        )
        return loaded
    for key, entries in config.items():
        if key not in CONFIG_KEYS:
            hint = closest(str(key), CONFIG_KEYS)
            did_you_mean = f" (did you mean {hint!r}?)" if hint else ""
            message = f"unknown key{did_you_mean}; allowed keys: {', '.join(CONFIG_KEYS)}"
            loaded.problems.append(Problem(message, str(key), STACK_CONFIG))
            # Whatever it lists was meant to be loaded: cross-checks keep quiet about all of it.
            loaded.unloaded.append(Unloaded(STACK_CONFIG))
            continue
        if entries is None:
            continue
        for index, entry in enumerate(entries if isinstance(entries, list) else [entries]):
            source = Source(STACK_CONFIG, root=(key, index) if isinstance(entries, list) else (key,))
            found = _entry(entry, source, CONFIG_KEYS[key], base_dir, check_paths)
            for document in found.documents:
                found.problems += _family_problem(document, CONFIG_KEYS[key])
            loaded.extend(found)
    return loaded


def read_config(
    config: Mapping[str, Any] | None, base_dir: Path | str, *, check_paths: bool = True
) -> tuple[list[Document], list[Problem]]:
    """Load every entry of the stack config; problems of all entries are collected, not raised."""
    loaded = read_all(config, base_dir, check_paths=check_paths)
    return loaded.documents, ordered(loaded.problems, loaded.files)


# ---------------------------------------------------------------- grouping and cross-checks


def _may_be_defined(unloaded: Iterable[Unloaded], name: str, endpoint_name: str | None = None) -> bool:
    return any(item.may_define(name, endpoint_name) for item in unloaded)


def _duplicates(items: Iterable[tuple[Hashable, str, Document]], what: str) -> list[Problem]:
    seen: dict[Hashable, Document] = {}
    problems: list[Problem] = []
    for key, name, document in items:
        if key in seen:
            first = seen[key].source
            line = first.line_of(())
            where = f"{first.file}:{line}" if first.file and line else (first.file or "")
            message = f"another {what} is named {name!r}" + (f" (first in {where})" if where else "")
            problems.append(document.source.problem(("name",), message))
        seen.setdefault(key, document)
    return problems


def _orphans(
    deployments: Iterable[tuple[str, Document]], endpoints: list[str], kind: str, unloaded: list[Unloaded]
) -> list[Problem]:
    known = ", ".join(endpoints) or "none"
    return [
        document.source.problem(
            ("endpoint_name",), f"no {kind} endpoint named {name!r} in this stack ({kind} endpoints: {known})"
        )
        for name, document in deployments
        if name not in endpoints and not _may_be_defined(unloaded, name)
    ]


def _unknown_deployments(
    document: Document,
    endpoint: str,
    field_path: tuple[str, ...],
    names: Iterable[str],
    known: list[str],
    unloaded: list[Unloaded],
) -> list[Problem]:
    listing = ", ".join(known) or "none"
    return [
        document.source.problem(
            (*field_path, name),
            f"no deployment {name!r} under endpoint {endpoint!r} (deployments: {listing})",
        )
        for name in names
        if name not in known and not _may_be_defined(unloaded, name, endpoint)
    ]


@dataclass(frozen=True)
class _Parts:
    """The documents of a stack sorted by kind, each with its document."""

    online: list[tuple[OnlineEndpointSpec, Document]]
    batch: list[tuple[BatchEndpointSpec, Document]]
    computes: list[tuple[AmlComputeSpec, Document]]
    online_deps: list[tuple[OnlineDeploymentSpec, Document]]
    batch_deps: list[tuple[BatchDeploymentSpec, Document]]

    @classmethod
    def of(cls, documents: Iterable[Document]) -> _Parts:
        documents = tuple(documents)
        return cls(
            online=[(d.spec, d) for d in documents if isinstance(d.spec, OnlineEndpointSpec)],
            batch=[(d.spec, d) for d in documents if isinstance(d.spec, BatchEndpointSpec)],
            computes=[(d.spec, d) for d in documents if isinstance(d.spec, AmlComputeSpec)],
            online_deps=[(d.spec, d) for d in documents if isinstance(d.spec, OnlineDeploymentSpec)],
            batch_deps=[
                (d.spec, d)
                for d in documents
                if isinstance(d.spec, ModelBatchDeploymentSpec | PipelineComponentBatchDeploymentSpec)
            ],
        )


def _cross_problems(documents: Iterable[Document], unloaded: list[Unloaded]) -> list[Problem]:
    """Duplicate names, deployments without their endpoint, traffic or defaults naming no deployment.

    Names that a document which failed to load may define are not reported missing (no echoes).
    """
    parts = _Parts.of(documents)
    online, batch, online_deps, batch_deps = parts.online, parts.batch, parts.online_deps, parts.batch_deps
    problems = _duplicates(((s.name, s.name, d) for s, d in online), "online endpoint")
    problems += _duplicates(((s.name, s.name, d) for s, d in batch), "batch endpoint")
    problems += _duplicates(((s.name, s.name, d) for s, d in parts.computes), "compute cluster")
    problems += _duplicates((((s.endpoint_name, s.name), s.name, d) for s, d in online_deps), "deployment")
    problems += _duplicates((((s.endpoint_name, s.name), s.name, d) for s, d in batch_deps), "deployment")
    online_names, batch_names = [s.name for s, _ in online], [s.name for s, _ in batch]
    problems += _orphans(((s.endpoint_name, d) for s, d in online_deps), online_names, "online", unloaded)
    problems += _orphans(((s.endpoint_name, d) for s, d in batch_deps), batch_names, "batch", unloaded)
    for endpoint, document in online:
        known = [s.name for s, _ in online_deps if s.endpoint_name == endpoint.name]
        for field_name in ("traffic", "mirror_traffic"):
            weights = getattr(endpoint, field_name)
            problems += _unknown_deployments(document, endpoint.name, (field_name,), weights, known, unloaded)
    for batch_endpoint, document in batch:
        known = [s.name for s, _ in batch_deps if s.endpoint_name == batch_endpoint.name]
        default = batch_endpoint.defaults.deployment_name
        if default is not None and default not in known:
            if _may_be_defined(unloaded, default, batch_endpoint.name):
                continue
            message = f"no deployment {default!r} under endpoint {batch_endpoint.name!r}"
            message += f" (deployments: {', '.join(known) or 'none'})"
            problems.append(document.source.problem(("defaults", "deployment_name"), message))
    return problems


def _group(documents: Iterable[Document]) -> StackSpec:
    documents = tuple(documents)
    parts = _Parts.of(documents)
    return StackSpec(
        online=tuple(
            OnlineEndpointGroup(e, tuple(s for s, _ in parts.online_deps if s.endpoint_name == e.name))
            for e, _ in parts.online
        ),
        batch=tuple(
            BatchEndpointGroup(e, tuple(s for s, _ in parts.batch_deps if s.endpoint_name == e.name))
            for e, _ in parts.batch
        ),
        computes=tuple(s for s, _ in parts.computes),
        documents=documents,
    )


def build_stack(documents: Iterable[Document]) -> StackSpec:
    """Group deployments under their endpoints and cross-check names; SpecError lists every problem."""
    documents = tuple(documents)
    problems = _cross_problems(documents, [])
    if problems:
        raise SpecError(problems)
    return _group(documents)


def _cluster_problems(stack: StackSpec, target: str, unloaded: list[Unloaded]) -> list[Problem]:
    # Azure may use a cluster of the workspace; other targets only have the clusters of the stack.
    if target == "azure" or target not in TARGETS:
        return []
    clusters = [compute.name for compute in stack.computes]
    problems: list[Problem] = []
    for document in stack.documents:
        spec = document.spec
        if (
            isinstance(spec, ModelBatchDeploymentSpec)
            and spec.compute_name not in clusters
            and not _may_be_defined(unloaded, spec.compute_name)
        ):
            message = (
                f"no compute cluster {spec.compute_name!r} in this stack; the {target} target runs batch "
                f"jobs on the clusters listed under computes (clusters: {', '.join(clusters) or 'none'})"
            )
            problems.append(document.source.problem(("compute",), message))
    return problems


def check_target(stack: StackSpec, target: str, *, check_paths: bool = True) -> None:
    """Refuse what the target cannot deploy: registered assets off Azure, batch jobs on undefined
    clusters, environments that cannot become images (see azureml_yaml.check_documents)."""
    problems = check_documents(stack.documents, target, check_paths=check_paths)
    problems += _cluster_problems(stack, target, [])
    if problems:
        raise SpecError(ordered(problems, [document.source.file for document in stack.documents]))


def check_loaded(
    loaded: Loaded,
    *,
    target: str | None = None,
    as_stack: bool = True,
    check_paths: bool = True,
    instance_types: Any = None,
) -> tuple[StackSpec, list[Problem]]:
    """Every problem at once: each document's own, the cross-file ones (`as_stack`), the target's and
    the environments'; by file (in load order), then line.

    Checks run on the documents that did load, and say nothing about names a document that failed
    to load may define (its own problems already explain those).
    """
    problems = list(loaded.problems)
    documents, unresolved = loaded.documents, []
    if target != "azure":  # Azure resolves references in its own workspace
        registry, registry_problems = build_registry(documents)
        resolved = resolve_documents(documents, registry)
        documents, unresolved = resolved.documents, resolved.unresolved
        problems += registry_problems + resolved.problems
        problems += check_pipeline_deployments(documents, registry, check_paths=check_paths)
        # Kubernetes deployments take their instance type's resources (mlendpoints:instance_types).
        types, type_problems = parse_instance_types(instance_types)
        documents = apply_instance_types(documents, types)
        problems += type_problems
    stack = _group(documents)
    if as_stack:
        problems += _cross_problems(stack.documents, loaded.unloaded)
    problems += check_documents(stack.documents, target, check_paths=check_paths, already_reported=unresolved)
    if as_stack and target is not None:
        problems += _cluster_problems(stack, target, loaded.unloaded)
    return stack, ordered(problems, loaded.files)


def load_stack_config(
    config: Mapping[str, Any] | None,
    base_dir: Path | str,
    *,
    target: str | None = None,
    check_paths: bool = True,
    instance_types: Any = None,
) -> StackSpec:
    """The stack's specs from its config: `endpoints`, `deployments`, `computes` (YAML paths relative to
    `base_dir`, `{file: ..., <key>: override}`, or inline specs) and `files` (paths or folders, any kind).

    With `target` (local, kubernetes, azure), also refuse what that target cannot deploy. SpecError
    lists every problem of every entry, cross-check and target check at once.
    """
    loaded = read_all(config, base_dir, check_paths=check_paths)
    stack, problems = check_loaded(
        loaded, target=target, as_stack=True, check_paths=check_paths, instance_types=instance_types
    )
    if problems:
        raise SpecError(problems)
    return stack
