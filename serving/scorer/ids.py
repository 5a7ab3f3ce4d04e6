"""Request id headers with Azure ML's fallbacks and its 100-character limit (431 beyond it)."""

from __future__ import annotations

import random

from serving.scorer.errors import HeaderTooLarge

MAX_ID_LENGTH = 100
_ID_HEADERS = frozenset({b"x-request-id", b"x-ms-request-id", b"x-ms-client-request-id", b"traceid"})


class RequestIds:
    """The ids echoed on one answer; empty strings are not sent."""

    __slots__ = ("client_request_id", "legacy_request_id", "request_id", "trace_id")

    def __init__(
        self,
        request_id: str = "",
        legacy_request_id: str = "",
        client_request_id: str = "",
        trace_id: str = "",
    ) -> None:
        self.request_id = request_id
        self.legacy_request_id = legacy_request_id
        self.client_request_id = client_request_id
        self.trace_id = trace_id

    def header_bytes(self) -> bytes:
        parts = []
        if self.request_id:
            parts.append(b"x-request-id: " + self.request_id.encode("latin-1") + b"\r\n")
        if self.legacy_request_id:
            parts.append(b"x-ms-request-id: " + self.legacy_request_id.encode("latin-1") + b"\r\n")
        if self.client_request_id:
            parts.append(b"x-ms-client-request-id: " + self.client_request_id.encode("latin-1") + b"\r\n")
        if self.trace_id:
            parts.append(b"TraceId: " + self.trace_id.encode("latin-1") + b"\r\n")
        return b"".join(parts)


def new_request_id() -> str:
    """A random (version 4) UUID as text; ids only need to be unique, so the fast PRNG is fine."""
    text = f"{random.getrandbits(128):032x}"
    variant = "89ab"[int(text[16], 16) & 3]
    return f"{text[:8]}-{text[8:12]}-4{text[13:16]}-{variant}{text[17:20]}-{text[20:]}"


def request_ids(raw_headers: list[tuple[bytes, bytes]]) -> tuple[RequestIds, HeaderTooLarge | None]:
    """The ids to echo, and the 431 error when one is too long (then only the valid ids are echoed)."""
    found: dict[bytes, str] = {}
    for name, value in raw_headers:
        lowered = name.lower()
        if lowered in _ID_HEADERS and lowered not in found:
            found[lowered] = value.decode("latin-1")
    trace_id = found.get(b"traceid", "")
    request_id = found.get(b"x-request-id") or new_request_id()
    if len(request_id) > MAX_ID_LENGTH:
        return RequestIds(trace_id=trace_id), HeaderTooLarge(
            f"x-request-id must not exceed {MAX_ID_LENGTH} characters"
        )
    # x-ms-request-id is Azure ML's legacy client id: it falls back to the client id, then to the request id.
    legacy = found.get(b"x-ms-request-id", "")
    client = found.get(b"x-ms-client-request-id", "")
    if legacy:
        client = client or legacy
    else:
        legacy = client or request_id
    if len(legacy) > MAX_ID_LENGTH or len(client) > MAX_ID_LENGTH:
        return RequestIds(request_id=request_id, trace_id=trace_id), HeaderTooLarge(
            f"x-ms-request-id and x-ms-client-request-id must not exceed {MAX_ID_LENGTH} characters"
        )
    return RequestIds(request_id, legacy, client, trace_id), None
