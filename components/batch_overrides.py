"""`mle batch invoke`'s overrides (`--set key=value` and flags, checked) and the invoke request body."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from components.batch_inputs import ResolvedInput
from components.endpoint_cli import CliError
from serving.batch.controller.invoke import (
    MAX_BATCH_TIMEOUT_S,
    MAX_ERROR_THRESHOLD,
    MAX_MINI_BATCH_SIZE,
    MAX_NODES,
    MAX_RETRIES,
)

INPUT_NAME = "input_data"
OUTPUT_NAME = "score"


def _whole(low: int, high: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        if not re.fullmatch(r"-?\d+", value.strip()):
            raise ValueError(f"must be a whole number between {low} and {high}")
        number = int(value)
        if not low <= number <= high:
            raise ValueError(f"must be between {low} and {high}")
        return number

    return parse


def _file_name(value: str) -> str:
    if not value.strip() or "/" in value or "\\" in value or value.startswith("."):
        raise ValueError("must be a plain file name (no folders, not hidden)")
    return value


def _level(value: str) -> str:
    if value.strip().lower() not in ("warning", "info", "debug"):
        raise ValueError("must be one of warning, info, debug")
    return value.strip().lower()


def _bool(value: str) -> bool:
    if value.strip().lower() not in ("true", "false"):
        raise ValueError("must be true or false")
    return value.strip().lower() == "true"


# The per-job overrides the controller takes (serving/batch/controller/invoke.py), with its bounds.
OVERRIDES: dict[str, Callable[[str], Any]] = {
    "instance_count": _whole(1, MAX_NODES),
    "mini_batch_size": _whole(1, MAX_MINI_BATCH_SIZE),
    "max_retries": _whole(0, MAX_RETRIES),
    "timeout": _whole(1, MAX_BATCH_TIMEOUT_S),
    "error_threshold": _whole(-1, MAX_ERROR_THRESHOLD),
    "output_file_name": _file_name,
    "logging_level": _level,
    "overwrite": _bool,
}


def _norm(key: str) -> str:
    return re.sub(r"[_\-.]", "", key).lower()


# Also the REST/SDK spellings (miniBatchSize, retry_settings.max_retries, compute.instance_count).
_KEYS = (
    {_norm(k): k for k in OVERRIDES}
    | {_norm(f"retry_settings.{k}"): k for k in ("max_retries", "timeout")}
    | {_norm("compute.instance_count"): "instance_count"}
)


def parse_overrides(sets: Sequence[str], flags: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """`--set key=value` and the override flags -> {key: value}; errors name the key at fault."""
    found: dict[str, Any] = {}
    origin: dict[str, str] = {}
    given = [(f"--{k.replace('_', '-')}", k, str(v)) for k, v in (flags or {}).items() if v is not None]
    for item in sets:
        raw, sep, value = item.partition("=")
        if not sep or not raw.strip():
            raise CliError(f"--set {item}: expected key=value; keys: {', '.join(OVERRIDES)}")
        key = _KEYS.get(_norm(raw.strip()))
        if key is None:
            raise CliError(f"--set {raw.strip()}: unknown override; allowed: {', '.join(OVERRIDES)}")
        given.append((f"--set {raw.strip()}", key, value))
    for where, key, value in given:
        try:
            parsed = OVERRIDES[key](value)
        except ValueError as exc:
            raise CliError(f"{where}={value}: {key} {exc}") from None
        if key in found and found[key] != parsed:
            raise CliError(f"{key} is given twice ({origin[key]} and {where}) with different values")
        found[key], origin[key] = parsed, where
    return found


def build_body(
    data: ResolvedInput, overrides: Mapping[str, Any], output_uri: str | None = None
) -> dict[str, Any]:
    """Azure's REST invoke body (the SDK's camelCase BatchJob properties for the overrides)."""
    props: dict[str, Any] = {"InputData": {INPUT_NAME: {"JobInputType": data.kind, "Uri": data.uri}}}
    if output_uri:
        props["OutputData"] = {OUTPUT_NAME: {"JobOutputType": "UriFolder", "Uri": output_uri}}
    if "instance_count" in overrides:
        props["compute"] = {"instanceCount": overrides["instance_count"]}
    retry = {}
    if "max_retries" in overrides:
        retry["maxRetries"] = overrides["max_retries"]
    if "timeout" in overrides:
        retry["timeout"] = f"PT{overrides['timeout']}S"
    if retry:
        props["retrySettings"] = retry
    for key, rest in (
        ("mini_batch_size", "miniBatchSize"),
        ("error_threshold", "errorThreshold"),
        ("output_file_name", "outputFileName"),
        ("logging_level", "loggingLevel"),
        ("overwrite", "overwrite"),
    ):
        if key in overrides:
            props[rest] = overrides[key]
    return {"properties": props}
