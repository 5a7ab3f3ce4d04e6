"""Validating raw data (a YAML document, an inline mapping) as a spec, with every problem in one error."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from components.errors import (
    Problem,
    Source,
    SpecError,
    keys_of,
    problems_from_validation_error,
    unknown_key_message,
)
from components.specs.assets import DataAssetSpec, EnvironmentAssetSpec, ModelAssetSpec
from components.specs.base import Spec
from components.specs.batch import (
    BatchEndpointSpec,
    ModelBatchDeploymentSpec,
    PipelineComponentBatchDeploymentSpec,
)
from components.specs.compute import AmlComputeSpec
from components.specs.online import OnlineDeploymentSpec, OnlineEndpointSpec
from components.specs.pipelines import CommandComponentSpec, PipelineComponentSpec

AnySpec = (
    OnlineEndpointSpec
    | OnlineDeploymentSpec
    | BatchEndpointSpec
    | ModelBatchDeploymentSpec
    | PipelineComponentBatchDeploymentSpec
    | AmlComputeSpec
    | ModelAssetSpec
    | EnvironmentAssetSpec
    | DataAssetSpec
    | CommandComponentSpec
    | PipelineComponentSpec
)


S = TypeVar("S", bound=Spec)


def _drop_ignored(
    model: type[BaseModel], data: Any, loc: tuple[str | int, ...], source: Source, problems: list[Problem]
) -> Any:
    """Drop keys accepted on purpose (warning why) and report keys that are not text, at every level."""
    if not isinstance(data, Mapping):
        return data
    ignored = getattr(model, "IGNORED_KEYS", {})
    keys = keys_of(model)
    kept: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            problems.append(source.problem(loc, unknown_key_message(model, key)))
        elif key in ignored and key not in keys:
            source.warn((*loc, key), ignored[key])
        else:
            sub = keys.get(key)
            kept[key] = _drop_ignored(sub, value, (*loc, key), source, problems) if sub is not None else value
    return kept


def parse_spec(
    model: type[S],
    data: Any,
    *,
    source: Source | None = None,
    base_dir: Path | str | None = None,
    check_paths: bool = False,
) -> S:
    """Validate `data` as `model`; raise SpecError listing every problem (with file/line from `source`).

    Relative paths resolve against `base_dir`; with `check_paths` missing files and folders are errors.
    """
    source = source or Source()
    problems: list[Problem] = []
    cleaned = _drop_ignored(model, data, (), source, problems)
    context = {
        "base_dir": Path(base_dir).absolute() if base_dir is not None else None,
        "check_paths": check_paths,
    }
    spec: S | None = None
    try:
        spec = model.model_validate(cleaned, context=context)
    except ValidationError as error:
        problems.extend(problems_from_validation_error(error, model, source))
    if problems or spec is None:
        raise SpecError(sorted(dict.fromkeys(problems), key=lambda p: (p.line is None, p.line or 0)))
    return spec
