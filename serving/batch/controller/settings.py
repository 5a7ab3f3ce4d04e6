"""Controller process settings from MLE_BATCH_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from serving.batch.protocol import DATASTORES_ROOT, INTERNAL_PORT, LEASE_EXPIRY_S, PUBLIC_PORT


class ControllerSettings(BaseSettings):
    """Where the config, state and datastores are, the two ports, and the secrets."""

    model_config = SettingsConfigDict(env_prefix="MLE_BATCH_", extra="ignore")

    config: Path  # ControllerConfig JSON, re-read when it changes
    state_dir: Path  # the SQLite job store lives here (a volume that outlives the container)
    datastores_root: Path = Path(DATASTORES_ROOT)

    host: str = "0.0.0.0"
    port: int = Field(default=PUBLIC_PORT, ge=0, le=65535)
    internal_host: str = "0.0.0.0"
    internal_port: int = Field(default=INTERNAL_PORT, ge=0, le=65535)

    node_secret: SecretStr  # nodes send it in protocol.NODE_SECRET_HEADER
    # Keys and token secret, as the router takes them: a watched JSON file, or the environment.
    secrets_file: Path | None = None
    primary_key: SecretStr | None = None
    secondary_key: SecretStr | None = None
    token_secret: SecretStr | None = None

    # The agent's node API (unix socket); without it the controller makes no scaling calls.
    agent_socket: Path | None = None

    tick_interval_s: float = Field(default=0.5, gt=0, le=60)
    scale_interval_s: float = Field(default=2.0, gt=0, le=600)
    progress_interval_s: float = Field(default=5.0, gt=0, le=3600)
    lease_expiry_s: float = Field(default=LEASE_EXPIRY_S, gt=0, le=3600)
    log_level: str = "info"

    @field_validator("node_secret", "primary_key", "secondary_key", "token_secret")
    @classmethod
    def _empty_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value() else None

    @field_validator("node_secret")
    @classmethod
    def _node_secret_set(cls, value: SecretStr | None) -> SecretStr:
        if value is None:
            raise ValueError("must not be empty")
        return value
