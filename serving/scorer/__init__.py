"""Runs an Azure ML score.py behind HTTP with the Azure ML inference server contract."""

from serving.scorer.app import ScorerApp, create_app
from serving.scorer.settings import ScorerSettings

__all__ = ["ScorerApp", "ScorerSettings", "create_app"]
