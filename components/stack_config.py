"""Stack config (YAML file names, or the same structure inline) -> specs grouped by endpoint."""

from __future__ import annotations

import os
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from components.azureml_yaml import (
    KINDS,
    Document,
    Family,
    load_yaml_document,
    load_yaml_files,
    require_local_assets,
    spec_from_mapping,
    yaml_files,
)
from components.errors import Problem, Source, SpecError, closest, show
from components.specs import (
    AmlComputeSpec,
    BatchDeploymentSpec,
    BatchEndpointSpec,
    ModelBatchDeploymentSpec,
    OnlineDeploymentSpec,
    OnlineEndpointSpec,
    PipelineComponentBatchDeploymentSpec,
)

CONFIG_KEYS: Mapping[str, Family | None] = MappingProxyType(
    {
        "endpoints": "endpoint",
        "deployments": "deployment",
        "computes": "compute",
        "files": None,  # any kind, told by `$schema`
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
    return [document.source.problem((), f"this is a {document.kind}; list it under {kind_family}s")]


def _from_path(entry: str, base_dir: Path, overrides: Mapping[str, Any], check_paths: bool) -> list[Document]:
    path = Path(os.path.normpath(base_dir / entry))
    if path.is_dir() and not overrides:
        if not yaml_files([path]):
            raise SpecError.single(f"no YAML files with `$schema` in folder {path}", file=STACK_CONFIG)
        return load_yaml_files([path], check_paths=check_paths)
    if not path.is_file():
        raise SpecError.single(f"no such file: {path} (paths are relative to {base_dir})", file=STACK_CONFIG)
    return [load_yaml_document(path, overrides=overrides, check_paths=check_paths)]


def _entry(
    entry: Any, source: Source, family: Family | None, base_dir: Path, check_paths: bool
) -> list[Document]:
    if isinstance(entry, str):
        return _from_path(entry, base_dir, {}, check_paths)
    if isinstance(entry, Mapping) and "file" in entry:
        # `{file: blue.yml, endpoint_name: other}`: the file, with keys replaced like the az CLI's --set.
        if not isinstance(entry["file"], str):
            raise SpecError([source.problem(("file",), f"must be a path (got {show(entry['file'])})")])
        overrides = {key: value for key, value in entry.items() if key != "file"}
        return _from_path(entry["file"], base_dir, overrides, check_paths)
    if isinstance(entry, Mapping):
        spec = spec_from_mapping(
            entry, source=source, base_dir=base_dir, check_paths=check_paths, family=family
        )
        return [Document(spec, source)]
    raise SpecError([source.problem((), f"must be a YAML file path or an inline spec (got {show(entry)})")])


def read_config(
    config: Mapping[str, Any] | None, base_dir: Path | str, *, check_paths: bool = True
) -> tuple[list[Document], list[Problem]]:
    """Load every entry of the stack config; problems of all entries are collected, not raised."""
    base_dir = Path(base_dir).absolute()
    if config is None:
        return [], []
    if not isinstance(config, Mapping):
        return [], [Problem(f"must be a mapping of keys to values (got {show(config)})", file=STACK_CONFIG)]
    documents: list[Document] = []
    problems: list[Problem] = []
    for key, entries in config.items():
        if key not in CONFIG_KEYS:
            hint = closest(str(key), CONFIG_KEYS)
            did_you_mean = f" (did you mean {hint!r}?)" if hint else ""
            message = f"unknown key{did_you_mean}; allowed keys: {', '.join(CONFIG_KEYS)}"
            problems.append(Problem(message, str(key), STACK_CONFIG))
            continue
        if entries is None:
            continue
        for index, entry in enumerate(entries if isinstance(entries, list) else [entries]):
            source = Source(STACK_CONFIG, root=(key, index) if isinstance(entries, list) else (key,))
            try:
                loaded = _entry(entry, source, CONFIG_KEYS[key], base_dir, check_paths)
            except SpecError as error:
                problems.extend(error.problems)
                continue
            for document in loaded:
                problems += _family_problem(document, CONFIG_KEYS[key])
            documents += loaded
    return documents, problems


# ---------------------------------------------------------------- grouping and cross-checks


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


def _orphans(deployments: Iterable[tuple[str, Document]], endpoints: list[str], kind: str) -> list[Problem]:
    known = ", ".join(endpoints) or "none"
    return [
        document.source.problem(
            ("endpoint_name",), f"no {kind} endpoint named {name!r} in this stack ({kind} endpoints: {known})"
        )
        for name, document in deployments
        if name not in endpoints
    ]


def _unknown_deployments(
    document: Document, endpoint: str, field_path: tuple[str, ...], names: Iterable[str], known: list[str]
) -> list[Problem]:
    listing = ", ".join(known) or "none"
    return [
        document.source.problem(
            (*field_path, name),
            f"no deployment {name!r} under endpoint {endpoint!r} (deployments: {listing})",
        )
        for name in names
        if name not in known
    ]


def build_stack(documents: Iterable[Document]) -> StackSpec:
    """Group deployments under their endpoints and cross-check names; SpecError lists every problem."""
    documents = tuple(documents)
    online = [(d.spec, d) for d in documents if isinstance(d.spec, OnlineEndpointSpec)]
    batch = [(d.spec, d) for d in documents if isinstance(d.spec, BatchEndpointSpec)]
    computes = [(d.spec, d) for d in documents if isinstance(d.spec, AmlComputeSpec)]
    online_deps = [(d.spec, d) for d in documents if isinstance(d.spec, OnlineDeploymentSpec)]
    batch_deps: list[tuple[BatchDeploymentSpec, Document]] = [
        (d.spec, d)
        for d in documents
        if isinstance(d.spec, ModelBatchDeploymentSpec | PipelineComponentBatchDeploymentSpec)
    ]
    problems = _duplicates(((s.name, s.name, d) for s, d in online), "online endpoint")
    problems += _duplicates(((s.name, s.name, d) for s, d in batch), "batch endpoint")
    problems += _duplicates(((s.name, s.name, d) for s, d in computes), "compute cluster")
    problems += _duplicates((((s.endpoint_name, s.name), s.name, d) for s, d in online_deps), "deployment")
    problems += _duplicates((((s.endpoint_name, s.name), s.name, d) for s, d in batch_deps), "deployment")
    online_names, batch_names = [s.name for s, _ in online], [s.name for s, _ in batch]
    problems += _orphans(((s.endpoint_name, d) for s, d in online_deps), online_names, "online")
    problems += _orphans(((s.endpoint_name, d) for s, d in batch_deps), batch_names, "batch")
    for endpoint, document in online:
        known = [s.name for s, _ in online_deps if s.endpoint_name == endpoint.name]
        for field_name in ("traffic", "mirror_traffic"):
            weights = getattr(endpoint, field_name)
            problems += _unknown_deployments(document, endpoint.name, (field_name,), weights, known)
    for batch_endpoint, document in batch:
        known = [s.name for s, _ in batch_deps if s.endpoint_name == batch_endpoint.name]
        default = batch_endpoint.defaults.deployment_name
        if default is not None and default not in known:
            message = f"no deployment {default!r} under endpoint {batch_endpoint.name!r}"
            message += f" (deployments: {', '.join(known) or 'none'})"
            problems.append(document.source.problem(("defaults", "deployment_name"), message))
    if problems:
        raise SpecError(problems)
    return StackSpec(
        online=tuple(
            OnlineEndpointGroup(e, tuple(s for s, _ in online_deps if s.endpoint_name == e.name))
            for e, _ in online
        ),
        batch=tuple(
            BatchEndpointGroup(e, tuple(s for s, _ in batch_deps if s.endpoint_name == e.name))
            for e, _ in batch
        ),
        computes=tuple(s for s, _ in computes),
        documents=documents,
    )


def check_target(stack: StackSpec, target: str) -> None:
    """Refuse what the target cannot deploy: registered assets off Azure, batch jobs on undefined clusters."""
    problems: list[Problem] = []
    try:
        require_local_assets(stack.documents, target)
    except SpecError as error:
        problems.extend(error.problems)
    if target != "azure" and not problems:
        clusters = [compute.name for compute in stack.computes]
        for document in stack.documents:
            spec = document.spec
            if isinstance(spec, ModelBatchDeploymentSpec) and spec.compute_name not in clusters:
                message = (
                    f"no compute cluster {spec.compute_name!r} in this stack; the {target} target runs batch "
                    f"jobs on the clusters listed under computes (clusters: {', '.join(clusters) or 'none'})"
                )
                problems.append(document.source.problem(("compute",), message))
    if problems:
        raise SpecError(problems)


def load_stack_config(
    config: Mapping[str, Any] | None,
    base_dir: Path | str,
    *,
    target: str | None = None,
    check_paths: bool = True,
) -> StackSpec:
    """The stack's specs from its config: `endpoints`, `deployments`, `computes` (YAML paths relative to
    `base_dir`, `{file: ..., <key>: override}`, or inline specs) and `files` (paths or folders, any kind).

    With `target` (local, kubernetes, azure), also refuse what that target cannot deploy.
    """
    documents, problems = read_config(config, base_dir, check_paths=check_paths)
    if problems:
        # Cross-checks would only add echoes (deployments whose endpoint file failed to load).
        raise SpecError(problems)
    stack = build_stack(documents)
    if target is not None:
        check_target(stack, target)
    return stack
