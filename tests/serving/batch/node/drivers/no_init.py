"""Test driver with run() only (valid on Azure: init() is optional for the runtime)."""


def run(mini_batch):
    return [f"{path}: ok" for path in mini_batch]
