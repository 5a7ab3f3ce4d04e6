"""Every integer field of the specs has a documented upper bound: in the field, its description and README."""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path
from typing import Any

import annotated_types
import pytest
import yaml
from pydantic import BaseModel

from components.errors import keys_of
from components.specs import (
    AmlComputeSpec,
    BatchEndpointSpec,
    ModelBatchDeploymentSpec,
    OnlineDeploymentSpec,
    OnlineEndpointSpec,
    PipelineComponentBatchDeploymentSpec,
    parse_spec,
)
from components.validate import validate_paths

FIXTURES = Path(__file__).parent / "fixtures"
README = Path(__file__).resolve().parents[2] / "README.md"
ROOTS: tuple[type[BaseModel], ...] = (
    OnlineEndpointSpec,
    OnlineDeploymentSpec,
    BatchEndpointSpec,
    ModelBatchDeploymentSpec,
    PipelineComponentBatchDeploymentSpec,
    AmlComputeSpec,
)


def _models() -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    todo = list(ROOTS)
    while todo:
        model = todo.pop()
        if model not in found:
            found.append(model)
            todo += [sub for sub in keys_of(model).values() if sub is not None]
    return found


def _is_int(annotation: Any) -> bool:
    if annotation is int:
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _is_int(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return any(_is_int(arg) for arg in typing.get_args(annotation))
    return False


def _upper_bound(metadata: list[Any], annotation: Any) -> int | None:
    # The bound sits in the field's own metadata or in an Annotated alias around the int.
    for item in metadata:
        if isinstance(item, annotated_types.Le):
            return int(item.le)  # type: ignore[call-overload]
        bound = getattr(item, "metadata", None)
        if bound:
            found = _upper_bound(bound, None)
            if found is not None:
                return found
    if annotation is not None:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            base, *extra = typing.get_args(annotation)
            return _upper_bound(extra, base)
        for arg in typing.get_args(annotation):
            found = _upper_bound([], arg)
            if found is not None:
                return found
    return None


INT_FIELDS = [
    (model, name, info)
    for model in _models()
    for name, info in model.model_fields.items()
    if _is_int(info.annotation)
]
BOUNDS = {
    (model.__name__, name): _upper_bound(info.metadata, info.annotation) for model, name, info in INT_FIELDS
}


def test_every_integer_field_has_an_upper_bound_its_description_states() -> None:
    assert len(INT_FIELDS) >= 20  # the walk really reaches the nested settings
    for model, name, info in INT_FIELDS:
        bound = BOUNDS[(model.__name__, name)]
        assert bound is not None, f"{model.__name__}.{name} has no upper bound"
        assert str(bound) in (info.description or ""), f"{model.__name__}.{name}: say 'at most {bound}'"


def test_readme_lists_every_bound() -> None:
    text = README.read_text()
    section = text.split("## Limits of specs", 1)[1].split("\n#", 1)[0]
    rows = [line.split("|")[1:3] for line in section.splitlines() if re.match(r"\| `", line)]
    table = [
        (set(re.findall(r"[a-z_]+", names)), int(bound.replace(" ", "")))
        for names, bound in rows
        if bound.replace(" ", "").isdigit()
    ]
    for model, name, _ in INT_FIELDS:
        bound = BOUNDS[(model.__name__, name)]
        listed = [number for names, number in table if name in names]
        assert bound in listed, f"README 'Limits of specs' lacks {name} <= {bound} ({model.__name__})"
    # ... and it sits right after the paragraph on checking YAML files.
    check = text.index("Check YAML files without deploying")
    assert text.index("## Limits of specs") > check
    assert "\n## " not in text[check : text.index("## Limits of specs")]


@pytest.mark.parametrize(
    ("document", "key_path", "bound"),
    [
        ("good/blue.yml", ("instance_count",), 1000),
        ("good/blue.yml", ("request_settings", "request_timeout_ms"), 180_000),
        ("good/blue.yml", ("request_settings", "max_concurrent_requests_per_instance"), 1000),
        ("good/blue.yml", ("request_settings", "max_queue_wait_ms"), 180_000),
        ("good/blue.yml", ("liveness_probe", "period"), 3600),
        ("good/blue.yml", ("readiness_probe", "initial_delay"), 3600),
        ("good/blue.yml", ("readiness_probe", "timeout"), 3600),
        ("good/blue.yml", ("readiness_probe", "failure_threshold"), 1000),
        ("good/blue.yml", ("readiness_probe", "success_threshold"), 1000),
        ("good/k8s-deployment.yml", ("scale_settings", "max_instances"), 1000),
        ("good/k8s-deployment.yml", ("scale_settings", "polling_interval"), 3600),
        ("good/model-batch-deployment.yml", ("settings", "mini_batch_size"), 1_000_000),
        ("good/model-batch-deployment.yml", ("settings", "max_concurrency_per_instance"), 1000),
        ("good/model-batch-deployment.yml", ("settings", "retry_settings", "max_retries"), 100),
        ("good/model-batch-deployment.yml", ("settings", "retry_settings", "timeout"), 604_800),
        ("good/model-batch-deployment.yml", ("settings", "error_threshold"), 2_147_483_647),
        ("good/model-batch-deployment.yml", ("resources", "instance_count"), 65_000),
        ("good/compute.yml", ("max_instances",), 65_000),
        ("good/compute.yml", ("idle_time_before_scale_down",), 604_800),
    ],
)
def test_bounds_are_enforced_with_file_and_line(
    tmp_path: Path, document: str, key_path: tuple[str, ...], bound: int
) -> None:
    source = FIXTURES / document
    data = yaml.safe_load(source.read_text())
    for value, ok in ((bound, True), (bound + 1, False), (2**63, False)):
        target = data
        for key in key_path[:-1]:
            target = target[key]
        target[key_path[-1]] = value
        copy = tmp_path / "spec" / source.name
        copy.parent.mkdir(exist_ok=True)
        copy.write_text(yaml.safe_dump(data, sort_keys=False).replace("../assets", str(FIXTURES / "assets")))
        found = validate_paths([copy])
        if ok:
            assert found == [], [str(p) for p in found]
        else:
            assert [(p.field, p.message) for p in found] == [
                (".".join(key_path), f"must be <= {bound} (got {value})")
            ]
            assert found[0].line is not None


def test_the_reported_overflow() -> None:
    # `instance_count: 9223372036854775808` (2**63) loaded and validated as fine.
    data = {
        "name": "blue",
        "endpoint_name": "ep-one",
        "environment": {"image": "python:3.11"},
        "instance_type": "Standard_DS2_v2",
        "instance_count": 9223372036854775808,
    }
    with pytest.raises(ValueError, match=r"instance_count: must be <= 1000 \(got 9223372036854775808\)"):
        parse_spec(OnlineDeploymentSpec, data)
