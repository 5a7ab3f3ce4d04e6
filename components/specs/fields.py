"""Field types shared by the specs: names, counts, text, local paths and registered references."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo

from components.errors import close_matches, show
from components.skus import SKUS, find_sku

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

# Upper bounds of the integer fields (README "Limits of specs"): far above any real deployment, and
# low enough that a slip (an extra digit, 2**63) is refused here rather than overflowing Docker's,
# Kubernetes' (32-bit) or Azure's fields at `pulumi up`. Azure's documented maxima where there are any.
MAX_INSTANCES = 1000  # instances of one online deployment
MAX_NODES = 65_000  # nodes of one compute cluster (Azure's largest AmlCompute cluster) or batch job
MAX_REQUEST_TIMEOUT_MS = 180_000  # Azure managed online endpoints
MAX_QUEUE_WAIT_MS = 180_000  # a queued request cannot outwait the longest request timeout
MAX_CONCURRENT_REQUESTS = 1000  # per instance
MAX_PROBE_SECONDS = 3600  # probe initial delay, period and timeout
MAX_PROBE_THRESHOLD = 1000  # consecutive probe successes or failures
MAX_POLLING_INTERVAL_S = 3600  # autoscaler decisions
MAX_MINI_BATCH_SIZE = 1_000_000  # files per run() call
MAX_CONCURRENCY_PER_INSTANCE = 1000  # run() calls at once on one node
MAX_RETRIES = 100  # retries of one mini-batch
MAX_BATCH_TIMEOUT_S = 604_800  # one week for one mini-batch
MAX_ERROR_THRESHOLD = 2_147_483_647  # Azure's REST field is a 32-bit integer
MAX_IDLE_SECONDS = 604_800  # one week before an idle node is released
TextMap = dict[str, Text]
Switch = Annotated[Literal["enabled", "disabled"], BeforeValidator(_lower)]


def _context(info: ValidationInfo) -> tuple[Path | None, bool]:
    context = info.context if isinstance(info.context, Mapping) else {}
    base = context.get("base_dir")
    return (Path(base) if base is not None else None), bool(context.get("check_paths"))


def _is_remote(text: str) -> bool:
    return text.startswith("azureml:") or "://" in text


PathKind = Literal["file", "folder", "file or folder"]
Found = Literal["file", "folder", "other"]
_FOUND_TEXT: Mapping[Found, str] = MappingProxyType(
    {"file": "a file", "folder": "a folder", "other": "something that is neither file nor folder"}
)

# Linux's limits (limits.h): a name in a path is at most NAME_MAX bytes, a whole path PATH_MAX
# bytes counting its final NUL. Paths beyond them can never exist; the OS answers ENAMETOOLONG.
NAME_MAX = 255
PATH_MAX = 4096


def path_issue(path: str | os.PathLike[str]) -> str | None:
    """Why `path` can never name a file on this OS (a NUL character, a name or the path too long)."""
    text = os.fspath(path)
    if "\0" in text:
        return "the path contains a NUL character, which no file name can hold"
    try:
        raw = os.fsencode(text)
    except UnicodeError:
        return f"the path {show(text)} holds characters no file name can (unpaired surrogates)"
    if len(raw) >= PATH_MAX:
        return f"the path is {len(raw)} bytes long; this OS allows at most {PATH_MAX - 1} (PATH_MAX)"
    longest = max(raw.split(b"/"), key=len)
    if len(longest) > NAME_MAX:
        name = show(os.fsdecode(longest))
        return (
            f"the name {name} in the path is {len(longest)} bytes long; "
            f"this OS allows at most {NAME_MAX} (NAME_MAX)"
        )
    return None


def path_kind(path: str | os.PathLike[str]) -> Found | None:
    """What is at `path` (None: nothing); ValueError saying why when the OS cannot look there.

    Path.exists() and friends let ENAMETOOLONG, EACCES and friends escape as OSError (or hide them);
    every path a user gives goes through here instead, so each becomes a problem naming its field.
    """
    issue = path_issue(path)
    if issue is not None:
        raise ValueError(issue)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError as error:
        raise ValueError(f"cannot look at {path}: {error.strerror or error}") from None
    if stat.S_ISDIR(mode):
        return "folder"
    return "file" if stat.S_ISREG(mode) else "other"


def require_kind(path: Path, expect: PathKind, where: str = "") -> None:
    """ValueError unless `path` is an existing `expect` (a file, a folder, or either)."""
    found = path_kind(path)
    if found is None:
        raise ValueError(f"no such {expect}: {path}{where}")
    if expect == "file" and found != "file":
        raise ValueError(f"expected a file, found {_FOUND_TEXT[found]}: {path}{where}")
    if expect == "folder" and found != "folder":
        raise ValueError(f"expected a folder, found {_FOUND_TEXT[found]}: {path}{where}")
    if found == "other":
        raise ValueError(f"expected a {expect}, found {_FOUND_TEXT[found]}: {path}{where}")


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
    issue = path_issue(path)
    if issue is not None:  # checked even without path checks: such a path can never be deployed
        raise ValueError(issue)
    if check:
        where = f" ({value!r} resolved against {base})" if base is not None and path != Path(value) else ""
        require_kind(path, expect, where)
    return path


def _local_path(expect: PathKind) -> BeforeValidator:
    return BeforeValidator(lambda value, info: _resolve_local(value, info, expect))


def _conda_file(value: Any, info: ValidationInfo) -> Any:
    return dict(value) if isinstance(value, Mapping) else _resolve_local(value, info, "file")


LocalDir = Annotated[Path, _local_path("folder")]
LocalFileOrDir = Annotated[Path, _local_path("file or folder")]

_SHORT_REFERENCE = re.compile(r"azureml:[A-Za-z0-9_][A-Za-z0-9_.-]*(:[A-Za-z0-9_.-]+|@[A-Za-z0-9_.-]+)")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")
# The resource id `az ml ... show` prints as `id`: azureml:/subscriptions/.../models/<name>/versions/<v>.
_LONG_REFERENCE = re.compile(
    r"(azureml:)?/subscriptions/[^/\s]+/resourceGroups/[^/\s]+/providers/Microsoft\.MachineLearningServices/"
    r"workspaces/[^/\s]+/(models|environments|data|components)/[^/\s]+/versions/[^/\s]+",
    re.IGNORECASE,
)


def check_reference(value: str, what: str, local_hint: str, *, any_uri: bool = False) -> str:
    """Accept `azureml:name:version`, `azureml:name@label`, the resource id form, `azureml://...` (and
    other URIs if asked)."""
    if _SHORT_REFERENCE.fullmatch(value) or (value.startswith("azureml://") and _URI.fullmatch(value)):
        return value
    if _LONG_REFERENCE.fullmatch(value):
        return value
    if any_uri and _URI.fullmatch(value):
        return value
    raise ValueError(
        f"{value!r} is not a registered {what} reference (azureml:<name>:<version>, azureml:<name>@<label> "
        f"or azureml://...); {local_hint}"
    )


def known_vm_size(value: str, otherwise: str = "") -> str:
    """The catalog's spelling of a VM size, or an error listing the nearest known ones (else `otherwise`)."""
    sku = find_sku(value)
    if sku is not None:
        return sku.name
    near = close_matches(value.strip(), SKUS)
    if near:
        raise ValueError(f"unknown VM size {value!r}; nearest known: {', '.join(near)}")
    raise ValueError(f"unknown VM size {value!r}: not one of the sizes in components/skus.py{otherwise}")


def not_below_min_instances(value: int, info: ValidationInfo) -> int:
    """A `max_instances` validator: never fewer than the `min_instances` declared before it."""
    low = info.data.get("min_instances")
    if low is not None and value < low:
        raise ValueError(f"must be >= min_instances ({low}) (got {value})")
    return value
