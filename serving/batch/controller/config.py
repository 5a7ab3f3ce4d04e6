"""The controller's config and secrets files: parsed, validated, and re-read when they change."""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from serving.batch.controller.errors import ConfigError
from serving.batch.controller.settings import ControllerSettings
from serving.batch.protocol import ControllerConfig
from serving.router.config import RouterSecrets, files_digest

log = logging.getLogger("serving.batch.controller")

# (mtime_ns, size, inode) of the config and of the secrets file (None: no secrets file).
_Signature = tuple[tuple[int, int, int], tuple[int, int, int] | None]


def _describe(error: ValidationError) -> str:
    # Locations and messages only: pydantic's `input` could carry a secret.
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "(top level)"
        parts.append(f"{where}: {item['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def parse_config(text: str, source: str) -> ControllerConfig:
    """Validate config JSON; errors name the source and the field."""
    try:
        return ControllerConfig.model_validate(json.loads(text))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source}: not valid JSON ({exc})") from None
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_describe(exc)}") from None


def parse_secrets(text: str, source: str) -> RouterSecrets:
    """Validate secrets JSON (the router's format); messages never echo the values."""
    try:
        return RouterSecrets.model_validate(json.loads(text))
    except json.JSONDecodeError:
        raise ConfigError(f"{source}: not valid JSON") from None
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_describe(exc)}") from None


@dataclass(frozen=True)
class Applied:
    """A config and its secrets now in force, with the digest the health answer reports."""

    config: ControllerConfig
    secrets: RouterSecrets
    digest: str


def _stat(path: Path) -> tuple[int, int, int]:
    st = os.stat(path)
    return st.st_mtime_ns, st.st_size, st.st_ino


class ConfigWatcher:
    """Holds the applied config; `poll()` re-reads the files when their mtime, size or inode change.

    Invalid new content is logged and the previous config stays in force (a half-written file or a
    bad deploy must not take the endpoint down); the same bad content is reported once.
    """

    def __init__(self, settings: ControllerSettings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._seen: _Signature | None = None
        self._applied = self._load()

    @property
    def current(self) -> Applied:
        with self._lock:
            return self._applied

    def _signature(self) -> _Signature:
        secrets = self._settings.secrets_file
        return _stat(self._settings.config), (_stat(secrets) if secrets is not None else None)

    def _read(self, path: Path, what: str) -> str:
        try:
            return path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{what} {path}: cannot read it ({exc.strerror})") from None

    def _load(self) -> Applied:
        settings = self._settings
        try:
            self._seen = self._signature()
        except OSError as exc:
            raise ConfigError(f"cannot read {exc.filename}: {exc.strerror}") from None
        text = self._read(settings.config, "batch controller config")
        config = parse_config(text, f"batch controller config {settings.config}")
        if settings.secrets_file is not None:
            secrets_text = self._read(settings.secrets_file, "batch controller secrets")
            secrets = parse_secrets(secrets_text, f"batch controller secrets {settings.secrets_file}")
        else:
            secrets_text = ""
            secrets = RouterSecrets(
                primary_key=settings.primary_key,
                secondary_key=settings.secondary_key,
                token_secret=settings.token_secret,
            )
        return Applied(config, secrets, files_digest(text, secrets_text))

    def poll(self) -> bool:
        """Apply changed files; True when a new config is in force."""
        try:
            signature = self._signature()
        except OSError as exc:
            if self._seen is not None:
                log.error("config file unreadable (%s); keeping the config in force", exc.strerror)
                self._seen = None
            return False
        if signature == self._seen:
            return False
        try:
            applied = self._load()
        except ConfigError as exc:
            self._seen = signature
            log.error("new config not applied, keeping the one in force: %s", exc)
            return False
        with self._lock:
            changed = applied.digest != self._applied.digest
            self._applied = applied
        if changed:
            log.info("config applied (digest %s)", applied.digest)
        return changed
