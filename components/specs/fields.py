"""Field types shared by the specs: names, counts, text, local paths and registered references."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo

from components.errors import show
from components.skus import find_sku, nearest_skus

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]*")


def _check_name(value: str, low: int, high: int) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError(f"must start with a letter and use only letters, digits and hyphens (got {value!r})")
    if not low <= len(value) <= high:
        raise ValueError(f"must be {low}-{high} characters long (got {value!r}, {len(value)} long)")
    return value


def _not_bool(value: Any) -> Any:
    # pydantic would quietly turn `true` into 1; a boolean where a count belongs is a mistake.
    if isinstance(value, bool):
        raise ValueError(f"must be a whole number (got {show(value)})")
    return value


def _scalar_text(value: Any) -> Any:
    # YAML reads `WORKER_COUNT: 4` as a number; environment variables and tags are text anyway.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _lower(value: Any) -> Any:
    # The az CLI accepts enum values in any case (`Key`, `Dedicated`).
    return value.lower() if isinstance(value, str) else value


Name = Annotated[str, AfterValidator(lambda value: _check_name(value, 3, 32))]
# Azure's naming rules for workspaces/computes: 2 to 16 characters (the policy pack checks the same).
COMPUTE_NAME_LENGTH = (2, 16)
ComputeName = Annotated[str, AfterValidator(lambda value: _check_name(value, *COMPUTE_NAME_LENGTH))]
Count = Annotated[int, BeforeValidator(_not_bool), Field(ge=1)]
NonNegative = Annotated[int, BeforeValidator(_not_bool), Field(ge=0)]
Percent = Annotated[int, BeforeValidator(_not_bool), Field(ge=0, le=100)]
MirrorPercent = Annotated[int, BeforeValidator(_not_bool), Field(ge=0, le=50)]
Text = Annotated[str, BeforeValidator(_scalar_text)]
TextMap = dict[str, Text]
Switch = Annotated[Literal["enabled", "disabled"], BeforeValidator(_lower)]


def _context(info: ValidationInfo) -> tuple[Path | None, bool]:
    context = info.context if isinstance(info.context, Mapping) else {}
    base = context.get("base_dir")
    return (Path(base) if base is not None else None), bool(context.get("check_paths"))


def _is_remote(text: str) -> bool:
    return text.startswith("azureml:") or "://" in text


PathKind = Literal["file", "folder", "file or folder"]


def _resolve_local(value: Any, info: ValidationInfo, expect: PathKind) -> Path:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be the path of a local {expect} (got {show(value)})")
    if _is_remote(value):
        raise ValueError(f"must be a local {expect}, not {value!r}")
    base, check = _context(info)
    # Relative paths are relative to the YAML file's folder (or the stack's base dir), as in the az CLI.
    path = Path(os.path.normpath(base / value)) if base is not None else Path(value)
    if check:
        where = f" ({value!r} resolved against {base})" if base is not None and path != Path(value) else ""
        if not path.exists():
            raise ValueError(f"no such {expect}: {path}{where}")
        if expect == "file" and not path.is_file():
            raise ValueError(f"expected a file, found a folder: {path}{where}")
        if expect == "folder" and not path.is_dir():
            raise ValueError(f"expected a folder, found a file: {path}{where}")
    return path


def _local_path(expect: PathKind) -> BeforeValidator:
    return BeforeValidator(lambda value, info: _resolve_local(value, info, expect))


def _conda_file(value: Any, info: ValidationInfo) -> Any:
    return dict(value) if isinstance(value, Mapping) else _resolve_local(value, info, "file")


LocalDir = Annotated[Path, _local_path("folder")]
LocalFileOrDir = Annotated[Path, _local_path("file or folder")]

_SHORT_REFERENCE = re.compile(r"azureml:[A-Za-z0-9_][A-Za-z0-9_.-]*(:[A-Za-z0-9_.-]+|@[A-Za-z0-9_.-]+)")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")


def check_reference(value: str, what: str, local_hint: str, *, any_uri: bool = False) -> str:
    """Accept `azureml:name:version`, `azureml:name@label`, `azureml://...` (and other URIs if asked)."""
    if _SHORT_REFERENCE.fullmatch(value) or (value.startswith("azureml://") and _URI.fullmatch(value)):
        return value
    if any_uri and _URI.fullmatch(value):
        return value
    raise ValueError(
        f"{value!r} is not a registered {what} reference (azureml:<name>:<version>, azureml:<name>@<label> "
        f"or azureml://...); {local_hint}"
    )


def known_vm_size(value: str) -> str:
    """The catalog's spelling of a VM size, or an error listing the nearest known ones."""
    sku = find_sku(value)
    if sku is None:
        raise ValueError(f"unknown VM size {value!r}; nearest known: {', '.join(nearest_skus(value))}")
    return sku.name


def not_below_min_instances(value: int, info: ValidationInfo) -> int:
    """A `max_instances` validator: never fewer than the `min_instances` declared before it."""
    low = info.data.get("min_instances")
    if low is not None and value < low:
        raise ValueError(f"must be >= min_instances ({low}) (got {value})")
    return value
