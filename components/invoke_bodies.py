"""Request bodies `mle invoke` sends (JSON, raw bytes, a multipart file upload) and what it does with
the answer (print text, save bytes)."""

from __future__ import annotations

import mimetypes
import uuid
from dataclasses import dataclass
from pathlib import Path

JSON = "application/json"
OCTET_STREAM = "application/octet-stream"


@dataclass(frozen=True)
class Body:
    data: bytes
    content_type: str


def json_body(path: Path, content_type: str | None = None) -> Body:
    """`--request-file`: the file as it is, sent as JSON (as `az ml online-endpoint invoke` sends it)."""
    return Body(path.read_bytes(), content_type or JSON)


def binary_body(path: Path, content_type: str | None = None) -> Body:
    """`--data-binary`: the file's bytes as the whole body (as `curl --data-binary @file`)."""
    return Body(path.read_bytes(), content_type or _guess(path))


def multipart_body(path: Path, field: str = "file", content_type: str | None = None) -> Body:
    """`--file`: a multipart/form-data upload with one file part (as `curl -F file=@path`), which
    Azure ML's binary examples read from the request's files."""
    boundary = f"mle-{uuid.uuid4().hex}"
    name = path.name.replace('"', "%22").replace("\r", "").replace("\n", "")
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
        f"Content-Type: {content_type or _guess(path)}\r\n\r\n"
    ).encode()
    data = head + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    return Body(data, f"multipart/form-data; boundary={boundary}")


def is_text(content_type: str | None) -> bool:
    """Answers printed as text: JSON, text/*, XML; anything else is bytes to save."""
    kind = (content_type or "").split(";")[0].strip().lower()
    return not kind or kind.startswith("text/") or kind in (JSON, "application/xml") or kind.endswith("+json")


def _guess(path: Path) -> str:
    return mimetypes.guess_type(path.name)[0] or OCTET_STREAM
