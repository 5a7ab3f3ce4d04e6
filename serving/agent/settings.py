"""Agent settings from MLE_AGENT_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AgentSettings(BaseSettings):
    """Which containers the agent looks after, and how often it looks."""

    model_config = SettingsConfigDict(env_prefix="MLE_AGENT_", extra="ignore")

    endpoint: str = Field(min_length=1, description="Heal containers labelled io.mlendpoints.endpoint=this.")
    # Engine events wake the agent at once, and so does every (re)connection of its event stream;
    # the sweep is a safety net besides. It lists and inspects the endpoint's containers (~8 ms of
    # CPU in the agent and the engine), so it is not done every few seconds for an endpoint at rest;
    # a heal that waits out its back-off brings its own sweep when it is due.
    sweep_interval_s: float = Field(default=30.0, gt=0, le=600)
    backoff_first_s: float = Field(default=1.0, gt=0, le=60)
    backoff_max_s: float = Field(default=30.0, gt=0, le=600)
    backoff_reset_s: float = Field(default=60.0, gt=0, le=3600)
    # Batch endpoints: node templates (written by `pulumi up`) and the socket the controller asks on.
    node_templates: Path | None = Field(default=None, description="Node templates JSON file.")
    node_socket: Path | None = Field(default=None, description="Unix socket of the node API.")
