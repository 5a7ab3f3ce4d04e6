"""Test driver that imports a module that does not exist."""

import module_that_does_not_exist  # noqa: F401


def run(mini_batch):
    return mini_batch
