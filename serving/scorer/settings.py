"""Scorer settings read from the environment, with Azure ML's variable names."""

from __future__ import annotations

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from serving.limits import MAX_BODY_BYTES

DEFAULT_APP_ROOT = "/var/azureml-app"


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class ScorerSettings(BaseSettings):
    """Everything the scorer needs; each field names the environment variables it is read from."""

    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore", case_sensitive=False)

    app_root: str = Field(DEFAULT_APP_ROOT, validation_alias=_env("AML_APP_ROOT"))
    entry_script: str | None = Field(None, validation_alias=_env("AZUREML_ENTRY_SCRIPT"))
    source_dir: str | None = Field(None, validation_alias=_env("AZUREML_SOURCE_DIRECTORY"))
    # The folder that CONTAINS the model folder, exactly as on Azure ML.
    model_dir: str | None = Field(None, validation_alias=_env("AZUREML_MODEL_DIR"))
    worker_count: int = Field(1, ge=1, le=64, validation_alias=_env("WORKER_COUNT"))
    request_timeout_ms: int = Field(
        5000, ge=1, validation_alias=_env("SCORING_TIMEOUT_MS", "REQUEST_TIMEOUT_MS")
    )
    # None means one slot per worker: what Azure ML recommends (WORKER_COUNT == max concurrency).
    max_concurrent_requests_per_instance: int | None = Field(
        None, ge=1, validation_alias=_env("MAX_CONCURRENT_REQUESTS_PER_INSTANCE")
    )
    max_queue_wait_ms: int = Field(500, ge=0, validation_alias=_env("MAX_QUEUE_WAIT_MS"))
    host: str = Field("0.0.0.0", validation_alias=_env("SERVER_HOST", "HOST"))
    port: int = Field(5001, ge=0, le=65535, validation_alias=_env("SERVER_PORT", "PORT"))
    log_level: str = Field("INFO", validation_alias=_env("AZUREML_LOG_LEVEL"))
    service_name: str = Field("ML service", validation_alias=_env("SERVICE_NAME"))
    service_version: str = Field("1.0", validation_alias=_env("SERVICE_VERSION"))
    service_path_prefix: str = Field("", validation_alias=_env("SERVICE_PATH_PREFIX"))
    # The router's client_max_body_size is the same number (serving/limits.py): change both or neither.
    max_request_body_bytes: int = Field(MAX_BODY_BYTES, ge=1, validation_alias=_env("MAX_REQUEST_BODY_BYTES"))
    keepalive_timeout_s: float = Field(65.0, gt=0, validation_alias=_env("KEEPALIVE_TIMEOUT_S"))
    graceful_timeout_s: float = Field(10.0, ge=0, validation_alias=_env("GRACEFUL_TIMEOUT_S"))

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(
                f"AZUREML_LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got {value!r}"
            )
        return level

    @property
    def concurrency(self) -> int:
        """Instance-wide in-flight limit for /score."""
        return self.max_concurrent_requests_per_instance or self.worker_count

    @property
    def kill_after_s(self) -> float:
        """How long a run() may hold a worker before the supervisor replaces the worker.

        The in-process SIGALRM answers the timeout; this only catches run() calls stuck in C code or
        swallowing the timeout exception, so it leaves a generous margin.
        """
        timeout_s = self.request_timeout_ms / 1000
        return timeout_s + max(5.0, timeout_s)
