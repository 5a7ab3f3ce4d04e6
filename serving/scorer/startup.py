"""Per-process start-up: Azure ML environment variables, import shims, the script and its init()."""

from __future__ import annotations

import itertools
import logging
import os
from dataclasses import dataclass

from serving.scorer.compat.importer import install_compat_imports
from serving.scorer.errors import NotReady, ScriptLoadError
from serving.scorer.script import (
    UserScript,
    call_init,
    extend_sys_path,
    format_traceback,
    load_script,
    script_path,
    set_app_env,
)
from serving.scorer.settings import ScorerSettings
from serving.scorer.swagger import SwaggerDocs, build_swagger

log = logging.getLogger("mlendpoints.scorer")

_MODEL_LISTING_LINES = 200


@dataclass(frozen=True)
class ScriptState:
    """Either a ready script (init() returned) or the error that keeps this worker unready."""

    script: UserScript | None
    swagger: SwaggerDocs | None
    error: NotReady | None

    @property
    def ready(self) -> bool:
        return self.script is not None


def prepare_environment(settings: ScorerSettings) -> None:
    """What Azure ML sets up before the script imports: env vars (absolute paths) and the API shims."""
    set_app_env(settings.app_root, settings.entry_script, settings.model_dir)
    if not settings.model_dir and "AZUREML_MODEL_DIR" not in os.environ:
        log.warning("AZUREML_MODEL_DIR is not set: scripts that join it with 'model/...' will fail in init()")
    install_compat_imports()


def load_state(settings: ScorerSettings) -> ScriptState:
    """Import the script and call init(); failures are logged and kept, never raised."""
    path = script_path(settings.app_root, settings.entry_script)
    extend_sys_path(os.path.abspath(settings.app_root), settings.source_dir, path)
    try:
        script = load_script(path, settings.app_root)
        log.info("loaded %s; run() takes %s input", path, script.signature.mode.value)
        log.info("calling init() in worker %d", os.getpid())
        call_init(script, settings.app_root)
    except ScriptLoadError as error:
        cause = error.__cause__
        detail = f"\n{format_traceback(cause)}" if cause is not None else ""
        log.error("scoring script failed, the worker stays up but not ready: %s%s", error.message, detail)
        _log_model_dir(settings)
        return ScriptState(script=None, swagger=None, error=error)
    log.info("init() returned; worker %d is ready", os.getpid())
    return ScriptState(script=script, swagger=_swagger(settings, script), error=None)


def _swagger(settings: ScorerSettings, script: UserScript) -> SwaggerDocs | None:
    try:
        return build_swagger(
            script.run,
            os.path.abspath(settings.app_root),
            service_name=settings.service_name,
            service_version=settings.service_version,
            path_prefix=settings.service_path_prefix,
        )
    except Exception as ex:  # a broken schema must not take scoring down
        log.warning("cannot build swagger.json: %s", format_traceback(ex))
        return None


def _log_model_dir(settings: ScorerSettings) -> None:
    model_dir = os.environ.get("AZUREML_MODEL_DIR", "")
    if not model_dir or not os.path.isdir(model_dir):
        log.error("AZUREML_MODEL_DIR=%r is not a directory", model_dir)
        return
    lines = (
        os.path.relpath(os.path.join(folder, name), model_dir)
        for folder, _, files in os.walk(model_dir)
        for name in sorted(files)
    )
    listing = list(itertools.islice(lines, _MODEL_LISTING_LINES))
    log.info("AZUREML_MODEL_DIR %s contains: %s", model_dir, listing)
