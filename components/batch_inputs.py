"""`mle batch invoke`'s input and output: local paths uploaded once, data asset YAML, datastore URIs."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components.asset_registry import parse_reference, version_key
from components.batch_datastore_paths import DATASTORE_URI, _parse, datastore_uri, host_path
from components.endpoint_cli import CliError
from serving.batch.protocol import DEFAULT_DATASTORE

UPLOAD_FOLDER = "LocalUpload"  # where `az ml` puts local inputs on the default datastore
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_KINDS = {"uri_folder": "UriFolder", "uri_file": "UriFile"}


@dataclass(frozen=True)
class ResolvedInput:
    uri: str
    kind: str  # UriFolder | UriFile
    source: Path | None = None  # the local file or folder, when one was uploaded
    copied: bool = False  # False: the same content was there already
    files: int = 0


def _visible_files(root: Path) -> list[tuple[str, Path]]:
    """(relative posix path, path) of a folder's files, sorted; hidden files and folders skipped, as
    the controller skips them when it lists a job's inputs."""
    found: list[tuple[str, Path]] = []
    seen: set[str] = set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:  # a symlink loop
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if not name.startswith("."):
                path = Path(folder) / name
                found.append((path.relative_to(root).as_posix(), path))
    return sorted(found)


def _entries(source: Path) -> list[tuple[str, Path]]:
    return [(source.name, source)] if source.is_file() else _visible_files(source)


def content_hash(source: Path, entries: Sequence[tuple[str, Path]] | None = None) -> str:
    """Hash of a file's content, or of a folder's relative paths and contents (32 hex digits).

    The name of `source` itself is not hashed: it is the last part of the upload's path.
    """
    digest = hashlib.sha256(b"file\0" if source.is_file() else b"folder\0")
    for relative, path in _entries(source) if entries is None else entries:
        if source.is_file():
            relative = ""
        digest.update(relative.encode() + b"\0" + str(path.stat().st_size).encode() + b"\0")
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:32]


def upload(source: Path, store: Path) -> tuple[str, bool, int]:
    """Copy a local file or folder to `<store>/LocalUpload/<hash>/<name>` once.

    Returns (path on the datastore, whether it was copied now, files). The copy goes to a hidden temp
    name first and is renamed into place, so a half copy is never under the final name.
    """
    source = Path(os.path.realpath(source))
    name = source.name or "data"
    entries = _entries(source)
    digest = content_hash(source, entries)
    relative = f"{UPLOAD_FOLDER}/{digest}/{name}"
    target = store / UPLOAD_FOLDER / digest / name
    if target.exists():
        return relative, False, len(entries)
    temporary = target.with_name(f".{name}.upload-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_file():
            shutil.copyfile(source, temporary)
        else:
            temporary.mkdir()
            for rel, path in entries:
                destination = temporary / rel
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, destination)
        try:
            os.rename(temporary, target)
        except OSError:
            if not target.exists():
                raise
            # Someone uploaded the same content at the same time: theirs is as good as ours.
            _remove(temporary)
    except OSError as exc:
        _remove(temporary)
        raise CliError(f"cannot upload {source} to {target.parent}: {exc.strerror or exc}") from None
    except BaseException:
        _remove(temporary)
        raise
    return relative, True, len(entries)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _refuse_uri(value: str, what: str) -> None:
    """Raise for every URI this machine cannot use; return for datastore URIs."""
    lowered = value.lower()
    if lowered.startswith(("http://", "https://", "wasbs://", "wasb://", "abfss://", "abfs://", "adl://")):
        raise CliError(
            f"{what} {value}: web and cloud URIs are not supported locally (the nodes have no internet "
            "access); download the data and pass its local path"
        )
    if lowered.startswith("azureml:") and not lowered.startswith("azureml://"):
        raise CliError(
            f"{what} {value}: not a data asset reference this stack can resolve "
            f"(azureml:<name>:<version> or azureml:<name>@latest); pass the asset's YAML file, a local "
            f"path or {DATASTORE_URI}"
        )
    if not lowered.startswith("azureml://"):
        raise CliError(f"{what} {value}: unsupported URI; pass a local path or {DATASTORE_URI}")


def load_data_asset(path: Path) -> tuple[str, str] | None:
    """A data asset YAML (data.schema.json; uri_folder | uri_file) -> (its path or URI, kind).

    None when the file is not a data asset (it is then an input file like any other). A relative
    `path` resolves against the YAML file's folder, as `az ml` does.
    """
    if path.suffix.lower() not in (".yml", ".yaml"):
        return None
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    if not isinstance(doc, dict):
        return None
    schema = str(doc.get("$schema") or "")
    kind = doc.get("type")
    if not (
        schema.endswith("data.schema.json")
        or (kind in ("uri_folder", "uri_file", "mltable") and "path" in doc)
    ):
        return None
    kind = kind or "uri_folder"  # data.schema.json's default
    if kind not in _KINDS:
        raise CliError(
            f"{path}: data asset type {kind!r} is not supported for model batch deployments; "
            "use uri_folder or uri_file"
        )
    target = doc.get("path")
    if not isinstance(target, str) or not target.strip():
        raise CliError(f"{path}: the data asset has no `path`")
    target = target.strip()
    if target.lower().startswith("file:"):
        target = target[len("file:") :].removeprefix("//")
    elif _SCHEME.match(target):
        _refuse_uri(target, f"{path}: path")
        return target, kind
    return str((path.parent / target).resolve()), kind


def _local_kind(path: Path, input_type: str | None, what: str) -> str:
    """UriFile or UriFolder from what `path` is (`what` names it in errors)."""
    if path.is_file():
        if input_type == "uri_folder":
            raise CliError(f"{what} is a file: use --input-type uri_file (or leave it out)")
        return "UriFile"
    if input_type == "uri_file":
        raise CliError(f"{what} is a folder: use --input-type uri_folder (or leave it out)")
    if not _visible_files(path):
        raise CliError(f"{what} has no files (hidden files are skipped)")
    return "UriFolder"


def registered_data(value: str, data_assets: Mapping[str, Any]) -> tuple[str, str] | None:
    """A registered data asset reference (`azureml:<name>:<version>`, `@latest`, the resource id)
    -> (its host path or datastore URI, its type), from the stack's `assets.data` output; None when
    `value` is no such reference."""
    try:
        reference = parse_reference(value, "data")
    except ValueError as error:
        raise CliError(f"--input {value}: {error}") from None
    if reference is None:
        return None
    versions = data_assets.get(reference.name)
    if not isinstance(versions, Mapping) or not versions:
        known = ", ".join(sorted(data_assets)) or "none"
        raise CliError(
            f"--input {value}: no data asset named {reference.name!r} is registered in this stack "
            f"(data: {known}); register it under `data:` in the stack config and run `make up`"
        )
    ordered_versions = sorted(versions, key=version_key)
    if reference.label is not None:
        if reference.label != "latest":
            raise CliError(f"--input {value}: only the label @latest is known locally")
        version = ordered_versions[-1]
    else:
        version = str(reference.version)
        if version not in versions:
            listed = ", ".join(ordered_versions)
            raise CliError(
                f"--input {value}: data asset {reference.name!r} has no version {version!r} ({listed})"
            )
    entry = versions[version]
    kind = str(entry.get("type") or "uri_folder")
    if kind not in _KINDS:
        raise CliError(
            f"--input {value}: data asset type {kind!r} is not supported; use uri_folder or uri_file"
        )
    return str(entry.get("path") or entry.get("uri")), kind


def resolve_input(
    value: str,
    input_type: str | None,
    folders: Mapping[str, Path],
    cwd: Path | None = None,
    data_assets: Mapping[str, Any] | None = None,
) -> ResolvedInput:
    """`--input` as `az ml batch-endpoint invoke` takes it: a local path or data asset YAML (uploaded
    to the default datastore), a registered data asset of the stack (`azureml:<name>@latest`), or a
    datastore URI (passed through)."""
    registered = registered_data(value, data_assets or {})
    if registered is None and _SCHEME.match(value) and not Path(value).exists():
        _refuse_uri(value, "--input")
        return _datastore_input(value, input_type, folders)
    path = (cwd or Path.cwd()) / Path(value).expanduser()
    what = f"--input {value}"
    if registered is None and not path.exists():
        raise CliError(f"{what}: no such file or folder (or pass {DATASTORE_URI})")
    asset = registered or (load_data_asset(path) if path.is_file() else None)
    if asset is not None:
        target, kind = asset
        if input_type is not None and input_type != kind:
            raise CliError(f"{what} is a {kind} data asset but --input-type says {input_type}")
        if _SCHEME.match(target) and not Path(target).exists():
            return _datastore_input(target, kind, folders)
        path, input_type, what = Path(target), kind, f"{value}: path {target}"
        if not path.exists():
            raise CliError(f"{what}: no such file or folder")
    kind = _local_kind(path, input_type, what)
    store = folders.get(DEFAULT_DATASTORE)
    if store is None:
        raise CliError(
            f"the stack exports no folder for the default datastore {DEFAULT_DATASTORE}; run `make up`"
        )
    relative, copied, files = upload(path, store)
    uri = f"azureml://datastores/{DEFAULT_DATASTORE}/paths/{relative}" + ("/" if kind == "UriFolder" else "")
    return ResolvedInput(uri, kind, Path(os.path.realpath(path)), copied, files)


def _datastore_input(uri: str, input_type: str | None, folders: Mapping[str, Path]) -> ResolvedInput:
    _parse(uri, "--input")
    kind = _KINDS[input_type] if input_type else None
    try:
        local: Path | None = host_path(uri, folders)
    except CliError:
        local = None  # a datastore this stack does not export: the controller decides
    if local is not None:
        if not local.exists():
            raise CliError(f"--input {uri}: nothing at {local}")
        kind = kind or ("UriFile" if local.is_file() else "UriFolder")
    return ResolvedInput(uri, kind or "UriFolder")


def resolve_output(value: str, folders: Mapping[str, Path], cwd: Path | None = None) -> str:
    """`--output-path`: a datastore URI, or a host folder inside a datastore folder."""
    if _SCHEME.match(value) and not Path(value).exists():
        _refuse_uri(value, "--output-path")
        _parse(value, "--output-path")
        return value
    uri = datastore_uri((cwd or Path.cwd()) / Path(value).expanduser(), folders, folder=True)
    if uri is None:
        known = ", ".join(f"{n} ({p})" for n, p in sorted(folders.items())) or "none"
        raise CliError(
            f"--output-path {value} is in no datastore folder; pass {DATASTORE_URI} or a folder under "
            f"one of: {known}"
        )
    return uri
