"""Azure's batch invoke body -> one input, one output and per-job overrides (pure, no I/O).

Azure's REST body (https://learn.microsoft.com/en-us/azure/machine-learning/how-to-access-data-batch-endpoints-jobs):
`{"properties": {"InputData": {"<name>": {"JobInputType": "UriFolder", "Uri": ...}},
"OutputData": {"score": {"JobOutputType": "UriFile", "Uri": ...}}}}`. The Python SDK sends the same
object in camelCase (BatchJob: inputData, outputData, compute.instanceCount, miniBatchSize,
retrySettings{maxRetries, timeout as ISO 8601}, errorThreshold, outputFileName, loggingLevel,
outputDataset{datastoreId, path}); the CLI's snake_case names (mini_batch_size, output_path, ...)
are accepted too. Keys match ignoring case and underscores. `overwrite: true` (ours) lets a job
replace an existing output file, which Azure refuses.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from serving.batch.controller.datastores import DatastorePath, parse_datastore_id, parse_uri
from serving.batch.controller.errors import BadRequest
from serving.batch.protocol import JobSettings, RetrySettings

# The same bounds the deploy-time specs use (components/specs/fields.py).
MAX_NODES = 65_000
MAX_MINI_BATCH_SIZE = 1_000_000
MAX_RETRIES = 100
MAX_BATCH_TIMEOUT_S = 604_800
MAX_ERROR_THRESHOLD = 2_147_483_647
JOB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")
_ISO_DURATION = re.compile(
    r"^P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$", re.IGNORECASE
)

Kind = Literal["UriFolder", "UriFile"]


@dataclass(frozen=True)
class DataRef:
    """The job's input, or its output: name, folder or file, and where it is."""

    name: str
    kind: Kind
    location: DatastorePath


@dataclass(frozen=True)
class Overrides:
    """Per-job settings; None keeps the deployment's value."""

    instance_count: int | None = None
    mini_batch_size: int | None = None
    max_retries: int | None = None
    timeout: int | None = None
    error_threshold: int | None = None
    output_file_name: str | None = None
    logging_level: str | None = None
    overwrite: bool = False


@dataclass(frozen=True)
class InvokeRequest:
    input: DataRef
    output: DataRef | None = None
    overrides: Overrides = field(default_factory=Overrides)
    name: str | None = None
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)


def field_key(key: str) -> str:
    """Azure's body keys matched ignoring case, `_` and `-` (REST, SDK camelCase, CLI snake_case)."""
    return key.replace("_", "").replace("-", "").lower()


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequest(f"{what} must be a JSON object")
    return value


def _int(value: Any, key: str, low: int, high: int) -> int:
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{key} must be a whole number, got {value!r}")
    if not low <= value <= high:
        raise BadRequest(f"{key} must be between {low} and {high}, got {value}")
    return value


def _timeout(value: Any, key: str) -> int:
    """Seconds, as a number or Azure's ISO 8601 duration (the SDK sends `PT30S`)."""
    if isinstance(value, str) and (match := _ISO_DURATION.match(value.strip())) and value.strip() != "P":
        seconds = (
            int(match["d"] or 0) * 86400
            + int(match["h"] or 0) * 3600
            + int(match["m"] or 0) * 60
            + float(match["s"] or 0)
        )
        value = math.ceil(seconds)
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    return _int(value, key, 1, MAX_BATCH_TIMEOUT_S)


def _bool(value: Any, key: str) -> bool:
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if not isinstance(value, bool):
        raise BadRequest(f"{key} must be true or false, got {value!r}")
    return value


def _file_name(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"{key} must be a file name, got {value!r}")
    if "/" in value or "\\" in value or value in (".", "..") or value.startswith("."):
        raise BadRequest(f"{key} {value!r} must be a plain file name (no folders, not hidden)")
    return value


def _level(value: Any, key: str) -> str:
    if not isinstance(value, str) or value.strip().lower() not in ("warning", "info", "debug"):
        raise BadRequest(f"{key} must be one of warning, info, debug; got {value!r}")
    return value.strip().lower()


def _strings(value: Any, key: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(v, str | int | float | bool) for v in value.values()
    ):
        raise BadRequest(f"{key} must be an object of strings")
    return {str(k): str(v) for k, v in value.items()}


def _kind(value: Any, key: str, allowed: tuple[str, ...] = ("UriFolder", "UriFile")) -> Kind:
    by_norm = {field_key(kind): kind for kind in allowed}
    kind = by_norm.get(field_key(value)) if isinstance(value, str) else None
    if kind is None:
        if isinstance(value, str) and field_key(value) == "literal":
            raise BadRequest(f"{key}: literal inputs are for pipeline component deployments only")
        raise BadRequest(f"{key} must be one of {', '.join(allowed)}; got {value!r}")
    return "UriFolder" if kind == "UriFolder" else "UriFile"


def _data(entries: Any, key: str, type_key: str) -> DataRef:
    """The one named entry of InputData/OutputData (model deployments take one input, one output)."""
    entries = _object(entries, key)
    if len(entries) != 1:
        names = ", ".join(entries) or "none"
        raise BadRequest(f"{key} must have exactly one entry for a model deployment; got {names}")
    ((name, entry),) = entries.items()
    entry = _object(entry, f"{key}.{name}")
    fields = {field_key(k): (k, v) for k, v in entry.items()}
    for norm, (raw, _) in fields.items():
        if norm not in (field_key(type_key), "uri", "mode", "description"):
            raise BadRequest(f"{key}.{name}.{raw} is not a known field (use {type_key} and Uri)")
    if "uri" not in fields:
        raise BadRequest(f"{key}.{name} has no Uri")
    if field_key(type_key) not in fields:
        raise BadRequest(f"{key}.{name} has no {type_key} (UriFolder or UriFile)")
    kind = _kind(fields[field_key(type_key)][1], f"{key}.{name}.{type_key}")
    location = parse_uri(fields["uri"][1], f"{key}.{name}.Uri")
    if kind == "UriFile" and not location.path:
        raise BadRequest(f"{key}.{name}.Uri names a datastore's root, not a file")
    return DataRef(str(name), kind, location)


def _output_dataset(value: Any, key: str) -> DataRef:
    value = _object(value, key)
    fields = {field_key(k): v for k, v in value.items()}
    unknown = [k for k in value if field_key(k) not in ("datastoreid", "path")]
    if unknown or "datastoreid" not in fields:
        raise BadRequest(f"{key} takes datastoreId and path")
    datastore = parse_datastore_id(str(fields["datastoreid"]), f"{key}.datastoreId")
    location = parse_uri(f"azureml://datastores/{datastore}/paths/{fields.get('path') or ''}", key)
    return DataRef("score", "UriFolder", location)


_Setter = Callable[[dict[str, Any], Any, str], None]


def _setter(name: str, parse: Callable[[Any, str], Any]) -> _Setter:
    def apply(out: dict[str, Any], value: Any, key: str) -> None:
        out[name] = parse(value, key)

    return apply


def _count(low: int, high: int) -> Callable[[Any, str], int]:
    return lambda value, key: _int(value, key, low, high)


_OVERRIDES: dict[str, _Setter] = {
    "instancecount": _setter("instance_count", _count(1, MAX_NODES)),
    "minibatchsize": _setter("mini_batch_size", _count(1, MAX_MINI_BATCH_SIZE)),
    "maxretries": _setter("max_retries", _count(0, MAX_RETRIES)),
    "timeout": _setter("timeout", _timeout),
    "errorthreshold": _setter("error_threshold", _count(-1, MAX_ERROR_THRESHOLD)),
    "outputfilename": _setter("output_file_name", _file_name),
    "logginglevel": _setter("logging_level", _level),
    "overwrite": _setter("overwrite", _bool),
}


def _nested(out: dict[str, Any], value: Any, key: str, allowed: Mapping[str, str]) -> None:
    for sub, item in _object(value, key).items():
        target = allowed.get(field_key(sub))
        if target is None:
            raise BadRequest(f"{key}.{sub} is not supported here; {key} takes {', '.join(allowed.values())}")
        _OVERRIDES[field_key(target)](out, item, f"{key}.{sub}")


def parse_invoke(body: Any) -> InvokeRequest:
    """Validate an invoke body; every error names the key at fault."""
    body = _object(body, "the request body")
    top = {field_key(k): (k, v) for k, v in body.items()}
    for norm, (raw, _) in top.items():
        if norm not in ("properties", "id", "name", "type", "systemdata"):
            raise BadRequest(f"{raw} is not a known field; the job goes in `properties`")
    if "properties" not in top:
        raise BadRequest('the body must be {"properties": {"InputData": {...}}} (Azure\'s batch invoke body)')
    props = _object(top["properties"][1], "properties")
    settings: dict[str, Any] = {}
    found: dict[str, Any] = {}
    output: DataRef | None = None
    output_key: str | None = None
    for raw, value in props.items():
        norm, key = field_key(raw), f"properties.{raw}"
        if norm in _OVERRIDES:
            _OVERRIDES[norm](settings, value, key)
        elif norm == "compute":
            _nested(settings, value, key, {"instancecount": "instanceCount"})
        elif norm == "retrysettings":
            _nested(settings, value, key, {"maxretries": "maxRetries", "timeout": "timeout"})
        elif norm in ("outputdata", "outputpath", "outputdataset"):
            if output_key is not None:
                raise BadRequest(f"{key} and properties.{output_key} both set the output; give one")
            output_key = raw
            if norm == "outputdata":
                output = _data(value, key, "JobOutputType")
            elif norm == "outputpath":
                output = DataRef("score", "UriFolder", parse_uri(value, key))
            else:
                output = _output_dataset(value, key)
        elif norm == "maxconcurrencyperinstance":
            raise BadRequest(
                f"{key}: max_concurrency_per_instance sizes the deployment's node containers and cannot "
                "change per job here; update the deployment instead"
            )
        elif norm == "dataset":
            raise BadRequest(f"{key} is the retired v1 input; use InputData")
        elif norm in ("inputdata", "name", "jobname", "description", "tags", "properties"):
            found[norm] = (key, value)
        else:
            known = "InputData, OutputData, outputPath, compute.instanceCount, miniBatchSize, " + (
                "retrySettings.maxRetries, retrySettings.timeout, errorThreshold, outputFileName, "
                "loggingLevel, overwrite, name, description, tags, properties"
            )
            raise BadRequest(f"{key} is not a known field or override; known: {known}")
    if "inputdata" not in found:
        raise BadRequest(
            "properties.InputData is required: one input, e.g. "
            '{"data": {"JobInputType": "UriFolder", "Uri": "azureml://datastores/<ds>/paths/<p>"}}'
        )
    data = _data(found["inputdata"][1], found["inputdata"][0], "JobInputType")
    name = None
    for norm in ("name", "jobname"):
        if norm in found:
            key, value = found[norm]
            if not isinstance(value, str) or not JOB_NAME.match(value):
                raise BadRequest(
                    f"{key} must be 1-255 letters, digits, '-' or '_', starting with a letter or digit"
                )
            name = value
    description = found.get("description", (None, None))[1]
    if description is not None and not isinstance(description, str):
        raise BadRequest("properties.description must be a string")
    return InvokeRequest(
        input=data,
        output=output,
        overrides=Overrides(**settings),
        name=name,
        description=description,
        tags=_strings(found["tags"][1], found["tags"][0]) if "tags" in found else {},
        properties=_strings(found["properties"][1], found["properties"][0]) if "properties" in found else {},
    )


def job_settings(base: JobSettings, overrides: Overrides, output: DataRef | None) -> JobSettings:
    """The deployment's settings with the job's overrides applied (and the UriFile output's name)."""
    name = overrides.output_file_name
    if output is not None and output.kind == "UriFile":
        if name is not None and name != output.location.name:
            raise BadRequest(
                f"outputFileName {name!r} conflicts with the UriFile output {output.location.uri()!r}; "
                "give one of them"
            )
        name = output.location.name
    retry = base.retry_settings
    try:
        return JobSettings(
            mini_batch_size=overrides.mini_batch_size or base.mini_batch_size,
            max_concurrency_per_instance=base.max_concurrency_per_instance,
            instance_count=overrides.instance_count or base.instance_count,
            output_action=base.output_action,
            output_file_name=name or base.output_file_name,
            retry_settings=RetrySettings(
                max_retries=retry.max_retries if overrides.max_retries is None else overrides.max_retries,
                timeout=overrides.timeout or retry.timeout,
            ),
            error_threshold=base.error_threshold
            if overrides.error_threshold is None
            else overrides.error_threshold,
            logging_level=overrides.logging_level or base.logging_level,  # type: ignore[arg-type]
        )
    except ValidationError as exc:  # only reachable through a bad deployment config
        raise BadRequest(f"job settings are invalid: {exc.errors()[0]['msg']}") from None
