"""Router config (the JSON the deploy side writes) and its secrets (keys, token secret), validated."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from serving.router.errors import ConfigError

AuthMode = Literal["key", "aml_token", "aad_token"]

# Azure ML's naming rule for endpoints and deployments; it also keeps names safe inside nginx.conf.
NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9-]{2,31}$")
# host:port where host is a DNS name, an IPv4 address or a bracketed IPv6 address.
INSTANCE_PATTERN = re.compile(r"^(?P<host>[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]):(?P<port>[0-9]{1,5})$")
# Keys travel inside nginx.conf string literals: no quotes, spaces, backslashes or `$` allowed.
KEY_PATTERN = re.compile(r"^[A-Za-z0-9._~+/=-]{16,256}$")
MAX_MIRROR_PERCENT = 50


def _check_name(kind: str, name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise ValueError(
            f"{kind} name {name!r} is invalid: 3-32 characters, "
            "a letter first, then letters, digits or hyphens"
        )
    return name


def split_instance(instance: str) -> tuple[str, int]:
    """Split `host:port` (the form the config carries) into host (brackets stripped) and port."""
    match = INSTANCE_PATTERN.match(instance)
    if match is None:
        raise ValueError(f"instance {instance!r} is not host:port")
    port = int(match["port"])
    if not 0 < port < 65536:
        raise ValueError(f"instance {instance!r} has port {port} outside 1-65535")
    return match["host"].strip("[]"), port


class DeploymentRoute(BaseModel):
    """Where one deployment's scorer instances listen and how the router treats them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    instances: tuple[str, ...] = ()
    request_timeout_ms: int = Field(default=5000, ge=1, le=3_600_000)
    max_fails: int = Field(default=3, ge=1, le=1000)
    fail_timeout_s: int = Field(default=10, ge=1, le=3600)
    # Print a line per request this deployment serves (the deployment's app_insights_enabled).
    log_requests: bool = True

    @field_validator("instances")
    @classmethod
    def _instances_are_host_port(cls, instances: tuple[str, ...]) -> tuple[str, ...]:
        for instance in instances:
            split_instance(instance)
        if len(set(instances)) != len(instances):
            raise ValueError("instances repeat an address")
        return instances


class RouterConfig(BaseModel):
    """The endpoint as the router sees it: deployments, live and mirror traffic, auth mode."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoint: str
    auth_mode: AuthMode = "key"
    deployments: dict[str, DeploymentRoute] = Field(default_factory=dict)
    traffic: dict[str, int] = Field(default_factory=dict)
    mirror_traffic: dict[str, int] = Field(default_factory=dict)
    log_requests: bool = True
    connect_timeout_ms: int = Field(default=1000, ge=1, le=60_000)
    max_body_mb: int = Field(default=100, ge=1, le=4096)
    max_pending_mirrors: int = Field(default=1024, ge=1, le=100_000)

    @field_validator("endpoint")
    @classmethod
    def _endpoint_name(cls, name: str) -> str:
        return _check_name("endpoint", name)

    @field_validator("deployments")
    @classmethod
    def _deployment_names(cls, deployments: dict[str, DeploymentRoute]) -> dict[str, DeploymentRoute]:
        for name in deployments:
            _check_name("deployment", name)
        # The header match ignores case (as Azure ML's names do), so names may not differ only by case.
        if len({name.lower() for name in deployments}) != len(deployments):
            raise ValueError("deployment names must differ by more than letter case")
        return deployments

    @model_validator(mode="after")
    def _traffic_is_consistent(self) -> RouterConfig:
        known = ", ".join(sorted(self.deployments)) or "none"
        for field, weights in (("traffic", self.traffic), ("mirror_traffic", self.mirror_traffic)):
            for name, percent in weights.items():
                if name not in self.deployments:
                    raise ValueError(f"{field} names deployment {name!r}, which is not one of: {known}")
                if not 0 <= percent <= 100:
                    raise ValueError(f"{field}[{name!r}] is {percent}; use a percentage from 0 to 100")
        total = sum(self.traffic.values())
        if total not in (0, 100):
            raise ValueError(f"traffic weights sum to {total}; they must sum to 100 (or all be 0)")
        mirrors = {name: percent for name, percent in self.mirror_traffic.items() if percent}
        if len(mirrors) > 1:
            raise ValueError(f"mirror_traffic names {len(mirrors)} deployments; at most one may be mirrored")
        for name, percent in mirrors.items():
            if percent > MAX_MIRROR_PERCENT:
                raise ValueError(f"mirror_traffic[{name!r}] is {percent}; at most {MAX_MIRROR_PERCENT} %")
            if self.traffic.get(name) == 100:
                raise ValueError(f"mirror_traffic[{name!r}]: it already takes 100 % of live traffic")
        return self

    @property
    def live_traffic(self) -> dict[str, int]:
        """Deployments with a positive weight (empty when the endpoint takes no weighted traffic)."""
        return {name: percent for name, percent in sorted(self.traffic.items()) if percent > 0}

    @property
    def mirror(self) -> tuple[str, int] | None:
        """The mirrored deployment and its share, if any."""
        for name, percent in sorted(self.mirror_traffic.items()):
            if percent > 0:
                return name, percent
        return None

    @property
    def read_timeout_ms(self) -> int:
        """Router-side backstop: the scorers time requests out themselves, this catches a hung one."""
        longest = max((d.request_timeout_ms for d in self.deployments.values()), default=5000)
        return longest + 1000


class RouterSecrets(BaseModel):
    """Keys and the token secret; repr and logs show them masked."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    primary_key: SecretStr | None = None
    secondary_key: SecretStr | None = None
    token_secret: SecretStr | None = None

    @field_validator("primary_key", "secondary_key")
    @classmethod
    def _key_charset(cls, key: SecretStr | None) -> SecretStr | None:
        if key is not None and not KEY_PATTERN.match(key.get_secret_value()):
            raise ValueError("key must be 16-256 characters from A-Z a-z 0-9 . _ ~ + / = -")
        return key

    @field_validator("token_secret")
    @classmethod
    def _secret_length(cls, secret: SecretStr | None) -> SecretStr | None:
        if secret is not None and len(secret.get_secret_value()) < 32:
            raise ValueError("token_secret must be at least 32 characters")
        return secret

    def accepted_keys(self) -> tuple[str, ...]:
        """The accepted keys, primary first."""
        return tuple(k.get_secret_value() for k in (self.primary_key, self.secondary_key) if k is not None)

    def require_for(self, config: RouterConfig, source: str) -> None:
        """Fail unless the auth mode's secret is present; `source` says where secrets were read from."""
        if config.auth_mode == "key" and not self.accepted_keys():
            raise ConfigError(f"auth_mode is key but {source} gives neither primary_key nor secondary_key")
        if config.auth_mode != "key" and self.token_secret is None:
            raise ConfigError(f"auth_mode is {config.auth_mode} but {source} gives no token_secret")


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "(top level)"
        parts.append(f"{where}: {item['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def parse_config(text: str, source: str = "router config") -> RouterConfig:
    """Validate config JSON text; errors name the source and the field."""
    try:
        return RouterConfig.model_validate(json.loads(text))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source}: not valid JSON ({exc})") from None
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_describe(exc)}") from None


def files_digest(config_text: str, secrets_text: str = "") -> str:
    """Digest of the config and secrets files' contents; the router reports the one it has applied.

    The deploy side computes it from what it wrote and waits until the router's health answer
    carries it, so an update that changes traffic or keys returns only once they are in force.
    """
    return hashlib.sha256(config_text.encode() + b"\0" + secrets_text.encode()).hexdigest()[:16]


def load_config(path: Path) -> RouterConfig:
    """Read and validate the router config file the deploy side wrote."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"router config {path}: cannot read it ({exc.strerror})") from None
    return parse_config(text, f"router config {path}")


def load_secrets_file(path: Path) -> RouterSecrets:
    """Read secrets from a JSON file; messages never echo the values."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"router secrets {path}: cannot read it ({exc.strerror})") from None
    except json.JSONDecodeError:
        raise ConfigError(f"router secrets {path}: not valid JSON") from None
    try:
        return RouterSecrets.model_validate(data)
    except ValidationError as exc:
        # Only locations and messages: pydantic's `input` would carry the secret itself.
        raise ConfigError(f"router secrets {path}: {_describe(exc)}") from None
