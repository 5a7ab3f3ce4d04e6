"""Tests of the batch controller."""
