"""The fork server's preload: a worker's start imports nothing its fork server could have imported."""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import pickletools
import subprocess
import sys
from multiprocessing import context as mp_context
from multiprocessing import popen_forkserver, reduction

from serving.batch.node.process import WORKER_MODULES
from serving.batch.node.progress import RunProgress
from serving.batch.node.worker import WorkerConfig, worker_main


def _modules_a_worker_unpickles() -> set[str]:
    """The modules named by the process object WorkerProcess hands the fork server, pickled as the fork
    server's Popen pickles it (protocol 2, so every class and function is a GLOBAL opcode)."""
    context = multiprocessing.get_context("forkserver")
    parent, child = context.Pipe(duplex=True)
    progress = RunProgress(context)
    config = WorkerConfig(
        node="n", process=1, app_root="/app", entry_script=None, model_dir=None, supervisor_pid=os.getpid()
    )
    process = context.Process(target=worker_main, args=(child, config, progress.cells), daemon=True)
    popen = popen_forkserver.Popen.__new__(popen_forkserver.Popen)
    popen._fds = []  # type: ignore[attr-defined]  # duplicate_for_child collects them; nothing is launched
    buffer = io.BytesIO()
    mp_context.set_spawning_popen(popen)
    try:
        reduction.ForkingPickler(buffer, 2).dump(process)
    finally:
        mp_context.set_spawning_popen(None)
        parent.close()
        child.close()
    return {
        str(argument).split(" ")[0]
        for opcode, argument, _ in pickletools.genops(buffer.getvalue())
        if opcode.name == "GLOBAL"
    }


def test_the_fork_server_preloads_every_module_a_worker_s_start_unpickles() -> None:
    needed = _modules_a_worker_unpickles()
    assert "serving.batch.node.worker" in needed and "multiprocessing.sharedctypes" in needed
    # What a fresh interpreter has once the fork server's own module and the preload are imported.
    script = (
        "import importlib, json, sys; importlib.import_module('multiprocessing.forkserver'); "
        f"[importlib.import_module(m) for m in {list(WORKER_MODULES)!r}]; "
        "print(json.dumps(sorted(sys.modules)))"
    )
    loaded = set(
        json.loads(subprocess.run([sys.executable, "-c", script], capture_output=True, check=True).stdout)
    )
    assert needed - loaded == set()
