"""Load the user's scoring script, call init(), and decide how run() receives its input."""

from __future__ import annotations

import enum
import importlib.util
import inspect
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType, TracebackType
from typing import Any

from serving.scorer.compat.rawhttp import is_rawhttp
from serving.scorer.errors import ScriptLoadError

# Azure ML names the imported entry script this way; keeping it keeps inference-schema's registry keys equal.
ENTRY_MODULE_NAME = "entry_module"


class InputMode(enum.Enum):
    """How run() gets the request: the body as str, schema-parsed keyword arguments, or the request."""

    JSON_STRING = "json_string"
    SCHEMA = "schema"
    RAW = "raw"


@dataclass(frozen=True)
class RunSignature:
    mode: InputMode
    first_param: str
    params: tuple[inspect.Parameter, ...]
    wants_headers: bool


@dataclass(frozen=True)
class UserScript:
    path: str
    module: ModuleType
    init: Callable[[], Any]
    run: Callable[..., Any]
    signature: RunSignature


def script_path(app_root: str, entry_script: str | None) -> str:
    """AZUREML_ENTRY_SCRIPT relative to AML_APP_ROOT (or absolute), else main.py as on Azure ML."""
    return os.path.normpath(os.path.join(app_root, entry_script or "main.py"))


def set_app_env(app_root: str, entry_script: str | None, model_dir: str | None) -> None:
    """Azure ML's variables naming the code and the model (absolute paths), as scripts expect them."""
    os.environ["AML_APP_ROOT"] = os.path.abspath(app_root)
    if entry_script:
        os.environ["AZUREML_ENTRY_SCRIPT"] = entry_script
    if model_dir:
        os.environ["AZUREML_MODEL_DIR"] = os.path.abspath(model_dir)


def extend_sys_path(app_root: str, source_dir: str | None, path: str) -> None:
    """Make the script's neighbours importable, appended (not prepended) like Azure ML does."""
    candidates = [app_root, os.path.dirname(path)]
    if source_dir:
        candidates.insert(1, os.path.join(app_root, source_dir))
    for candidate in candidates:
        if candidate not in sys.path:
            sys.path.append(candidate)


def load_script(path: str, app_root: str) -> UserScript:
    """Import the entry script, check init()/run(); raises ScriptLoadError with the error and its line."""
    if not os.path.isfile(path):
        listing = sorted(os.listdir(app_root)) if os.path.isdir(app_root) else "not a directory"
        raise ScriptLoadError(
            f"Scoring script not found at {path} (set AML_APP_ROOT and AZUREML_ENTRY_SCRIPT); "
            f"AML_APP_ROOT {app_root} contains: {listing}"
        )
    module = _import_file(path, app_root)
    for name in ("init", "run"):
        if not callable(getattr(module, name, None)):
            raise ScriptLoadError(f"Scoring script {path} does not define a {name}() function.")
    run = module.run
    # Azure SDK generated driver scripts forward to the real score script; call that one's run() directly.
    driver = getattr(module, "driver_module", None)
    if isinstance(driver, ModuleType) and callable(getattr(driver, "run", None)):
        run = driver.run
    return UserScript(path=path, module=module, init=module.init, run=run, signature=analyze_run(run))


def call_init(script: UserScript, app_root: str) -> None:
    """Run the user's init() once in this process; raises ScriptLoadError naming the failing line."""
    try:
        script.init()
    except (Exception, SystemExit) as ex:
        raise ScriptLoadError(f"init() in {script.path} raised {describe_exception(ex, app_root)}") from ex


def analyze_run(run: Callable[..., Any]) -> RunSignature:
    """The Azure ML rules for run()'s parameters: no *args/**kwargs, an optional request_headers."""
    try:
        params = list(inspect.signature(run).parameters.values())
    except (TypeError, ValueError) as ex:
        raise ScriptLoadError(f"Cannot inspect run()'s parameters: {ex}") from ex
    allowed = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    if any(param.kind not in allowed for param in params):
        raise ScriptLoadError("run() cannot accept positional-only arguments, *args, or **kwargs.")
    wants_headers = any(param.name == "request_headers" for param in params)
    params = [param for param in params if param.name != "request_headers"]
    if not params:
        raise ScriptLoadError(
            'run() needs to accept an argument other than "request_headers".'
            if wants_headers
            else "run() needs to accept an argument for input data."
        )
    raw, schema = is_rawhttp(run), _is_schema_decorated(run)
    if raw and schema:
        raise ScriptLoadError("run() cannot be decorated with both @rawhttp and @input_schema")
    mode = InputMode.RAW if raw else InputMode.SCHEMA if schema else InputMode.JSON_STRING
    return RunSignature(
        mode=mode, first_param=params[0].name, params=tuple(params), wants_headers=wants_headers
    )


def describe_exception(ex: BaseException, app_root: str) -> str:
    """'TypeName: message (file, line N)', naming the deepest line of the user's own code."""
    text = f"{type(ex).__name__}: {ex}"
    if isinstance(ex, SyntaxError) and ex.filename:
        return f"{type(ex).__name__}: {ex.msg} ({_display(ex.filename, app_root)}, line {ex.lineno})"
    frame = _user_frame(ex.__traceback__, app_root)
    if frame is None:
        return text
    filename, lineno = frame
    return f"{text} ({_display(filename, app_root)}, line {lineno})"


def format_traceback(ex: BaseException) -> str:
    return "".join(traceback.format_exception(type(ex), ex, ex.__traceback__)).rstrip()


def _import_file(path: str, app_root: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(ENTRY_MODULE_NAME, path)
    if spec is None or spec.loader is None:
        raise ScriptLoadError(f"Scoring script {path} cannot be imported as a Python module.")
    module = importlib.util.module_from_spec(spec)
    # Registered so dataclasses, pickle and typing can resolve the module while it executes.
    sys.modules[ENTRY_MODULE_NAME] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as ex:
        sys.modules.pop(ENTRY_MODULE_NAME, None)
        raise ScriptLoadError(f"Failed to import {path}: {describe_exception(ex, app_root)}") from ex
    return module


def _is_schema_decorated(run: Callable[..., Any]) -> bool:
    try:
        from inference_schema.schema_util import is_schema_decorated
    except ImportError:
        return False
    return bool(is_schema_decorated(run))


def _user_frame(tb: TracebackType | None, app_root: str) -> tuple[str, int] | None:
    root = os.path.abspath(app_root) + os.sep
    found: tuple[str, int] | None = None
    last: tuple[str, int] | None = None
    for frame, lineno in traceback.walk_tb(tb):
        filename = frame.f_code.co_filename
        last = (filename, lineno)
        if os.path.abspath(filename).startswith(root) and "site-packages" not in filename:
            found = last
    return found or last


def _display(filename: str, app_root: str) -> str:
    root = os.path.abspath(app_root)
    absolute = os.path.abspath(filename)
    return os.path.relpath(absolute, root) if absolute.startswith(root + os.sep) else filename
