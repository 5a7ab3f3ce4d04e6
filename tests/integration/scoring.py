"""Calling a deployed endpoint the way a client does (urllib, no test-only shortcuts)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

# The example models' input: one row of ten features.
SAMPLE = json.dumps({"data": [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]]}).encode()


def post_score(
    uri: str, credential: str | None, deployment: str | None = None, body: bytes = SAMPLE
) -> tuple[int, dict[str, Any]]:
    """POST `body` to a scoring URI with a key or token; (status, JSON answer), errors included."""
    headers = {"Content-Type": "application/json"}
    if credential is not None:
        headers["Authorization"] = f"Bearer {credential}"
    if deployment is not None:
        headers["azureml-model-deployment"] = deployment
    request = urllib.request.Request(uri, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
