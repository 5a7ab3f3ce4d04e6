"""Import the deployment's batch driver (scoring script) the way the online scorer imports score.py."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from serving.scorer.errors import ScriptLoadError
from serving.scorer.script import _import_file, describe_exception, extend_sys_path, script_path


class DriverError(Exception):
    """The driver cannot serve: `kind` is the Completion failure ("no_run" or "init_failed")."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class Driver:
    path: str
    init: Callable[[], Any] | None
    run: Callable[[list[str]], Any]


def load_driver(app_root: str, entry_script: str | None) -> Driver:
    """Import the entry script and find run() (and init(), if any); raises DriverError naming the file.

    init() is optional. Azure's batch-deployment page says a scoring script "must contain" init() and
    run() (https://learn.microsoft.com/azure/machine-learning/how-to-batch-scoring-script), but the
    runtime batch deployments run on documents that the entry script "must contain a run() function
    and optionally contains an init() function"
    (https://learn.microsoft.com/azure/machine-learning/v1/how-to-debug-parallel-run-step): a driver
    without init() works on Azure, so it works here too (the worker logs a warning).
    """
    app_root = os.path.abspath(app_root)
    path = script_path(app_root, entry_script)
    if not os.path.isfile(path):
        listing = sorted(os.listdir(app_root)) if os.path.isdir(app_root) else "not a directory"
        raise DriverError(
            "init_failed",
            f"Batch driver (scoring script) not found at {path}: check code_configuration.code and "
            f"scoring_script (AML_APP_ROOT={app_root}, AZUREML_ENTRY_SCRIPT={entry_script}); "
            f"{app_root} contains: {listing}",
        )
    extend_sys_path(app_root, None, path)
    try:
        module = _import_file(path, app_root)
    except ScriptLoadError as error:
        raise DriverError("init_failed", error.message) from error.__cause__
    run = getattr(module, "run", None)
    if not callable(run):
        raise DriverError(
            "no_run",
            f"Batch driver {path} does not define a run(mini_batch) function: batch deployments call "
            "run() once per mini-batch with a list of file paths.",
        )
    init = getattr(module, "init", None)
    if init is not None and not callable(init):
        raise DriverError("init_failed", f"Batch driver {path} defines init, but it is not a function.")
    return Driver(path=path, init=init, run=run)


def call_init(driver: Driver, app_root: str) -> None:
    """The driver's init(), once per worker process; raises DriverError("init_failed") naming the line."""
    if driver.init is None:
        return
    try:
        driver.init()
    except (Exception, SystemExit) as error:
        raise DriverError(
            "init_failed", f"init() in {driver.path} raised {describe_exception(error, app_root)}"
        ) from error
