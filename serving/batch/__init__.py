"""Batch controller and workers."""
