"""AMLRequest and @rawhttp, importable as azureml.contrib.services.aml_request in user scripts."""

from __future__ import annotations

from werkzeug.wrappers import Request

from serving.scorer.compat.rawhttp import rawhttp

__all__ = ["AMLRequest", "rawhttp"]


class AMLRequest(Request):
    """The request object a @rawhttp run() receives (a werkzeug Request, as Flask's is)."""
