"""Endpoint tokens of our own issue: compact HS256 JWTs with expiry, checked in constant time."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

from serving.router.errors import TokenError

_HEADER = {"alg": "HS256", "typ": "JWT"}
CLOCK_SKEW_S = 5.0


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token says."""

    issued_at: float
    expires_at: float
    audience: str | None


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    try:
        # Strict: characters outside base64url are an error, not silently dropped.
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise TokenError("token is malformed: a part is not base64url") from None


def _sign(secret: str, signing_input: str) -> bytes:
    return hmac.new(secret.encode("utf-8"), signing_input.encode("ascii"), hashlib.sha256).digest()


def issue_token(secret: str, ttl_s: float, *, audience: str | None = None, now: float | None = None) -> str:
    """A token valid for `ttl_s` seconds; `audience` (the endpoint name) pins it to one endpoint."""
    if ttl_s <= 0:
        raise TokenError(f"token lifetime must be positive, got {ttl_s}")
    issued = time.time() if now is None else now
    claims: dict[str, object] = {"iat": int(issued), "exp": int(issued + ttl_s)}
    if audience is not None:
        claims["aud"] = audience
    header = _b64encode(json.dumps(_HEADER, separators=(",", ":")).encode())
    payload = _b64encode(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}"
    return f"{signing_input}.{_b64encode(_sign(secret, signing_input))}"


def bearer(authorization: str | None) -> str:
    """The credential of an `Authorization: Bearer <credential>` header."""
    scheme, _, credential = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise TokenError("missing bearer token: send 'Authorization: Bearer <token>'")
    return credential.strip()


def verify_token(
    secret: str, token: str, *, audience: str | None = None, now: float | None = None
) -> TokenClaims:
    """Check signature (constant time), algorithm, audience and expiry; raise TokenError otherwise."""
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("token is malformed: expected three dot-separated parts")
    header_b64, payload_b64, signature_b64 = parts
    # Signature first: nothing an attacker wrote is parsed before it is known to be ours.
    expected = _sign(secret, f"{header_b64}.{payload_b64}")
    if not hmac.compare_digest(expected, _b64decode(signature_b64)):
        raise TokenError("token signature is invalid")
    try:
        header = json.loads(_b64decode(header_b64))
        claims = json.loads(_b64decode(payload_b64))
    except ValueError:
        raise TokenError("token is malformed: header or payload is not JSON") from None
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise TokenError("token algorithm is not HS256")
    if not isinstance(claims, dict):
        raise TokenError("token payload is not an object")
    expires, issued = claims.get("exp"), claims.get("iat", 0)
    if not isinstance(expires, int | float) or not isinstance(issued, int | float):
        raise TokenError("token has no numeric exp/iat claims")
    if audience is not None and claims.get("aud") not in (None, audience):
        raise TokenError("token was issued for another endpoint")
    current = time.time() if now is None else now
    if current >= expires:
        raise TokenError("token has expired; get a new one")
    if issued > current + CLOCK_SKEW_S:
        raise TokenError("token is issued in the future; check the clock")
    aud = claims.get("aud")
    return TokenClaims(issued_at=float(issued), expires_at=float(expires), audience=aud if aud else None)
