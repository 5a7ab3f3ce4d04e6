"""Test batch driver importing a library (site/warmlib) and a module of its own code folder."""

import os

import warm_helper  # the code folder's own module: imported when the job comes, never ahead
from warmlib import parts


def init():
    global helper_value
    helper_value = warm_helper.VALUE


def run(mini_batch):
    return [f"{os.getpid()} {os.path.basename(path)} {parts.VALUE + helper_value}" for path in mini_batch]
