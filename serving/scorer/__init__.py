"""Runs an Azure ML score.py behind HTTP with the Azure ML inference server contract."""
