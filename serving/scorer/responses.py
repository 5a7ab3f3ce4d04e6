"""HTTP answers: errors as {"message": ...} (the one place), run() outputs by Azure ML's rules, start-up."""

from __future__ import annotations

import json
import sys
from typing import Any

from serving.scorer.errors import NotReady, OutputNotSerializable, ScorerError, ScriptLoadError, http_status
from serving.scorer.messages import JSON, TEXT, HeadEncoder, Response

NOT_FOUND = (
    "The requested URL was not found on the server. "
    "If you entered the URL manually please check your spelling and try again."
)
_READ_METHODS = frozenset({"GET", "HEAD"})
# Tells a deployer polling readiness that waiting longer will not help: the script itself failed.
STATE_HEADER = "x-ms-scorer-state"
_PASSTHROUGH_DROP = frozenset(
    {"content-length", "connection", "transfer-encoding", "x-ms-run-function-failed"}
)


def error_response(error: ScorerError, run_ms: float = 0.0) -> Response:
    """Every error answer: the mapped status and {"message": ...}."""
    body = json.dumps({"message": error.message}).encode()
    headers = [(STATE_HEADER, "failed")] if isinstance(error, ScriptLoadError) else None
    return Response(
        http_status(error), body, JSON, headers, run_ms=run_ms, run_failed=error.run_function_failed
    )


def render_output(output: Any, run_ms: float) -> Response:
    """Azure ML's rules: a response object passes through; anything else is json.dumps'ed (None -> {})."""
    werkzeug_response = sys.modules.get("werkzeug.wrappers.response")
    if werkzeug_response is not None and isinstance(output, werkzeug_response.Response):
        return _passthrough(output, run_ms)
    if output is None:
        return Response(200, b"{}", JSON, run_ms=run_ms)
    try:
        body = json.dumps(output).encode()
    except (TypeError, ValueError) as ex:
        raise OutputNotSerializable(
            f"run() returned a value that cannot be encoded as JSON ({type(ex).__name__}: {ex}); "
            "return lists/dicts (e.g. array.tolist()) or an AMLResponse.",
            run_ms,
        ) from None
    return Response(200, body, JSON, run_ms=run_ms)


def _passthrough(output: Any, run_ms: float) -> Response:
    status = int(output.status_code)
    failed = status >= 500 or str(output.headers.get("x-ms-run-function-failed", "")).lower() == "true"
    headers = [
        (name, _header_safe(value))
        for name, value in output.headers.items()
        if name.lower() not in _PASSTHROUGH_DROP
    ]
    return Response(status, output.get_data(), None, headers, run_ms=run_ms, run_failed=failed)


def startup_answer(encoder: HeadEncoder, method: str, path: str, message: str) -> bytes:
    """What the supervisor answers while every worker is still in init(): alive, not ready."""
    if path == "/" and method in _READ_METHODS:
        response = Response(200, b"Healthy", TEXT)
    else:
        response = error_response(NotReady(message))
    data = encoder.encode(response, b"", close=True)
    return data[: -len(response.body)] if method == "HEAD" and response.body else data


def _header_safe(value: str) -> str:
    return value.replace("\r", " ").replace("\n", " ")
