"""Router process settings from MLE_ROUTER_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from serving.router.config import RouterSecrets, load_secrets_file
from serving.router.errors import ConfigError


class RouterSettings(BaseSettings):
    """Where the config lives, where secrets come from, ports and the nginx binary."""

    model_config = SettingsConfigDict(env_prefix="MLE_ROUTER_", extra="ignore")

    config: Path
    # A secrets file is watched like the config, so keys rotate without a restart; env secrets need one.
    secrets_file: Path | None = None
    primary_key: SecretStr | None = None
    secondary_key: SecretStr | None = None
    token_secret: SecretStr | None = None

    host: str = "0.0.0.0"
    port: int = Field(default=8080, ge=1, le=65535)
    # 0 turns the unauthenticated scrape port off; /metrics on the main port (with auth) stays.
    metrics_port: int = Field(default=9091, ge=0, le=65535)
    run_dir: Path | None = None
    nginx: str = "nginx"
    workers: str = "auto"  # "auto": the CPUs affinity and cgroup quota allow, not the host's count
    # How often the request log is drained and the config file checked; small batches keep the
    # metrics work from landing on the data path in bursts.
    poll_interval_s: float = Field(default=0.25, gt=0)
    # Instances that restart may come back on another address: looked up again every second, so
    # a healed instance serves again within about a second (a lookup is one query to Docker's DNS).
    resolve_interval_s: float = Field(default=1.0, gt=0)
    shutdown_timeout_s: float = Field(default=30.0, gt=0)
    log_rotate_mb: int = Field(default=64, ge=1)

    @field_validator("primary_key", "secondary_key", "token_secret")
    @classmethod
    def _empty_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        # Deploy tooling often passes "" for "no secondary key".
        return value if value is not None and value.get_secret_value() else None

    @field_validator("workers")
    @classmethod
    def _workers(cls, value: str) -> str:
        if value != "auto" and not (value.isdigit() and int(value) > 0):
            raise ValueError("use 'auto' or a positive number")
        return value

    def load_secrets(self) -> tuple[RouterSecrets, str]:
        """Secrets and a description of their source (for messages; never the values)."""
        if self.secrets_file is not None:
            return load_secrets_file(self.secrets_file), f"secrets file {self.secrets_file}"
        try:
            secrets = RouterSecrets(
                primary_key=self.primary_key,
                secondary_key=self.secondary_key,
                token_secret=self.token_secret,
            )
        except ValidationError as exc:
            fields = ", ".join(
                f"MLE_ROUTER_{str(e['loc'][0]).upper()}: {e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors()
            )
            raise ConfigError(f"router secrets from environment: {fields}") from None
        return secrets, "MLE_ROUTER_* environment"
