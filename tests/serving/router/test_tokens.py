"""Tokens of our own issue: HS256 JWTs, expiry and audience checked, signature compared in constant time."""

from __future__ import annotations

import base64
import json

import pytest

from serving.router.errors import TokenError
from serving.router.tokens import bearer, issue_token, verify_token

SECRET = "s" * 40


def test_a_fresh_token_verifies_with_its_claims():
    token = issue_token(SECRET, 3600, audience="ep", now=1_000_000)
    claims = verify_token(SECRET, token, audience="ep", now=1_000_100)
    assert (claims.issued_at, claims.expires_at, claims.audience) == (1_000_000, 1_003_600, "ep")


def test_it_is_a_standard_hs256_jwt():
    header = json.loads(base64.urlsafe_b64decode(issue_token(SECRET, 60).split(".")[0] + "=="))
    assert header == {"alg": "HS256", "typ": "JWT"}


@pytest.mark.parametrize(
    ("token", "now", "message"),
    [
        (issue_token(SECRET, 60, now=1_000_000), 1_000_090, "expired"),
        (issue_token("x" * 40, 600, now=1_000_000), 1_000_090, "signature is invalid"),
        (issue_token(SECRET, 600, audience="other", now=1_000_000), 1_000_090, "another endpoint"),
        (issue_token(SECRET, 600, now=1_000_100), 1_000_060, "in the future"),
        ("abc", 1_000_090, "three dot-separated parts"),
        ("a.b.!!!", 1_000_090, "not base64url"),
    ],
)
def test_bad_tokens_are_refused_with_a_reason(token, now, message):
    with pytest.raises(TokenError, match=message):
        verify_token(SECRET, token, audience="ep", now=now)


def test_a_tampered_payload_fails_the_signature():
    header, payload, signature = issue_token(SECRET, 60, now=1_000_000).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["exp"] += 10_000
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(TokenError, match="signature"):
        verify_token(SECRET, f"{header}.{forged}.{signature}", now=1_000_030)


def test_alg_none_is_refused_even_when_signed():
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head, body = b64(b'{"alg":"none"}'), b64(b'{"exp":9999999999}')
    signature = b64(hmac.new(SECRET.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
    with pytest.raises(TokenError, match="HS256"):
        verify_token(SECRET, f"{head}.{body}.{signature}")


def test_bearer_extracts_the_credential():
    assert bearer("Bearer abc") == "abc"
    assert bearer("bearer  abc ") == "abc"
    for bad in (None, "", "Basic abc", "Bearer "):
        with pytest.raises(TokenError, match="missing bearer token"):
            bearer(bad)


def test_lifetime_must_be_positive():
    with pytest.raises(TokenError):
        issue_token(SECRET, 0)
