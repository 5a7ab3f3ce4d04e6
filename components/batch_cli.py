"""`mle batch invoke|show|list|logs|cancel|download`: batch jobs, as `az ml batch-endpoint`/`az ml job`."""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import shutil
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any, TextIO

import yaml
from tqdm import tqdm

from components import endpoint_cli
from components.endpoint_cli import CliError, credential, endpoints_of
from components.targets import local_status
from serving.batch.controller.datastores import parse_uri
from serving.batch.controller.errors import BadRequest
from serving.batch.controller.invoke import (
    JOB_NAME,
    MAX_BATCH_TIMEOUT_S,
    MAX_ERROR_THRESHOLD,
    MAX_MINI_BATCH_SIZE,
    MAX_NODES,
    MAX_RETRIES,
)
from serving.batch.protocol import DEFAULT_DATASTORE

UPLOAD_FOLDER = "LocalUpload"  # where `az ml` puts local inputs on the default datastore
INPUT_NAME = "input_data"
OUTPUT_NAME = "score"
TERMINAL = ("Completed", "Failed", "Canceled")
POLL_INTERVAL_S = 0.5
FALLBACK_SCREEN = (120, 24)  # the progress bar's columns and lines when the terminal does not say
# How long --wait rides out a controller that does not answer (the agent restarts a killed one).
OUTAGE_GRACE_S = 30.0
DATASTORE_URI = "azureml://datastores/<datastore>/paths/<path>"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_KINDS = {"uri_folder": "UriFolder", "uri_file": "UriFile"}


class ControllerDown(CliError):
    """The controller did not answer at all (as opposed to answering with an error)."""


# ---------------------------------------------------------------- endpoints and the jobs API


def batch_endpoints(outputs: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: ep for n, ep in endpoints_of(dict(outputs)).items() if ep.get("kind") == "batch"}


def pick_batch_endpoint(outputs: Mapping[str, Any], name: str | None) -> tuple[str, dict[str, Any]]:
    """The named batch endpoint, or the stack's only one."""
    found = batch_endpoints(outputs)
    listed = ", ".join(sorted(found)) or "none"
    if name is None:
        if len(found) == 1:
            return next(iter(found.items()))
        if not found:
            raise CliError("the stack has no batch endpoint (declare one and run `make up`)")
        raise CliError(f"the stack has several batch endpoints, name one with --endpoint: {listed}")
    if name not in found:
        if name in endpoints_of(dict(outputs)):
            raise CliError(f"{name} is an online endpoint; batch endpoints: {listed}")
        raise CliError(f"no batch endpoint {name!r} in the stack; batch endpoints: {listed}")
    return name, found[name]


def _message(exc: urllib.error.HTTPError) -> str:
    raw = exc.read()
    try:
        body = json.loads(raw)
        if isinstance(body, dict) and body.get("message"):
            return str(body["message"])
    except ValueError:
        pass
    text = raw.decode("utf-8", "replace").strip().splitlines()
    return text[0][:300] if text else str(exc.reason)


@dataclass
class JobsApi:
    """The controller's jobs API (`invoke_uri` = .../jobs), with a fresh credential per request."""

    endpoint: str
    ep: dict[str, Any]
    timeout: float = 30.0

    @property
    def uri(self) -> str:
        uri = self.ep.get("invoke_uri")
        if not uri:
            raise CliError(f"endpoint {self.endpoint} exports no invoke_uri; run `make up`")
        return str(uri).rstrip("/")

    def request(
        self,
        method: str,
        parts: Sequence[str] = (),
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
    ) -> Any:
        url = self.uri + "".join("/" + urllib.parse.quote(p, safe="") for p in parts)
        if query:
            url += "?" + urllib.parse.urlencode(query)
        sent = {"Authorization": f"Bearer {credential(self.endpoint, self.ep)}", **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=sent, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise CliError(f"endpoint {self.endpoint} answered {exc.code}: {_message(exc)}") from None
        except OSError as exc:  # URLError, refused, reset, timeout
            reason = getattr(exc, "reason", None) or exc
            container = self.ep.get("controller_container") or f"{self.endpoint}-controller"
            raise ControllerDown(
                f"the batch controller of {self.endpoint} does not answer at {self.uri} ({reason}); "
                f"see `scripts/mle logs {self.endpoint}` or `docker logs {container}`"
            ) from None
        try:
            return json.loads(raw or b"null")
        except ValueError:
            raise CliError(f"endpoint {self.endpoint} answered with something that is not JSON") from None

    def invoke(self, body: dict[str, Any], deployment: str | None) -> dict[str, Any]:
        headers = {"azureml-model-deployment": deployment} if deployment else None
        answer: dict[str, Any] = self.request("POST", (), body, headers)
        return answer

    def job(self, name: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.request("GET", (name,))
        return answer

    def jobs(self, deployment: str | None = None) -> list[dict[str, Any]]:
        answer = self.request("GET", (), query={"deployment": deployment} if deployment else None)
        return list(answer.get("value") or [])

    def cancel(self, name: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.request("POST", (name, "cancel"))
        return answer


# ---------------------------------------------------------------- datastore URIs <-> host paths


def datastore_folders(ep: Mapping[str, Any]) -> dict[str, Path]:
    """Datastore name -> host folder, from the endpoint's `datastores` output."""
    return {str(name): Path(str(folder)) for name, folder in (ep.get("datastores") or {}).items()}


def _parse(uri: str, what: str) -> tuple[str, str]:
    try:
        location = parse_uri(uri, what)
    except BadRequest as exc:
        raise CliError(str(exc)) from None
    return location.datastore, location.path


def host_path(uri: str, folders: Mapping[str, Path]) -> Path:
    """`azureml://datastores/<ds>/paths/<p>` -> the file or folder on this machine."""
    datastore, path = _parse(uri, "URI")
    folder = folders.get(datastore)
    if folder is None:
        known = ", ".join(sorted(folders)) or "none"
        raise CliError(f"{uri}: datastore {datastore!r} is not in the stack's outputs (datastores: {known})")
    return folder / path if path else folder


def datastore_uri(path: Path, folders: Mapping[str, Path], folder: bool = False) -> str | None:
    """A host path inside a datastore folder -> its datastore URI (None: in no datastore)."""
    real = Path(os.path.realpath(path))
    best: tuple[int, str, str] | None = None
    for name, root in folders.items():
        real_root = Path(os.path.realpath(root))
        if real == real_root or real_root in real.parents:
            relative = real.relative_to(real_root).as_posix()
            depth = len(real_root.parts)
            if best is None or depth > best[0]:
                best = (depth, name, "" if relative == "." else relative)
    if best is None:
        return None
    tail = best[2] + ("/" if folder and best[2] else "")
    return f"azureml://datastores/{best[1]}/paths/{tail}"


def _shown(uri: str | None, folders: Mapping[str, Path]) -> str:
    """The host path of a URI for display; says why when there is none, or when nothing is there."""
    if not uri:
        return "-"
    try:
        path = host_path(uri, folders)
    except CliError as exc:
        return f"(no host path: {exc})"
    return str(path) if path.exists() else f"{path} (not there)"


# ---------------------------------------------------------------- inputs: local paths, data assets, URIs


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
            f"{what} {value}: data asset references are not resolved locally; pass the asset's YAML "
            f"file, a local path or {DATASTORE_URI}"
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


def resolve_input(
    value: str, input_type: str | None, folders: Mapping[str, Path], cwd: Path | None = None
) -> ResolvedInput:
    """`--input` as `az ml batch-endpoint invoke` takes it: a local path or data asset YAML (uploaded
    to the default datastore), or a datastore URI (passed through)."""
    if _SCHEME.match(value) and not Path(value).exists():
        _refuse_uri(value, "--input")
        return _datastore_input(value, input_type, folders)
    path = (cwd or Path.cwd()) / Path(value).expanduser()
    what = f"--input {value}"
    if not path.exists():
        raise CliError(f"{what}: no such file or folder (or pass {DATASTORE_URI})")
    asset = load_data_asset(path) if path.is_file() else None
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


# ---------------------------------------------------------------- overrides and the request body


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


# ---------------------------------------------------------------- progress


class Progress:
    """A tqdm bar over a job's mini-batches: settled/total, failed and rows, tqdm's rate and ETA.

    Drawn from each poll's counts (tqdm's rate is then the average since the bar started). On a
    terminal it redraws every poll so the clock moves; elsewhere only when something changed.
    """

    BAR_FORMAT = (
        "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} mini-batches "
        "[{elapsed}<{remaining}, {rate_noinv_fmt}{postfix}]"
    )

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.bar: Any = None
        self._shown: tuple[Any, ...] | None = None

    def update(self, job: Mapping[str, Any], note: str | None = None) -> None:
        props = job.get("properties") or {}
        progress = props.get("progress") or {}
        batches = progress.get("miniBatches") or {}
        total = int(batches.get("total") or 0) or None
        failed = int(batches.get("failed") or 0)
        settled = int(batches.get("succeeded") or 0) + failed
        status = str(props.get("status") or "Queued")
        postfix = f"failed={failed}, rows={int(progress.get('rows') or 0)}" + (f", {note}" if note else "")
        state = (status, settled, total, postfix)
        if self.bar is None:
            columns, lines = _screen(self.stream)
            self.bar = tqdm(
                total=total, initial=settled, desc=status, postfix=postfix, unit="", file=self.stream,
                bar_format=self.BAR_FORMAT, ncols=columns, nrows=lines, mininterval=0, leave=True,
            )  # fmt: skip
            self._shown = state  # a new bar draws itself
        self.bar.total, self.bar.n = total, settled
        self.bar.set_description_str(status, refresh=False)
        self.bar.set_postfix_str(postfix, refresh=False)
        if state != self._shown or _is_tty(self.stream):
            self.bar.refresh()
            self._shown = state

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _screen(stream: TextIO) -> tuple[int, int]:
    """Columns and lines of the terminal, with fallbacks: on a pty nobody sized (0 x 0) tqdm's own
    guess is -1 lines, and it then draws nothing at all."""
    try:
        size = os.get_terminal_size(stream.fileno())
    except (AttributeError, ValueError, OSError, io.UnsupportedOperation):
        return FALLBACK_SCREEN
    return (
        size.columns if size.columns >= 40 else FALLBACK_SCREEN[0],
        size.lines if size.lines >= 2 else FALLBACK_SCREEN[1],
    )


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def wait_for_job(
    api: JobsApi,
    name: str,
    stream: TextIO,
    interval: float = POLL_INTERVAL_S,
    grace: float = OUTAGE_GRACE_S,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Poll the job until it ends, drawing its progress; ride out short controller outages."""
    progress = Progress(stream)
    last: dict[str, Any] = {}
    down_since: float | None = None
    try:
        while True:
            try:
                job = api.job(name)
            except ControllerDown:
                now = clock()
                down_since = now if down_since is None else down_since
                if now - down_since > grace:
                    raise
                progress.update(last, note="controller not answering, retrying")
                sleep(interval)
                continue
            down_since, last = None, job
            progress.update(job)
            if (job.get("properties") or {}).get("status") in TERMINAL:
                return job
            sleep(interval)
    finally:
        progress.close()


# ---------------------------------------------------------------- describing jobs


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def duration(props: Mapping[str, Any]) -> str:
    start, end = _time(props.get("startTime")), _time(props.get("endTime"))
    if start is None or end is None:
        return ""
    return f"{(end - start).total_seconds():.1f} s"


def _seconds(duration: Any) -> str:
    """Azure's `PT30S` as `30 s`; anything else as it is."""
    match = re.fullmatch(r"PT(\d+)S", str(duration))
    return f"{match[1]} s" if match else str(duration)


def _short_time(value: str | None) -> str:
    parsed = _time(value)
    return parsed.strftime("%Y-%m-%d %H:%M:%S") if parsed else "-"


def _single(entries: Any) -> tuple[str, dict[str, Any]]:
    if isinstance(entries, dict) and entries:
        name, entry = next(iter(entries.items()))
        return str(name), dict(entry or {})
    return "-", {}


def output_folder_uri(props: Mapping[str, Any]) -> str | None:
    """The job's score output folder (a UriFile output's parent)."""
    _, output = _single(props.get("outputData"))
    uri = output.get("uri")
    if not uri:
        return None
    if output.get("jobOutputType") == "UriFile":
        return str(PurePosixPath(str(uri))).rsplit("/", 1)[0] + "/"
    return str(uri)


def progress_text(props: Mapping[str, Any]) -> str:
    progress = props.get("progress") or {}
    mb = progress.get("miniBatches") or {}
    settled = int(mb.get("succeeded") or 0) + int(mb.get("failed") or 0)
    text = (
        f"{settled} of {mb.get('total', 0)} settled: {mb.get('succeeded', 0)} succeeded, "
        f"{mb.get('failed', 0)} failed, {mb.get('running', 0)} running, {mb.get('pending', 0)} pending"
    )
    return text + (f", {mb['canceled']} canceled" if mb.get("canceled") else "")


def describe_job(job: Mapping[str, Any], folders: Mapping[str, Path]) -> list[str]:
    """`mle batch show`: status, deployment, times, progress, URIs with their host paths, error."""
    props = job.get("properties") or {}
    progress = props.get("progress") or {}
    files = progress.get("files") or {}
    input_name, data = _single(props.get("inputData"))
    output_name, output = _single(props.get("outputData"))
    retry = props.get("retrySettings") or {}
    took = duration(props)
    lines = [
        f"job:          {job.get('name')}",
        f"status:       {props.get('status')}",
        f"endpoint:     {props.get('endpointName')}",
        f"deployment:   {props.get('deploymentName')}",
        f"created:      {props.get('creationTime') or '-'}",
        f"started:      {props.get('startTime') or '-'}",
        f"ended:        {props.get('endTime') or '-'}" + (f" (took {took})" if took else ""),
        f"mini-batches: {progress_text(props)}",
        f"files:        {files.get('total', 0)} total, {files.get('succeeded', 0)} succeeded, "
        f"{files.get('failed', 0)} failed",
        f"rows:         {progress.get('rows', 0)}; failed tries {progress.get('failedTries', 0)}",
        f"settings:     mini_batch_size {props.get('miniBatchSize')}, instance_count "
        f"{(props.get('compute') or {}).get('instanceCount')}, max_retries {retry.get('maxRetries')}, "
        f"timeout {_seconds(retry.get('timeout'))}, error_threshold {props.get('errorThreshold')}, "
        f"{props.get('outputAction')}, overwrite {str(props.get('overwrite')).lower()}",
        f"input:        {input_name} ({data.get('jobInputType')}) {data.get('uri')}",
        f"              host: {_shown(data.get('uri'), folders)}",
        f"output:       {output_name} ({output.get('jobOutputType')}) {output.get('uri')}",
        f"              host: {_shown(output.get('uri'), folders)}",
    ]
    if props.get("outputFileUri"):
        lines += [
            f"output file:  {props['outputFileUri']}",
            f"              host: {_shown(props['outputFileUri'], folders)}",
        ]
    else:
        lines.append(f"output file:  none ({props.get('outputAction')}: counts only)")
    lines += [
        f"logs:         {props.get('logsUri')}",
        f"              host: {_shown(props.get('logsUri'), folders)}",
    ]
    error = props.get("error") or {}
    if error.get("message"):
        lines.append(f"error:        {error['message']}")
    return lines


def outcome_lines(job: Mapping[str, Any], folders: Mapping[str, Path]) -> list[str]:
    """What `invoke --wait` prints when the job ends."""
    props = job.get("properties") or {}
    progress = props.get("progress") or {}
    mb, files = progress.get("miniBatches") or {}, progress.get("files") or {}
    took = duration(props)
    lines = [
        f"job {job.get('name')}: {props.get('status')}" + (f" in {took}" if took else ""),
        f"mini-batches: {mb.get('succeeded', 0)} succeeded, {mb.get('failed', 0)} failed of "
        f"{mb.get('total', 0)}; files: {files.get('succeeded', 0)} of {files.get('total', 0)} succeeded; "
        f"rows: {progress.get('rows', 0)}",
    ]
    if props.get("outputFileUri"):
        lines.append(f"output: {_shown(props['outputFileUri'], folders)}")
    else:
        lines.append(f"output: no output file ({props.get('outputAction')})")
    error = props.get("error") or {}
    if props.get("status") != "Completed":
        if error.get("message"):
            lines.append(f"error: {error['message']}")
        lines.append(f"logs: scripts/mle batch logs {job.get('name')}")
    return lines


def jobs_table(jobs: Sequence[Mapping[str, Any]]) -> list[str]:
    """`mle batch list`: newest first."""
    rows = [("NAME", "STATUS", "DEPLOYMENT", "CREATED (UTC)", "MINI-BATCHES", "ROWS")]
    ordered = sorted(jobs, key=lambda j: str((j.get("properties") or {}).get("creationTime")), reverse=True)
    for job in ordered:
        props = job.get("properties") or {}
        progress = props.get("progress") or {}
        mb = progress.get("miniBatches") or {}
        settled = int(mb.get("succeeded") or 0) + int(mb.get("failed") or 0)
        batches = f"{settled}/{mb.get('total', 0)}" + (
            f" ({mb['failed']} failed)" if mb.get("failed") else ""
        )
        rows.append(
            (
                str(job.get("name")),
                str(props.get("status")),
                str(props.get("deploymentName")),
                _short_time(props.get("creationTime")),
                batches,
                str(progress.get("rows", 0)),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]


# ---------------------------------------------------------------- logs and downloads on the host


def job_logs_folder(name: str, job: Mapping[str, Any] | None, folders: Mapping[str, Path]) -> Path:
    logs_uri = ((job or {}).get("properties") or {}).get("logsUri")
    if logs_uri:
        return host_path(str(logs_uri), folders)
    store = folders.get(DEFAULT_DATASTORE)
    if store is None:
        raise CliError(f"the stack exports no folder for the default datastore {DEFAULT_DATASTORE}")
    return store / "azureml" / name / "logs"


def user_log_nodes(logs: Path) -> list[str]:
    user = logs / "user"
    return sorted(
        {p.name for kind in ("stdout", "stderr", "error") for p in (user / kind).glob("*") if p.is_dir()}
    )


def pick_nodes(nodes: Sequence[str], wanted: str | None) -> list[str]:
    """All nodes, or the one named (full name, or a unique part of it such as the suffix)."""
    if wanted is None:
        return list(nodes)
    if wanted in nodes:
        return [wanted]
    matches = [n for n in nodes if wanted in n]
    if len(matches) == 1:
        return matches
    listed = ", ".join(nodes) or "none yet"
    if matches:
        raise CliError(f"--node {wanted} matches several nodes: {', '.join(matches)}")
    raise CliError(f"no node {wanted!r} in the job's user logs; nodes: {listed}")


def log_files(logs: Path, node: str | None = None) -> list[Path]:
    """The job's summary logs, then the user logs of the chosen node(s) (empty ones left out)."""
    chosen: list[Path] = [logs / "job_result.txt", logs / "job_error.txt"]
    overviews = sorted(logs.glob("job_progress_overview.*.txt"))
    chosen += overviews[-1:]
    summary = [p for p in chosen if p.is_file()]
    user: list[Path] = []
    for name in pick_nodes(user_log_nodes(logs), node):
        for kind in ("stdout", "stderr", "error"):
            user += sorted(p for p in (logs / "user" / kind / name).glob("process*.txt") if p.is_file())
    return summary + [p for p in user if p.stat().st_size > 0]


def tail_text(text: str, lines: int | None) -> str:
    if lines is None:
        return text
    kept = text.splitlines(keepends=True)
    return "".join(kept[-lines:]) if lines > 0 else ""


def download_plan(source: Path, destination: Path) -> list[tuple[Path, Path]]:
    """(from, to) for every output file (hidden ones, e.g. merges in progress, left out)."""
    if source.is_file():
        return [(source, destination / source.name)]
    return [(path, destination / rel) for rel, path in _visible_files(source)]


def copy_files(plan: Sequence[tuple[Path, Path]], overwrite: bool) -> int:
    """Copy every file (temp name, then rename); nothing at all when one would be overwritten."""
    existing = [to for _, to in plan if to.exists()]
    if existing and not overwrite:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise CliError(f"{existing[0]} already exists{more}; pass --overwrite to replace")
    total = 0
    for source, to in plan:
        temporary = to.with_name(f".{to.name}.download-{os.getpid()}")
        try:
            to.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, temporary)
            os.replace(temporary, to)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise CliError(f"cannot copy {source} to {to}: {exc.strerror or exc}") from None
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        total += to.stat().st_size
    return total


# ---------------------------------------------------------------- commands


def _endpoint_for(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    job = getattr(args, "job", None)
    if job is not None and not JOB_NAME.match(job):  # it becomes a URL and a folder name
        raise CliError(f"{job!r} is not a job name (letters, digits, '-' and '_')")
    outputs = endpoint_cli.stack_outputs(args.stack, secrets=True)
    return pick_batch_endpoint(outputs, args.endpoint)


def _interrupted(name: str) -> int:
    print(
        f"\nstopped waiting; job {name} keeps running. Follow it: scripts/mle batch show {name} --wait; "
        f"cancel it: scripts/mle batch cancel {name}",
        file=sys.stderr,
    )
    return 130


def _follow(api: JobsApi, name: str, folders: Mapping[str, Path]) -> int:
    try:
        job = wait_for_job(api, name, sys.stderr)
    except KeyboardInterrupt:
        return _interrupted(name)
    for line in outcome_lines(job, folders):
        print(line)
    return 0 if (job.get("properties") or {}).get("status") == "Completed" else 1


def invoke(args: argparse.Namespace) -> int:
    name, ep = _endpoint_for(args)
    folders = datastore_folders(ep)
    flags = {
        "mini_batch_size": args.mini_batch_size,
        "instance_count": args.instance_count,
        "output_file_name": args.output_file_name,
    }
    overrides = parse_overrides(args.set or [], flags)
    output = resolve_output(args.output_path, folders) if args.output_path else None
    data = resolve_input(args.input, args.input_type, folders)
    if data.source is not None:
        done = "uploaded" if data.copied else "already uploaded"
        files = f"{data.files} file{'s' * (data.files != 1)}"
        print(f"input {data.source} ({files}, {done}): {data.uri}", file=sys.stderr)
    job = JobsApi(name, ep).invoke(build_body(data, overrides, output), args.deployment)
    job_name = str(job.get("name"))
    print(job_name, flush=True)
    if not args.wait:
        return 0
    return _follow(JobsApi(name, ep), job_name, folders)


def show_job(args: argparse.Namespace) -> int:
    name, ep = _endpoint_for(args)
    api = JobsApi(name, ep)
    if args.wait:
        return _follow(api, args.job, datastore_folders(ep))
    job = api.job(args.job)
    if args.json:
        print(json.dumps(job, indent=2))
        return 0
    for line in describe_job(job, datastore_folders(ep)):
        print(line)
    return 0


def list_jobs(args: argparse.Namespace) -> int:
    name, ep = _endpoint_for(args)
    jobs = JobsApi(name, ep).jobs(args.deployment)
    if not jobs:
        print(f"no jobs on endpoint {name}" + (f" for deployment {args.deployment}" * bool(args.deployment)))
        return 0
    for line in jobs_table(jobs):
        print(line)
    return 0


def logs(args: argparse.Namespace) -> int:
    name, ep = _endpoint_for(args)
    folders = datastore_folders(ep)
    try:
        job: dict[str, Any] | None = JobsApi(name, ep).job(args.job)
    except ControllerDown as exc:  # the logs are files on this machine: read them anyway
        print(f"mle: {exc}; reading the job folder directly", file=sys.stderr)
        job = None
    folder = job_logs_folder(args.job, job, folders)
    if not folder.is_dir():
        raise CliError(f"job {args.job} has no logs yet ({folder} does not exist)")
    files = log_files(folder, args.node)
    print(f"job folder: {folder.parent}", flush=True)
    if not files:
        print("no log files yet")
    for path in files:
        print(f"\n==> {path.relative_to(folder.parent)} <==")
        text = tail_text(path.read_text(encoding="utf-8", errors="replace"), args.tail)
        sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
    report = folder / "sys" / "job_report" / "processed_mini-batches.csv"
    if report.is_file():
        print(f"\nmini-batch report (every try of every mini-batch): {report}")
    return 0


def cancel(args: argparse.Namespace) -> int:
    name, ep = _endpoint_for(args)
    job = JobsApi(name, ep).cancel(args.job)
    print(f"job {job.get('name', args.job)}: {(job.get('properties') or {}).get('status')}")
    return 0


def download(args: argparse.Namespace) -> int:
    name, ep = _endpoint_for(args)
    folders = datastore_folders(ep)
    job = JobsApi(name, ep).job(args.job)
    props = job.get("properties") or {}
    folder_uri = output_folder_uri(props)
    if folder_uri is None:
        raise CliError(f"job {args.job} names no output")
    source = host_path(folder_uri, folders)
    destination = Path(args.output)
    if destination.exists() and not destination.is_dir():
        raise CliError(f"--output {destination} is a file, not a folder")
    plan = download_plan(source, destination) if source.is_dir() else []
    if not plan:
        raise CliError(f"job {args.job} has no output files in {source} (status {props.get('status')})")
    if props.get("status") not in TERMINAL:
        print(f"mle: job {args.job} is {props.get('status')}: its outputs are not final", file=sys.stderr)
    size = copy_files(plan, args.overwrite)
    print(f"copied {len(plan)} file(s), {size} bytes, from {source} to {destination}")
    if props.get("outputFileName") and (destination / str(props["outputFileName"])).is_file():
        print(f"output file: {destination / str(props['outputFileName'])}")
    return 0


# ---------------------------------------------------------------- `mle show` of a batch endpoint


def show_endpoint(
    name: str, ep: Mapping[str, Any], stack: str, live: list[local_status.ContainerState] | None
) -> None:
    """Invoke URI, default deployment, deployments with their nodes now, controller and agent."""
    print(f"endpoint:           {name} (batch)")
    print(f"provisioning_state: {ep.get('provisioning_state')}")
    print(f"invoke_uri:         {ep.get('invoke_uri')}")
    print(f"auth_mode:          {ep.get('auth_mode')}")
    print(f"default deployment: {ep.get('default_deployment') or '(none)'}")
    for store, folder in sorted((ep.get("datastores") or {}).items()):
        print(f"datastore {store}: {folder}")
    for deployment, state in sorted((ep.get("deployments") or {}).items()):
        print(f"deployment {deployment}: {state} (last pulumi up); cluster nodes now:")
        if live is None:
            print("  (no Docker engine answers: what runs is unknown)")
            continue
        nodes = [s for s in live if s.role == "node" and s.deployment == deployment]
        if not nodes:
            print("  none (nodes start when a job needs them)")
        for node in sorted(nodes, key=lambda s: s.name):
            print(f"  {node.name}: {node.summary}, started {node.started_at[:19]}")
    for role in ("controller", "agent"):
        print(f"{role}:")
        states = None if live is None else [s for s in live if s.role == role]
        endpoint_cli.print_containers(states, f"no {role} container")
    print("\ninvoke:")
    print(f"  scripts/mle batch invoke {name} --input <folder or file> --wait")
    print(
        f"  TOKEN=$(scripts/mle --stack {stack} token {name} | "
        "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"accessToken\"])')"
    )
    print(
        f'  curl -s {ep.get("invoke_uri")} -H "Authorization: Bearer $TOKEN" '
        '-H \'Content-Type: application/json\' -d \'{"properties": {"InputData": {"input_data": '
        '{"JobInputType": "UriFolder", "Uri": "azureml://datastores/workspaceblobstore/paths/<folder>"}}}}\''
    )


def add_parser(sub: Any) -> None:
    """Register `batch` and its subcommands on `mle`'s subparsers."""
    b = sub.add_parser("batch", help="batch endpoints: invoke jobs, follow, list, logs, cancel, download")
    cmds = b.add_subparsers(dest="batch_command", required=True)
    i = cmds.add_parser("invoke", help="start a job on a batch endpoint; prints the job name")
    i.add_argument("endpoint", nargs="?", help="batch endpoint (default: the stack's only one)")
    i.add_argument(
        "--input", required=True, help=f"local file or folder, data asset YAML, or {DATASTORE_URI}"
    )
    i.add_argument("--input-type", choices=sorted(_KINDS), help="default: what --input is")
    i.add_argument("--deployment", help="run on this deployment (default: the endpoint's default)")
    i.add_argument("--set", action="append", metavar="KEY=VALUE", help=f"override: {', '.join(OVERRIDES)}")
    i.add_argument("--mini-batch-size", type=int)
    i.add_argument("--instance-count", type=int)
    i.add_argument("--output-path", help=f"output folder: {DATASTORE_URI} (default: the job's folder)")
    i.add_argument("--output-file-name")
    i.add_argument("--wait", action="store_true", help="draw the job's progress until it ends")
    i.set_defaults(func=invoke)
    s = cmds.add_parser("show", help="a job's status, progress, inputs, outputs and error")
    s.add_argument("job")
    s.add_argument("--endpoint")
    s.add_argument("--wait", action="store_true", help="follow the job's progress until it ends")
    s.add_argument("--json", action="store_true", help="the job resource as the controller answers it")
    s.set_defaults(func=show_job)
    ls = cmds.add_parser("list", help="the jobs of a batch endpoint, newest first")
    ls.add_argument("endpoint", nargs="?")
    ls.add_argument("--deployment")
    ls.set_defaults(func=list_jobs)
    g = cmds.add_parser("logs", help="a job's result, progress and user logs (from the job folder)")
    g.add_argument("job")
    g.add_argument("--endpoint")
    g.add_argument("--node", help="only this node's user logs (its name or a unique part of it)")
    g.add_argument("--tail", type=int, help="last N lines of each file")
    g.set_defaults(func=logs)
    c = cmds.add_parser("cancel", help="cancel a queued or running job")
    c.add_argument("job")
    c.add_argument("--endpoint")
    c.set_defaults(func=cancel)
    d = cmds.add_parser("download", help="copy a job's score output folder into a folder")
    d.add_argument("job")
    d.add_argument("--endpoint")
    d.add_argument("--output", required=True, help="destination folder (created when missing)")
    d.add_argument("--overwrite", action="store_true", help="replace files that exist there")
    d.set_defaults(func=download)
