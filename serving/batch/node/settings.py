"""Node settings from the environment (MLE_BATCH_*, plus Azure ML's names for the driver)."""

from __future__ import annotations

import socket

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from serving.batch.protocol import MAX_BUNDLE, MAX_LEASE_WAIT_S
from serving.scorer.settings import DEFAULT_APP_ROOT


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class NodeSettings(BaseSettings):
    """What the endpoint's agent passes to a node container; each field names its variables."""

    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore", case_sensitive=False)

    controller_url: str = Field(validation_alias=_env("MLE_BATCH_CONTROLLER_URL"))
    node_secret: SecretStr = Field(validation_alias=_env("MLE_BATCH_NODE_SECRET"))
    node_name: str = Field(default_factory=socket.gethostname, validation_alias=_env("MLE_BATCH_NODE_NAME"))
    deployment: str = Field(validation_alias=_env("MLE_BATCH_DEPLOYMENT"))
    # The deployment's max_concurrency_per_instance.
    processes: int = Field(1, ge=1, le=256, validation_alias=_env("MLE_BATCH_PROCESSES"))
    # The deployment's code_configuration: code folder and scoring script, named as the online scorer does.
    app_root: str = Field(DEFAULT_APP_ROOT, validation_alias=_env("MLE_BATCH_APP_ROOT", "AML_APP_ROOT"))
    entry_script: str | None = Field(
        None, validation_alias=_env("MLE_BATCH_ENTRY_SCRIPT", "AZUREML_ENTRY_SCRIPT")
    )
    # The folder that CONTAINS the model folder, handed to the driver unchanged, as on Azure ML.
    model_dir: str | None = Field(None, validation_alias=_env("AZUREML_MODEL_DIR"))
    # None: never exit on its own (the controller and the agent stop idle nodes).
    idle_exit_s: float | None = Field(None, gt=0, validation_alias=_env("MLE_BATCH_IDLE_EXIT_S"))
    # SIGTERM: how long in-flight run() calls may go on before their workers are killed.
    graceful_timeout_s: float = Field(5.0, ge=0, validation_alias=_env("MLE_BATCH_GRACEFUL_TIMEOUT_S"))
    http_timeout_s: float = Field(10.0, gt=0, validation_alias=_env("MLE_BATCH_HTTP_TIMEOUT_S"))
    # Longest pause between two lease requests of an idle worker (the controller answers 204: no work).
    lease_poll_max_s: float = Field(1.0, gt=0, validation_alias=_env("MLE_BATCH_LEASE_POLL_MAX_S"))
    # How long an idle worker's lease request waits in the controller for work (long polling; 0: poll).
    lease_wait_s: float = Field(
        10.0, ge=0, le=MAX_LEASE_WAIT_S, validation_alias=_env("MLE_BATCH_LEASE_WAIT_S")
    )
    # Most mini-batches a worker takes in one lease (the controller sizes bundles from the job's pace;
    # 1 turns bundles off).
    max_bundle: int = Field(128, ge=1, le=MAX_BUNDLE, validation_alias=_env("MLE_BATCH_MAX_BUNDLE"))
    log_level: str = Field("INFO", validation_alias=_env("MLE_BATCH_LOG_LEVEL"))
    # Idle workers import the driver's libraries before their job comes (node/warm.py).
    warm_imports: bool = Field(True, validation_alias=_env("MLE_BATCH_WARM_IMPORTS"))

    @field_validator("controller_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"MLE_BATCH_CONTROLLER_URL must be an http(s) URL, got {value!r}")
        return value.rstrip("/")

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"MLE_BATCH_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {value!r}")
        return level
