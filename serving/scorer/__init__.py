"""Runs an Azure ML score.py behind HTTP with the Azure ML inference server contract.

Nothing is imported here: batch nodes import a few of its modules and must not pay for the server.
"""
