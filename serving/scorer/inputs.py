"""Turn a /score request into run()'s keyword arguments, following Azure ML's three input modes."""

from __future__ import annotations

import inspect
import io
import json
import sys
from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes

from serving.scorer.errors import BadInput, UnsupportedMediaType
from serving.scorer.messages import Request
from serving.scorer.script import InputMode, RunSignature


def run_arguments(signature: RunSignature, request: Request) -> dict[str, Any]:
    """Keyword arguments for run(); the raw mode's request object is built later, at run time."""
    if signature.mode is InputMode.RAW:
        arguments: dict[str, Any] = {}
    elif signature.mode is InputMode.SCHEMA:
        arguments = _schema_arguments(signature, request)
    elif request.method == "POST":
        arguments = {signature.first_param: _body_text(request)}
    else:
        arguments = {signature.first_param: json.dumps(query_values(request.query))}
    if signature.wants_headers:
        arguments["request_headers"] = header_dict(request)
    return arguments


def query_values(query: str) -> dict[str, Any]:
    """?a=1&b=[1,2]&c=x&c=y -> {"a": 1, "b": [1, 2], "c": ["x", "y"]}: values parsed as JSON if possible."""
    grouped: dict[str, list[Any]] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        grouped.setdefault(key, []).append(_json_or_text(value))
    return {key: values[0] if len(values) == 1 else values for key, values in grouped.items()}


def header_dict(request: Request) -> dict[str, str]:
    """Headers keyed as werkzeug presents them (Content-Type, X-Request-Id), what run(request_headers) got."""
    headers: dict[str, str] = {}
    for name, value in request.raw_headers:
        key = "-".join(part.capitalize() for part in name.decode("latin-1").split("-"))
        text = value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


def aml_request(request: Request) -> Any:
    """The AMLRequest (a werkzeug Request) a @rawhttp run() receives; werkzeug is imported only here."""
    from serving.scorer.compat.aml_request import AMLRequest

    return AMLRequest(wsgi_environ(request))


def wsgi_environ(request: Request) -> dict[str, Any]:
    host, port = _server_address(request)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(request.path).decode("latin-1"),
        "QUERY_STRING": request.query,
        "SERVER_NAME": host,
        "SERVER_PORT": port,
        "SERVER_PROTOCOL": f"HTTP/{request.http_version}",
        "REMOTE_ADDR": request.client[0] if request.client else "",
        "REMOTE_PORT": str(request.client[1]) if request.client else "",
        "CONTENT_LENGTH": str(len(request.body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(request.body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for name, value in request.raw_headers:
        key = name.decode("latin-1").upper().replace("-", "_")
        text = value.decode("latin-1")
        if key == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = text
        elif key != "CONTENT_LENGTH":
            key = "HTTP_" + key
            environ[key] = f"{environ[key]}, {text}" if key in environ else text
    return environ


def _schema_arguments(signature: RunSignature, request: Request) -> dict[str, Any]:
    if request.method == "POST":
        if not _is_json(request.header(b"content-type")):
            raise UnsupportedMediaType("Expects Content-Type to be application/json")
        try:
            body = json.loads(request.body)
        except ValueError as ex:
            if request.body:
                raise BadInput(f"POST body could not be decoded as JSON: {ex}") from None
            raise BadInput("POST body is empty. Expecting a JSON dictionary.") from None
        if not isinstance(body, dict):
            raise BadInput("POST body should be a JSON dictionary.")
    else:
        body = query_values(request.query)
    arguments: dict[str, Any] = {}
    for param in signature.params:
        value = body.get(param.name, param.default)
        if value is inspect.Parameter.empty:
            raise BadInput(f"A value is not provided for the {param.name!r} parameter.")
        arguments[param.name] = value
    return arguments


def _body_text(request: Request) -> str:
    try:
        return request.body.decode("utf-8")
    except UnicodeDecodeError as ex:
        raise BadInput(f"Input cannot be decoded as UTF-8: {ex}") from None


def _json_or_text(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def _is_json(content_type: str) -> bool:
    mimetype = content_type.split(";", 1)[0].strip().lower()
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


def _server_address(request: Request) -> tuple[str, str]:
    host = request.header(b"host") or "localhost"
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit():
        return name, port
    return host, "80"
