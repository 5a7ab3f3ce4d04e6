"""Tests of the batch runtime."""
