"""Load Azure ML CLI v2 YAML files (endpoints, deployments, compute) into specs, keeping file and line."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import yaml

from components.errors import Loc, Problem, Source, SpecError, format_loc, show
from components.specs import (
    AmlComputeSpec,
    AnySpec,
    BatchEndpointSpec,
    ModelBatchDeploymentSpec,
    OnlineDeploymentSpec,
    OnlineEndpointSpec,
    PipelineComponentBatchDeploymentSpec,
    Spec,
    parse_spec,
)

Family = Literal["endpoint", "deployment", "compute"]
TARGETS = ("local", "kubernetes", "azure")
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
    }
)
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

    `overrides` replace top-level keys, like the az CLI's `--name`/`--endpoint-name`/`--set`.
    """
    source = source or Source()
    if not isinstance(data, Mapping):
        raise SpecError([source.problem((), f"must be a mapping of keys to values (got {show(data)})")])
    merged = {**data, **(overrides or {})}
    kind = _kind(merged, source, family)
    model, fixed, kind_family = KINDS[kind]
    if family is not None and family != kind_family:
        raise SpecError([source.problem((), f"this is a {kind}; list it under {kind_family}s")])
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


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise SpecError.single(
            f"not a UTF-8 text file ({error.reason} at byte {error.start})", file=str(path)
        ) from None
    except OSError as error:
        raise SpecError.single(f"cannot read: {error.strerror or error}", file=str(path)) from None


def load_yaml_document(
    path: Path | str, *, overrides: Mapping[str, Any] | None = None, check_paths: bool = True
) -> Document:
    """Load one YAML file, resolving relative paths against its folder (as the az CLI does)."""
    path = Path(path)
    data, source = read_yaml(_read_text(path), str(path))
    spec = spec_from_mapping(
        data, source=source, base_dir=path.parent, check_paths=check_paths, overrides=overrides
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


def _is_spec_document(path: Path) -> bool:
    # Folders also hold conda files and sample data: only documents with `$schema` are specs.
    try:
        data, _ = read_yaml(_read_text(path), str(path))
    except SpecError:
        return True  # let the real load report it
    if not isinstance(data, Mapping) or not isinstance(data.get("$schema"), str):
        return False
    name = schema_name(data["$schema"])
    ours = name in {kind.lower() for kind in KINDS} or name in _GENERIC
    return ours or not _OTHER_KINDS.fullmatch(name)


def yaml_files(paths: Iterable[Path | str]) -> list[Path]:
    """The given files, plus the spec YAML files (with a `$schema` of ours) found in the given folders."""
    found: list[Path] = []
    for item in map(Path, paths):
        if item.is_dir():
            candidates = sorted(
                p
                for p in item.rglob("*")
                if p.suffix in (".yml", ".yaml")
                and p.is_file()
                # hidden folders (.git, .venv) hold other tools' YAML, never ours
                and not any(part.startswith(".") for part in p.relative_to(item).parts)
            )
            found += [p for p in candidates if _is_spec_document(p)]
        else:
            found.append(item)
    return list(dict.fromkeys(found))


def load_paths(
    paths: Iterable[Path | str], *, check_paths: bool = True
) -> tuple[list[Document], list[Problem]]:
    """Load every file (and spec YAML under every folder); problems of all files are collected, not raised."""
    documents: list[Document] = []
    problems: list[Problem] = []
    for path in yaml_files(paths):
        if not path.exists():
            problems.append(Problem("no such file or folder", file=str(path)))
            continue
        try:
            documents.append(load_yaml_document(path, check_paths=check_paths))
        except SpecError as error:
            problems.extend(error.problems)
    return documents, problems


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


def require_local_assets(items: AnySpec | Document | Iterable[AnySpec | Document], target: str) -> None:
    """Refuse registered Azure ML assets on non-Azure targets (SpecError saying how to go local).

    Settings that only mean something on Azure produce a SpecWarning instead.
    """
    if target not in TARGETS:
        raise SpecError.single(
            f"unknown target {target!r}; choose one of {', '.join(TARGETS)}", field="target"
        )
    if target == "azure":
        return
    if isinstance(items, Spec | Document):
        items = [items]
    documents = [item if isinstance(item, Document) else Document(item) for item in items]
    problems: list[Problem] = []
    for document in documents:
        problems += [
            document.source.problem(loc, msg) for loc, msg in _registered_assets(document.spec, target)
        ]
        for loc in _azure_only_settings(document.spec):
            document.source.warn(loc, f"only used by the azure target; ignored on the {target} target")
    if problems:
        raise SpecError(problems)
