"""GET /swagger.json: documents built from inference-schema decorators or the user's own swagger files."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from serving.scorer.errors import SwaggerUnavailable

log = logging.getLogger("mlendpoints.scorer")

# Query value -> canonical version; inference-schema names the same versions '2.0', '3.0', '3.1'.
VERSION_ALIASES: Mapping[str, str] = MappingProxyType(
    {"2": "2", "2.0": "2", "3": "3", "3.0": "3", "3.1": "3.1"}
)
_SCHEMA_VERSION = MappingProxyType({"2": "2.0", "3": "3.0", "3.1": "3.1"})
# Files in AML_APP_ROOT that replace the generated document, as Azure ML reads them.
_USER_FILES = MappingProxyType(
    {"2": ("swagger.json", "swagger2.json"), "3": ("swagger3.json",), "3.1": ("swagger3.1.json",)}
)


class SwaggerDocs:
    """Serialized documents per canonical version, computed once per worker after the script loads."""

    def __init__(self, documents: Mapping[str, bytes], reason: str) -> None:
        self._documents = documents
        self._reason = reason

    @property
    def versions(self) -> list[str]:
        return sorted(self._documents)

    def get(self, version: str | None) -> bytes:
        requested = version or "2"
        canonical = VERSION_ALIASES.get(requested)
        if canonical is None:
            raise SwaggerUnavailable(
                f"Swagger version [{requested}] is not valid. "
                f"Supported versions: [{', '.join(self.versions)}]."
            )
        document = self._documents.get(canonical)
        if document is None:
            raise SwaggerUnavailable(
                f"Swagger version [{requested}] is not available: {self._reason} "
                f"Supported swagger versions: [{', '.join(self.versions)}]."
            )
        return document


def build_swagger(
    run: Callable[..., Any], app_root: str, *, service_name: str, service_version: str, path_prefix: str
) -> SwaggerDocs:
    schemas = _decorator_schemas(run)
    documents: dict[str, bytes] = {}
    for version in ("2", "3", "3.1"):
        user_document = _user_document(app_root, version)
        if user_document is not None:
            documents[version] = user_document
        elif schemas is not None and _SCHEMA_VERSION[version] in schemas[2]:
            info = {
                "title": service_name,
                "version": service_version,
                "description": _description(service_name),
            }
            prefix = f"/{path_prefix.strip('/')}" if path_prefix.strip("/") else ""
            document = _document(version, info, prefix, schemas[0], schemas[1])
            documents[version] = json.dumps(document).encode()
    reason = (
        "run() is not decorated with inference-schema's @input_schema/@output_schema and "
        "AML_APP_ROOT has no swagger.json."
        if schemas is None
        else "the schema types used by run() do not support this swagger version."
    )
    return SwaggerDocs(MappingProxyType(documents), reason)


# Scripts of our own (the no-code MLflow script) give their schemas here instead of through
# inference-schema's decorators, which would also change how run() is called.
SCHEMAS_ATTRIBUTE = "__mlendpoints_schemas__"


def _decorator_schemas(run: Callable[..., Any]) -> tuple[Any, Any, list[str]] | None:
    given = getattr(run, SCHEMAS_ATTRIBUTE, None)
    if isinstance(given, tuple) and len(given) == 2:
        return given[0], given[1], ["2.0", "3.0", "3.1"]
    try:
        from inference_schema.schema_util import (
            get_input_schema,
            get_output_schema,
            get_supported_versions,
            is_schema_decorated,
        )
    except ImportError:
        return None
    if not is_schema_decorated(run):
        return None
    return get_input_schema(run), get_output_schema(run), list(get_supported_versions(run))


def _user_document(app_root: str, version: str) -> bytes | None:
    for name in _USER_FILES[version]:
        path = os.path.join(app_root, name)
        try:
            with open(path, encoding="utf-8") as handle:
                document = json.load(handle)
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as ex:
            log.warning("ignoring %s: %s", path, ex)
            continue
        log.info("serving the user's swagger file %s for version %s", path, version)
        return json.dumps(document).encode()
    return None


def _description(service_name: str) -> str:
    return f"API specification for the Azure Machine Learning service {service_name}"


def _document(version: str, info: dict[str, str], prefix: str, input_schema: Any, output_schema: Any) -> Any:
    error = {"type": "object", "properties": {"message": {"type": "string"}}}
    if version == "2":
        return {
            "swagger": "2.0",
            "info": info,
            "schemes": ["https"],
            "consumes": ["application/json"],
            "produces": ["application/json"],
            "securityDefinitions": {
                "Bearer": {
                    "type": "apiKey",
                    "name": "Authorization",
                    "in": "header",
                    "description": "Bearer abc123",
                }
            },
            "paths": _paths_v2(prefix),
            "definitions": {
                "ServiceInput": input_schema,
                "ServiceOutput": output_schema,
                "ErrorResponse": error,
            },
        }
    return {
        "openapi": "3.1.0" if version == "3.1" else "3.0.3",
        "info": info,
        "security": [{"Bearer": []}],
        "paths": _paths_v3(prefix),
        "components": {
            "securitySchemes": {"Bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"ServiceInput": input_schema, "ServiceOutput": output_schema, "ErrorResponse": error},
        },
    }


def _paths_v2(prefix: str) -> dict[str, Any]:
    failed = {
        "description": "The service failed to execute due to an error.",
        "schema": _ref2("ErrorResponse"),
    }
    return {
        f"{prefix}/": {
            "get": {
                "operationId": "ServiceHealthCheck",
                "description": "Liveness: answers 'Healthy' while the server process runs.",
                "responses": {
                    "200": {"description": "Healthy", "schema": {"type": "string"}},
                    "default": failed,
                },
            }
        },
        f"{prefix}/score": {
            "post": {
                "operationId": "RunMLService",
                "description": "Run the model and return its prediction.",
                "security": [{"Bearer": []}],
                "parameters": [
                    {"name": "serviceInputPayload", "in": "body", "schema": _ref2("ServiceInput")},
                ],
                "responses": {
                    "200": {"description": "The prediction.", "schema": _ref2("ServiceOutput")},
                    "default": failed,
                },
            }
        },
        f"{prefix}/swagger.json": {
            "get": {
                "operationId": "GetSwaggerSpec",
                "description": "This document.",
                "parameters": [
                    {
                        "name": "version",
                        "in": "query",
                        "required": False,
                        "type": "string",
                        "enum": ["2", "3", "3.1"],
                    }
                ],
                "responses": {
                    "200": {"description": "The document.", "schema": {"type": "object"}},
                    "default": failed,
                },
            }
        },
    }


def _paths_v3(prefix: str) -> dict[str, Any]:
    def json_body(name: str) -> dict[str, Any]:
        return {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}

    failed = {
        "description": "The service failed to execute due to an error.",
        "content": json_body("ErrorResponse"),
    }
    return {
        f"{prefix}/": {
            "get": {
                "operationId": "ServiceHealthCheck",
                "description": "Liveness: answers 'Healthy' while the server process runs.",
                "responses": {
                    "200": {
                        "description": "Healthy",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    "default": failed,
                },
            }
        },
        f"{prefix}/score": {
            "post": {
                "operationId": "RunMLService",
                "description": "Run the model and return its prediction.",
                "security": [{"Bearer": []}],
                "requestBody": {"content": json_body("ServiceInput")},
                "responses": {
                    "200": {"description": "The prediction.", "content": json_body("ServiceOutput")},
                    "default": failed,
                },
            }
        },
        f"{prefix}/swagger.json": {
            "get": {
                "operationId": "GetSwaggerSpec",
                "description": "This document.",
                "parameters": [
                    {
                        "name": "version",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "enum": ["2", "3", "3.1"]},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "The document.",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    "default": failed,
                },
            }
        },
    }


def _ref2(name: str) -> dict[str, str]:
    return {"$ref": f"#/definitions/{name}"}
