"""Pulumi component resources for Azure-ML-style model endpoints."""
