"""Test batch driver: what run() does depends on each input file's name (see run())."""

import logging
import os
import sys
import time

from tests.serving.batch.node.frames import FrameStandIn

STATE = os.environ["DRIVER_STATE"]


def _record(name, line):
    with open(os.path.join(STATE, name), "a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def init():
    env = os.environ
    _record("init.log", f"{os.getpid()} {env['AZUREML_BI_OUTPUT_PATH']} {env['AZUREML_MODEL_DIR']}")
    _record("env.log", f"node secret visible: {'MLE_BATCH_NODE_SECRET' in env}")
    print("driver: init via print")
    logging.getLogger("driver").info("driver: init via logging")


def run(mini_batch):
    names = [os.path.basename(path) for path in mini_batch]
    _record("run.log", f"{os.getpid()} {' '.join(names)}")
    print(f"driver: run on {' '.join(names)}")
    print("driver: a line on stderr", file=sys.stderr)
    if any(name.startswith("sleep") for name in names):
        _record("sleeping.pid", str(os.getpid()))
        time.sleep(600)
    if any(name.startswith("nap") for name in names):
        time.sleep(0.4)
    if any(name.startswith("raise") for name in names):
        raise ValueError(f"cannot score {names[0]}")
    if any(name.startswith("few") for name in names):
        return [[names[0], 1]]
    if any(name.startswith("none") for name in names):
        return None
    if any(name.startswith("frame") for name in names):
        rows = [[name, i, 0.5 + i, "two words" if i else None] for i, name in enumerate(names)]
        return FrameStandIn(rows, ["file", "index", "score", "note"])
    if any(name.startswith("gate") for name in names):
        # Finishes once the test creates the gate file: lets a test act while run() is in progress.
        while not os.path.exists(os.path.join(STATE, "gate")):
            time.sleep(0.02)
    return [[name, len(name)] for name in names]
