"""Load Azure ML CLI v2 YAML files (endpoints, deployments, compute) into specs, keeping file and line."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import yaml

from components import environments, mlflow_models, skus
from components.errors import Loc, OverlaySource, Problem, Source, SpecError, format_loc, show
from components.overrides import OverrideError, apply_overrides, override_paths
from components.specs import (
    AmlComputeSpec,
    AnySpec,
    BatchEndpointSpec,
    EnvironmentSpec,
    ModelBatchDeploymentSpec,
    OnlineDeploymentSpec,
    OnlineEndpointSpec,
    PipelineComponentBatchDeploymentSpec,
    Spec,
    parse_spec,
)
from components.specs.assets import DataAssetSpec, EnvironmentAssetSpec, ModelAssetSpec
from components.specs.fields import Found, path_kind
from components.specs.pipelines import CommandComponentSpec, PipelineComponentSpec

Family = Literal["endpoint", "deployment", "compute", "model", "environment", "data", "component"]
# The stack config key that lists each family.
FAMILY_KEYS: Mapping[str, str] = MappingProxyType(
    {"endpoint": "endpoints", "deployment": "deployments", "compute": "computes", "model": "models"}
    | {"environment": "environments", "data": "data", "component": "components"}
)
# Families of assets to register (models, environments, data, components).
ASSET_FAMILIES: frozenset[str] = frozenset({"model", "environment", "data", "component"})
TARGETS = ("local", "kubernetes", "azure")
# What the kubernetes target cannot deploy yet (validate and the stack program both refuse it here).
BATCH_OFF_LOCAL = "batch endpoints run on the local target only for now; deploy them in a local stack"
SCHEMA_URL = "https://azuremlschemas.azureedge.net/latest/{kind}.schema.json"

# Kind (as in the `$schema` file name) -> spec class, fields the kind fixes, family.
KINDS: Mapping[str, tuple[type[Spec], Mapping[str, str], Family]] = MappingProxyType(
    {
        "managedOnlineEndpoint": (OnlineEndpointSpec, {"kind": "managed"}, "endpoint"),
        "kubernetesOnlineEndpoint": (OnlineEndpointSpec, {"kind": "kubernetes"}, "endpoint"),
        "managedOnlineDeployment": (OnlineDeploymentSpec, {"kind": "managed"}, "deployment"),
        "kubernetesOnlineDeployment": (OnlineDeploymentSpec, {"kind": "kubernetes"}, "deployment"),
        "batchEndpoint": (BatchEndpointSpec, {}, "endpoint"),
        "modelBatchDeployment": (ModelBatchDeploymentSpec, {}, "deployment"),
        "pipelineComponentBatchDeployment": (PipelineComponentBatchDeploymentSpec, {}, "deployment"),
        "amlCompute": (AmlComputeSpec, {}, "compute"),
        # Assets to register, as `az ml model|environment|data create -f` reads them.
        "model": (ModelAssetSpec, {}, "model"),
        "environment": (EnvironmentAssetSpec, {}, "environment"),
        "data": (DataAssetSpec, {}, "data"),
        "commandComponent": (CommandComponentSpec, {}, "component"),
        "pipelineComponent": (PipelineComponentSpec, {}, "component"),
    }
)
# Components are loaded from folders only under `components:`: elsewhere (a folder of deployments
# beside their pipeline's components) they are the deployments' business, not documents of the stack.
_COMPONENT_KINDS = frozenset({"commandcomponent", "pipelinecomponent"})
# `$schema` names that cover several kinds (older schemas, `http://azureml/sdk-2-0/...`): decided by content.
_GENERIC = frozenset({"onlineendpoint", "onlinedeployment", "batchdeployment"})
_ONLINE_DEPLOYMENT_KEYS = frozenset(
    {
        "instance_type",
        "instance_count",
        "request_settings",
        "liveness_probe",
        "readiness_probe",
        "scale_settings",
        "app_insights_enabled",
        "egress_public_network_access",
        "data_collector",
        "model_mount_path",
    }
)
_BATCH_DEPLOYMENT_KEYS = frozenset(
    {"compute", "settings", "component", "mini_batch_size", "max_concurrency_per_instance", "output_action"}
    | {"output_file_name", "retry_settings", "error_threshold", "logging_level"}
)


@dataclass(frozen=True)
class Document:
    """A loaded spec and where it came from (not part of equality: the same spec may come from anywhere)."""

    spec: AnySpec
    source: Source = field(default_factory=Source, compare=False)

    @property
    def kind(self) -> str:
        return kind_of(self.spec)


def kind_of(spec: AnySpec) -> str:
    """The Azure ML kind of a spec, e.g. `managedOnlineDeployment`."""
    if isinstance(spec, OnlineEndpointSpec):
        return f"{spec.kind}OnlineEndpoint"
    if isinstance(spec, OnlineDeploymentSpec):
        return f"{spec.kind}OnlineDeployment"
    if isinstance(spec, BatchEndpointSpec):
        return "batchEndpoint"
    if isinstance(spec, ModelBatchDeploymentSpec):
        return "modelBatchDeployment"
    if isinstance(spec, PipelineComponentBatchDeploymentSpec):
        return "pipelineComponentBatchDeployment"
    if isinstance(spec, ModelAssetSpec):
        return "model"
    if isinstance(spec, EnvironmentAssetSpec):
        return "environment"
    if isinstance(spec, DataAssetSpec):
        return "data"
    if isinstance(spec, CommandComponentSpec):
        return "commandComponent"
    if isinstance(spec, PipelineComponentSpec):
        return "pipelineComponent"
    return "amlCompute"


def schema_name(value: str) -> str:
    """`https://.../latest/managedOnlineDeployment.schema.json` -> `managedonlinedeployment` (lower case)."""
    name = value.strip().rstrip("/").rsplit("/", 1)[-1].lower()
    for suffix in (".json", ".schema", ".yaml", ".yml"):
        name = name.removesuffix(suffix)
    return name


# ---------------------------------------------------------------- reading YAML


def _record_lines(
    node: yaml.Node, loc: Loc, lines: dict[Loc, int], seen: set[int], source: Source
) -> list[Problem]:
    """Line numbers (1-based) of every key and list item, by path; duplicate keys are problems."""
    if id(node) in seen:  # aliases can make the node graph cyclic (and exponentially wide)
        return []
    seen.add(id(node))
    problems: list[Problem] = []
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key, line = str(key_node.value), key_node.start_mark.line + 1
            if key in first and key != "<<":
                message = (
                    f"duplicate key {key!r} (first at line {first[key]}); YAML would silently keep the last"
                )
                problems.append(Problem(message, format_loc((*source.root, *loc, key)), source.file, line))
            first.setdefault(key, line)
            lines.setdefault((*loc, key), line)
            problems += _record_lines(value_node, (*loc, key), lines, seen, source)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines.setdefault((*loc, index), item.start_mark.line + 1)
            problems += _record_lines(item, (*loc, index), lines, seen, source)
    return problems


def read_yaml(text: str, file: str | None = None) -> tuple[Any, Source]:
    """Parse one YAML document; SpecError (with the line) on syntax errors or duplicate keys."""
    node: yaml.Node | None = None
    try:
        loader = yaml.SafeLoader(text)  # the reader already rejects control characters here
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        what = " ".join(part for part in (error.context, error.problem) if part) or str(error)
        raise SpecError.single(
            f"not valid YAML: {what}", file=file, line=mark.line + 1 if mark else None
        ) from None
    except (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError) as error:
        # PyYAML raises plain ValueError for impossible dates such as 2024-13-45.
        raise SpecError.single(f"not valid YAML: {error}", file=file) from None
    if node is None:
        raise SpecError.single("the file is empty", file=file)
    lines: dict[Loc, int] = {(): node.start_mark.line + 1}
    source = Source(file, lines)
    problems = _record_lines(node, (), lines, set(), source)
    if problems:
        raise SpecError(problems)
    return data, source


# ---------------------------------------------------------------- kinds


def _online_or_batch_deployment(data: Mapping[str, Any]) -> set[str]:
    online, batch = bool(_ONLINE_DEPLOYMENT_KEYS & data.keys()), bool(_BATCH_DEPLOYMENT_KEYS & data.keys())
    if data.get("type") in ("model", "pipeline"):
        online, batch = False, True
    resources = data.get("resources")
    if isinstance(resources, Mapping):
        online |= bool({"requests", "limits"} & resources.keys())
        batch |= "instance_count" in resources
    if online and not batch:
        scale = data.get("scale_settings")
        wants_k8s = isinstance(resources, Mapping) or (
            isinstance(scale, Mapping) and scale.get("type") == "target_utilization"
        )
        return {"kubernetesOnlineDeployment" if wants_k8s else "managedOnlineDeployment"}
    if batch and not online:
        pipeline = data.get("type") == "pipeline" or "component" in data
        return {"pipelineComponentBatchDeployment" if pipeline else "modelBatchDeployment"}
    return {"managedOnlineDeployment", "modelBatchDeployment", "pipelineComponentBatchDeployment"}


def _online_or_batch_endpoint(data: Mapping[str, Any]) -> set[str]:
    online = bool({"traffic", "mirror_traffic", "public_network_access", "compute"} & data.keys())
    online |= data.get("auth_mode") in ("key", "aml_token")
    batch = "defaults" in data
    if online and not batch:
        return {"kubernetesOnlineEndpoint" if "compute" in data else "managedOnlineEndpoint"}
    if batch and not online:
        return {"batchEndpoint"}
    return {"managedOnlineEndpoint", "batchEndpoint"}


def guess_kinds(data: Mapping[str, Any], family: Family | None = None) -> set[str]:
    """Kinds a document without `$schema` could be, from its keys; one kind means it is clear."""
    if family == "component":
        pipeline = data.get("type") == "pipeline" or "jobs" in data
        return {"pipelineComponent" if pipeline else "commandComponent"}
    if family in ASSET_FAMILIES:
        return {family}
    if family == "compute" or (family is None and ("size" in data or data.get("type") == "amlcompute")):
        return {"amlCompute"}
    if family == "deployment" or (family is None and "endpoint_name" in data):
        return _online_or_batch_deployment(data)
    return _online_or_batch_endpoint(data)


def _generic_kind(name: str, data: Mapping[str, Any]) -> set[str]:
    if name == "onlineendpoint":
        return {"kubernetesOnlineEndpoint" if "compute" in data else "managedOnlineEndpoint"}
    if name == "batchdeployment":
        pipeline = data.get("type") == "pipeline" or "component" in data
        return {"pipelineComponentBatchDeployment" if pipeline else "modelBatchDeployment"}
    guessed = _online_or_batch_deployment(data)
    return guessed if guessed == {"kubernetesOnlineDeployment"} else {"managedOnlineDeployment"}


def _kind(data: Mapping[str, Any], source: Source, family: Family | None) -> str:
    by_lower = {kind.lower(): kind for kind in KINDS}
    schema = data.get("$schema")
    if schema is not None and not isinstance(schema, str):
        raise SpecError([source.problem(("$schema",), f"must be a schema URL (got {show(schema)})")])
    name = schema_name(schema) if schema else None
    if name in by_lower:
        return by_lower[name]
    if name is not None and name not in _GENERIC:
        supported = ", ".join(KINDS)
        raise SpecError(
            [source.problem(("$schema",), f"unsupported kind {schema!r}; supported: {supported}")]
        )
    candidates = _generic_kind(name, data) if name else guess_kinds(data, family)
    if len(candidates) == 1:
        return candidates.pop()
    options = " or ".join(f"`$schema: {SCHEMA_URL.format(kind=kind)}`" for kind in sorted(candidates))
    raise SpecError([source.problem((), f"cannot tell what kind of document this is; add {options}")])


def spec_from_mapping(
    data: Any,
    *,
    source: Source | None = None,
    base_dir: Path | str | None = None,
    check_paths: bool = True,
    overrides: Mapping[str, Any] | None = None,
    family: Family | None = None,
) -> AnySpec:
    """Turn one parsed document into its spec: the kind from `$schema` (else from its keys).

    `overrides` replace keys (dotted paths, components/overrides.py), like the az CLI's `--set`.
    """
    source = source or Source()
    if not isinstance(data, Mapping):
        raise SpecError([source.problem((), f"must be a mapping of keys to values (got {show(data)})")])
    try:
        merged = apply_overrides(data, overrides or {})
    except OverrideError as error:
        entry = source.entry if isinstance(source, OverlaySource) else source
        raise SpecError([entry.problem((), str(error))]) from None
    kind = _kind(merged, source, family)
    model, fixed, kind_family = KINDS[kind]
    if family is not None and family != kind_family:
        raise SpecError([source.problem((), f"this is a {kind}; list it under {FAMILY_KEYS[kind_family]}")])
    for key, value in fixed.items():
        given = merged.get(key, value)
        if not isinstance(given, str) or given.lower() != value:
            raise SpecError([source.problem((key,), f"must be {value!r} for a {kind} (got {show(given)})")])
        merged[key] = value
    spec = parse_spec(model, merged, source=source, base_dir=base_dir, check_paths=check_paths)
    return spec  # type: ignore[return-value]


# ---------------------------------------------------------------- files


def load_yaml_text(
    text: str,
    *,
    file: str | None = None,
    base_dir: Path | str | None = None,
    overrides: Mapping[str, Any] | None = None,
    check_paths: bool = True,
) -> AnySpec:
    """Load one YAML document given as text; relative paths resolve against `base_dir`."""
    data, source = read_yaml(text, file)
    return spec_from_mapping(
        data, source=source, base_dir=base_dir, check_paths=check_paths, overrides=overrides
    )


def read_text(path: Path) -> str:
    """A YAML file's text; SpecError naming the file when it cannot be read or is not UTF-8."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise SpecError.single(
            f"not a UTF-8 text file ({error.reason} at byte {error.start})", file=str(path)
        ) from None
    except (OSError, ValueError) as error:  # ValueError: a NUL character in the path
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise SpecError.single(f"cannot read: {reason}", file=str(path)) from None


def load_yaml_document(
    path: Path | str,
    *,
    overrides: Mapping[str, Any] | None = None,
    check_paths: bool = True,
    entry: Source | None = None,
    family: Family | None = None,
) -> Document:
    """Load one YAML file, resolving relative paths against its folder (as the az CLI does).

    With `entry` (the stack config entry that gave the overrides), problems of overridden keys name
    that entry instead of the file."""
    path = Path(path)
    data, source = read_yaml(read_text(path), str(path))
    if overrides and entry is not None:
        paths = tuple(override_paths(overrides))
        source = OverlaySource(source.file, source.lines, source.root, paths, entry)
    spec = spec_from_mapping(
        data, source=source, base_dir=path.parent, check_paths=check_paths, overrides=overrides, family=family
    )
    return Document(spec, source)


def load_yaml_file(
    path: Path | str, *, overrides: Mapping[str, Any] | None = None, check_paths: bool = True
) -> AnySpec:
    """Load one YAML file into its spec (see load_yaml_document)."""
    return load_yaml_document(path, overrides=overrides, check_paths=check_paths).spec


# Other Azure ML documents (components, jobs, assets) often sit beside ours; folder walks skip them.
_OTHER_KINDS = re.compile(
    r".*(component|job|model|environment|data|schedule|workspace|registry|datastore|compute)"
)


def _is_spec_document(path: Path, family: Family | None = None) -> bool:
    # Folders also hold conda files and sample data: only documents with `$schema` are specs.
    try:
        # Decoded leniently: a conda file in Latin-1 is still no spec (its deployment reports it).
        text = path.read_bytes().decode("utf-8-sig", "replace")
    except OSError:
        return True  # let the real load report it
    try:
        data, _ = read_yaml(text, str(path))
    except SpecError:
        # A spec with a syntax error still says `$schema`; a broken conda file is its deployment's problem.
        return "$schema" in text
    if not isinstance(data, Mapping) or not isinstance(data.get("$schema"), str):
        return False
    name = schema_name(data["$schema"])
    if name in _COMPONENT_KINDS:
        return family == "component"
    ours = name in {kind.lower() for kind in KINDS} or name in _GENERIC
    return ours or not _OTHER_KINDS.fullmatch(name)


def _kind_of_path(path: Path) -> Found | None:
    try:
        return path_kind(path)
    except ValueError:
        return None  # reported when the path is loaded


def yaml_files(paths: Iterable[Path | str], family: Family | None = None) -> list[Path]:
    """The given files, plus the spec YAML files (with a `$schema` of ours) found in the given folders
    (components only for the `component` family)."""
    found: list[Path] = []
    for item in map(Path, paths):
        if _kind_of_path(item) == "folder":
            candidates = sorted(
                p
                for p in item.rglob("*")
                if p.suffix in (".yml", ".yaml")
                and _kind_of_path(p) == "file"
                # hidden folders (.git, .venv) hold other tools' YAML, never ours
                and not any(part.startswith(".") for part in p.relative_to(item).parts)
            )
            found += [p for p in candidates if _is_spec_document(p, family)]
        else:
            found.append(item)
    return list(dict.fromkeys(found))


@dataclass(frozen=True)
class Unloaded:
    """A document that did not load, with the names it seems to give (None: cannot tell).

    Cross-file checks say nothing about names such a document may define: its own problems are
    reported already, and "no deployment 'blue'" would only echo them.
    """

    file: str | None
    name: str | None = None
    endpoint_name: str | None = None

    def may_define(self, name: str, endpoint_name: str | None = None) -> bool:
        """Could this document have been `name` (a deployment of `endpoint_name`, if given)?"""
        if self.name is not None and self.name != name:
            return False
        return endpoint_name is None or self.endpoint_name in (None, endpoint_name)


@dataclass
class Loaded:
    """The outcome of loading many documents: the specs, every problem, what failed, files in order."""

    documents: list[Document] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    unloaded: list[Unloaded] = field(default_factory=list)
    files: list[str | None] = field(default_factory=list)

    def extend(self, other: Loaded) -> None:
        self.documents += other.documents
        self.problems += other.problems
        self.unloaded += other.unloaded
        self.files += other.files


_TOP_LEVEL_NAME = re.compile(r"^(name|endpoint_name)[ \t]*:[ \t]*([\"']?)([^\s\"'#]+)\2[ \t]*(#.*)?$", re.M)


def unloaded_from(data: Any, file: str | None, overrides: Mapping[str, Any] | None = None) -> Unloaded:
    """What a document that failed to load would have named (from its data, else nothing known)."""
    merged = {**(data if isinstance(data, Mapping) else {}), **(overrides or {})}
    name, endpoint_name = merged.get("name"), merged.get("endpoint_name")
    return Unloaded(
        file,
        name if isinstance(name, str) else None,
        endpoint_name if isinstance(endpoint_name, str) else None,
    )


def _guess_unloaded(path: Path, overrides: Mapping[str, Any] | None) -> Unloaded:
    try:
        text = path.read_bytes().decode("utf-8", "replace")
    except (OSError, ValueError):
        return unloaded_from(None, str(path), overrides)
    try:
        data, _ = read_yaml(text, str(path))
    except SpecError:  # not YAML (or duplicate keys): top-level `name:` lines still tell
        data = {match.group(1): match.group(3) for match in _TOP_LEVEL_NAME.finditer(text)}
    return unloaded_from(data, str(path), overrides)


_NOT_A_FILE: Mapping[Found | None, str] = MappingProxyType(
    {
        None: "no such file or folder",
        "folder": "a folder, not a YAML file",
        "other": "neither a file nor a folder",
    }
)


def load_one(
    path: Path | str,
    *,
    overrides: Mapping[str, Any] | None = None,
    check_paths: bool = True,
    entry: Source | None = None,
    family: Family | None = None,
) -> Loaded:
    """Load one YAML file; its problems (and what it would have named) are collected, not raised."""
    path = Path(path)
    loaded = Loaded(files=[str(path)])
    try:
        found = path_kind(path)
        if found != "file":
            raise SpecError.single(_NOT_A_FILE[found], file=str(path))
        document = load_yaml_document(
            path, overrides=overrides, check_paths=check_paths, entry=entry, family=family
        )
        loaded.documents.append(document)
    except SpecError as error:
        loaded.problems += error.problems
        loaded.unloaded.append(_guess_unloaded(path, overrides))
    except ValueError as error:  # the OS refuses the path (too long, NUL character, no permission)
        loaded.problems.append(Problem(str(error), file=str(path)))
        loaded.unloaded.append(_guess_unloaded(path, overrides))
    return loaded


def load_all(
    paths: Iterable[Path | str], *, check_paths: bool = True, family: Family | None = None
) -> Loaded:
    """Load every file (and spec YAML under every folder); every file's problems are collected."""
    loaded = Loaded()
    for path in yaml_files(paths, family):
        loaded.extend(load_one(path, check_paths=check_paths, family=family))
    return loaded


def load_paths(
    paths: Iterable[Path | str], *, check_paths: bool = True
) -> tuple[list[Document], list[Problem]]:
    """Load every file (and spec YAML under every folder); problems of all files are collected, not raised."""
    loaded = load_all(paths, check_paths=check_paths)
    return loaded.documents, loaded.problems


def load_yaml_files(paths: Iterable[Path | str], *, check_paths: bool = True) -> list[Document]:
    """Like load_paths, but raise one SpecError with the problems of every file."""
    documents, problems = load_paths(paths, check_paths=check_paths)
    if problems:
        raise SpecError(problems)
    return documents


# ---------------------------------------------------------------- targets

_LOCAL_MODEL = "`model: {path: ./model}`"
_LOCAL_ENVIRONMENT = (
    "`environment: {image: mlendpoints/base:bookworm-py311, conda_file: ./environment/conda.yaml}`"
)


def _registered_assets(spec: AnySpec, target: str) -> list[tuple[Loc, str]]:
    only = f"which only the azure target can use; for the {target} target"
    found: list[tuple[Loc, str]] = []
    model = getattr(spec, "model", None)
    if model is not None and model.reference is not None:
        message = f"{model.reference!r} is a registered Azure ML model, {only} point at a local folder, e.g. "
        found.append((("model",), message + _LOCAL_MODEL))
    environment = getattr(spec, "environment", None)
    if environment is not None and environment.reference is not None:
        message = (
            f"{environment.reference!r} is a registered Azure ML environment, {only} give an image, e.g. "
        )
        found.append((("environment",), message + _LOCAL_ENVIRONMENT))
    component = getattr(spec, "component", None)
    if isinstance(component, str):
        message = (
            f"{component!r} is a registered Azure ML component, {only} point at a local component YAML file"
        )
        found.append((("component",), message))
    return found


def _azure_only_settings(spec: AnySpec) -> list[Loc]:
    flags: dict[str, object]
    if isinstance(spec, OnlineEndpointSpec):
        flags = {"identity": spec.identity, "public_network_access": spec.public_network_access == "disabled"}
    elif isinstance(spec, OnlineDeploymentSpec):
        # app_insights_enabled is not here: off Azure it switches the router's request log.
        flags = {
            "data_collector": spec.data_collector,
            "egress_public_network_access": spec.egress_public_network_access == "disabled",
            "model_mount_path": spec.model_mount_path,
        }
    elif isinstance(spec, AmlComputeSpec):
        flags = {"identity": spec.identity, "location": spec.location}
    else:
        flags = {}
    return [(key,) for key, value in flags.items() if value]


def _asset_problems(
    documents: Iterable[Document], target: str, already_reported: Iterable[tuple[Document, str]] = ()
) -> list[Problem]:
    """Registered assets refused off Azure (except references whose problem was reported already);
    Azure-only settings warned about (SpecWarning)."""
    if target == "azure":
        return []
    reported = {(id(document), field_name) for document, field_name in already_reported}
    problems: list[Problem] = []
    for document in documents:
        problems += [
            document.source.problem(loc, msg)
            for loc, msg in _registered_assets(document.spec, target)
            if (id(document), loc[0]) not in reported
        ]
        for loc in _azure_only_settings(document.spec):
            document.source.warn(loc, f"only used by the azure target; ignored on the {target} target")
    return problems


def _as_documents(items: AnySpec | Document | Iterable[AnySpec | Document]) -> list[Document]:
    if isinstance(items, Spec | Document):
        items = [items]
    return [item if isinstance(item, Document) else Document(item) for item in items]


def _unknown_target(target: str) -> Problem:
    return Problem(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}", field="target")


def require_local_assets(items: AnySpec | Document | Iterable[AnySpec | Document], target: str) -> None:
    """Refuse registered Azure ML assets on non-Azure targets (SpecError saying how to go local).

    Settings that only mean something on Azure produce a SpecWarning instead.
    """
    if target not in TARGETS:
        raise SpecError([_unknown_target(target)])
    problems = _asset_problems(_as_documents(items), target)
    if problems:
        raise SpecError(problems)


def _instance_type_warning(document: Document, target: str) -> None:
    # Kubernetes instance types (defaultinstancetype) are the cluster's own names, not VM sizes:
    # valid for kubernetes deployments, but the local target has no such size to give.
    spec = document.spec
    if (
        target != "local"
        or not isinstance(spec, OnlineDeploymentSpec)
        or spec.instance_type is None
        or skus.find_sku(spec.instance_type) is not None
    ):
        return
    message = (
        f"{spec.instance_type!r} is a Kubernetes instance type, not a VM size mlendpoints knows; the local "
        f"target runs each instance with the default {skus.DEFAULT_CORES:g} core / "
        f"{skus.DEFAULT_MEMORY_GB:g} GiB (declare it under `mlendpoints:instance_types` to size it)"
    )
    if spec.resources is not None and (spec.resources.limits or spec.resources.requests):
        return  # `resources` size the containers instead, as they size the pods on Kubernetes
    document.source.warn(("instance_type",), message)


def _compute_warning(document: Document, target: str) -> None:
    # A kubernetes endpoint's `compute` names the Azure ML attached cluster it runs on; off Azure the
    # stack's target decides where it runs.
    spec = document.spec
    if target != "local" or not isinstance(spec, OnlineEndpointSpec) or not spec.compute:
        return
    document.source.warn(
        ("compute",),
        f"{spec.compute!r} names an Azure ML attached Kubernetes cluster; the local target runs this "
        "endpoint on this machine's Docker engine (set `mlendpoints:target: kubernetes` to run it on a "
        "cluster)",
    )


def _gpu_warning(document: Document, target: str) -> None:
    # Containers of the local target get no GPU: a GPU request would be silently dropped.
    spec = document.spec
    if target != "local" or not isinstance(spec, OnlineDeploymentSpec) or spec.resources is None:
        return
    for part in ("requests", "limits"):
        given = getattr(spec.resources, part)
        if given is not None and given.gpu is not None:
            document.source.warn(
                ("resources", part, "nvidia.com/gpu"),
                f"{given.gpu} GPU(s) asked; the local target passes no GPU to containers (cpu and memory "
                "are applied)",
            )


def _autoscale_warning(document: Document, target: str) -> None:
    # The local target has no autoscaler: it keeps the lower bound running, never more.
    spec = document.spec
    if (
        target != "local"
        or not isinstance(spec, OnlineDeploymentSpec)
        or spec.scale_settings.type != "target_utilization"
    ):
        return
    scale = spec.scale_settings
    document.source.warn(
        ("scale_settings",),
        f"the local target does not autoscale: it runs min_instances ({scale.min_instances}) instances "
        f"all the time (max_instances {scale.max_instances} and target_utilization_percentage "
        f"{scale.target_utilization_percentage} are not applied; the quota check counts max_instances)",
    )


def _environment_problems(document: Document, target: str | None, check_paths: bool) -> list[Problem]:
    """The deployment's environment planned as its image will be: conda file problems, before `pulumi up`."""
    spec = document.spec
    environment = getattr(spec, "environment", None)
    if environment is None and isinstance(spec, OnlineDeploymentSpec | ModelBatchDeploymentSpec):
        return _no_code_problems(document, spec)
    if not isinstance(environment, EnvironmentSpec) or environment.reference is not None:
        return []  # off Azure, a registered environment is refused by _asset_problems already
    if environment.build is not None:
        if target in ("local", "kubernetes"):
            message = (
                f"the {target} target cannot build a Docker build context (`build`) yet; give `image` "
                "(optionally with `conda_file`), e.g. " + _LOCAL_ENVIRONMENT
            )
            return [document.source.problem(("environment",), message)]
        return []
    conda_file = environment.conda_file
    if isinstance(conda_file, Path) and not check_paths and _kind_of_path(conda_file) != "file":
        return []  # paths are not checked: a conda file that is not there yet is fine
    try:
        environments.plan_for_spec(environment)
    except environments.EnvironmentMappingError as error:
        return [document.source.problem(("environment",), str(error))]
    return []


def _no_code_problems(
    document: Document, spec: OnlineDeploymentSpec | ModelBatchDeploymentSpec
) -> list[Problem]:
    """A deployment without an environment: an MLflow model's own, planned now (no-code deployment)."""
    if spec.model is not None and spec.model.reference is not None:
        return []  # a registered model: resolved (and checked again) before a target sees it
    if not mlflow_models.is_no_code(spec):
        kind = spec.model.type if spec.model is not None else "no"
        message = (
            f"required: the model is a {kind} model, and only MLflow models (`type: mlflow_model`) "
            "deployed without code_configuration bring their own environment"
        )
        return [document.source.problem(("environment",), message)]
    try:
        mlflow_models.plan_for_deployment(spec)
    except environments.EnvironmentMappingError as error:
        return [document.source.problem(("model",), str(error))]
    return []


def check_documents(
    items: AnySpec | Document | Iterable[AnySpec | Document],
    target: str | None = None,
    *,
    check_paths: bool = True,
    already_reported: Iterable[tuple[Document, str]] = (),
) -> list[Problem]:
    """Every problem of each document beyond its own fields (none raised): its environment planned as
    its image will be, and with a `target`, what that target cannot deploy (registered assets).

    Settings the target ignores or replaces produce a SpecWarning.
    """
    documents = _as_documents(items)
    problems: list[Problem] = []
    if target is not None and target not in TARGETS:
        problems.append(_unknown_target(target))
        target = None
    if target is not None:
        problems += _asset_problems(documents, target, already_reported)
    if target == "kubernetes":
        problems += [
            document.source.problem((), BATCH_OFF_LOCAL)
            for document in documents
            if isinstance(
                document.spec,
                BatchEndpointSpec | ModelBatchDeploymentSpec | PipelineComponentBatchDeploymentSpec,
            )
        ]
    for document in documents:
        if target is not None:
            _instance_type_warning(document, target)
            _compute_warning(document, target)
            _gpu_warning(document, target)
            _autoscale_warning(document, target)
        problems += _environment_problems(document, target, check_paths)
    return problems
