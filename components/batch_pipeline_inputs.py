"""`mle batch invoke` for a pipeline deployment: every pipeline input by name, as Azure takes them.

`--input NAME=PATH|URI` (data: uploaded like `--input`), `--literal NAME=VALUE`, or `--file inputs.yml`
(what `az ml batch-endpoint invoke --file` reads: `inputs: {name: {type, path} | value | {type,
default}}`, paths relative to the file). The body is Azure's: InputData with `UriFolder`/`UriFile`
entries and `Literal` values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from components.batch_inputs import resolve_input
from components.endpoint_cli import CliError

_NAMED = re.compile(r"(?P<name>[A-Za-z_]\w*)=(?P<value>.+)", re.DOTALL)
_DATA_TYPES = {"uri_folder", "uri_file"}


def named_input(value: str) -> bool:
    """`NAME=...` (a pipeline's named input) rather than a path (which may hold `=` only after a slash)."""
    match = _NAMED.fullmatch(value.strip())
    return match is not None and not Path(value).exists()


def named(values: Sequence[str], flag: str) -> dict[str, str]:
    """`NAME=VALUE` pairs; a name given twice is refused."""
    found: dict[str, str] = {}
    for raw in values:
        match = _NAMED.fullmatch(raw.strip())
        if match is None:
            raise CliError(f"{flag} {raw}: expected NAME=VALUE, e.g. {flag} score_mode=append")
        if match["name"] in found:
            raise CliError(f"{flag}: {match['name']} is given twice")
        found[match["name"]] = match["value"]
    return found


def inputs_file(path: Path) -> tuple[dict[str, tuple[str, str | None]], dict[str, str]]:
    """(data inputs: name -> (path or URI, type), literals: name -> value) of an inputs.yml."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise CliError(f"--file {path}: {error}") from None
    entries = document.get("inputs") if isinstance(document, dict) else None
    if not isinstance(entries, dict):
        raise CliError(f"--file {path}: expected `inputs:` with the pipeline's inputs by name")
    data: dict[str, tuple[str, str | None]] = {}
    literals: dict[str, str] = {}
    for name, entry in entries.items():
        if isinstance(entry, dict) and str(entry.get("type", "")).lower() in _DATA_TYPES and "path" in entry:
            where = str(entry["path"])
            local = path.parent / where
            data[str(name)] = (str(local) if "://" not in where else where, str(entry["type"]).lower())
        elif isinstance(entry, dict) and "default" in entry:
            literals[str(name)] = str(entry["default"])
        elif isinstance(entry, dict) and "value" in entry:
            literals[str(name)] = str(entry["value"])
        elif isinstance(entry, str | int | float | bool):
            literals[str(name)] = str(entry)
        else:
            raise CliError(f"--file {path}: inputs.{name}: give `type` and `path` (data) or a value")
    return data, literals


def input_data(
    data: Mapping[str, tuple[str, str | None]],
    literals: Mapping[str, str],
    folders: Mapping[str, Path],
    data_assets: Mapping[str, Any],
) -> tuple[dict[str, Any], list[str]]:
    """InputData of Azure's body, and a line per uploaded input for the user."""
    body: dict[str, Any] = {}
    notes: list[str] = []
    for name, (value, input_type) in data.items():
        resolved = resolve_input(value, input_type, folders, data_assets=data_assets)
        body[name] = {"JobInputType": resolved.kind, "Uri": resolved.uri}
        if resolved.source is not None:
            notes.append(f"input {name}: {resolved.source} ({resolved.files} files): {resolved.uri}")
    for name, value in literals.items():
        if name in body:
            raise CliError(f"input {name} is given as data and as a literal")
        body[name] = {"JobInputType": "Literal", "Value": value}
    return body, notes
