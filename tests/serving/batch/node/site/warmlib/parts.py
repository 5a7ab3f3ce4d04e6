"""A submodule the driver imports with `from warmlib import parts`."""

VALUE = 7
