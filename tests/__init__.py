"""Test suite of mlendpoints."""
