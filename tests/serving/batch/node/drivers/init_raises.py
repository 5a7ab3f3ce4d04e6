"""Test driver whose init() raises."""

import os


def init():
    raise RuntimeError(f"model not found under {os.environ.get('AZUREML_MODEL_DIR')}")


def run(mini_batch):
    return mini_batch
