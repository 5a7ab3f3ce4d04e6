"""Tests of serving.router."""
