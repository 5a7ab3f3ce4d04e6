"""Public API auth: `Authorization: Bearer <key or token>`, checked like the router checks them."""

from __future__ import annotations

import hmac

from serving.batch.controller.errors import Unauthorized
from serving.router.config import RouterSecrets
from serving.router.errors import TokenError
from serving.router.tokens import bearer, verify_token


def authenticate(
    secrets: RouterSecrets, endpoint: str, authorization: str | None, now: float | None = None
) -> None:
    """Accept one of the endpoint's keys or a valid token for it; raise Unauthorized otherwise.

    Azure's batch endpoints take tokens only; the endpoint's keys are accepted too so that the same
    credentials work for online and batch endpoints of a local stack.
    """
    try:
        credential = bearer(authorization)
    except TokenError as exc:
        raise Unauthorized(str(exc)) from None
    keys = secrets.accepted_keys()
    if not keys and secrets.token_secret is None:
        raise Unauthorized("this endpoint has no keys and no token secret configured")
    matched = False
    for key in keys:  # every key is compared, so timing does not tell which one matched
        matched |= hmac.compare_digest(key.encode(), credential.encode())
    if matched:
        return
    if secrets.token_secret is None or credential.count(".") != 2:
        raise Unauthorized("the key or token is not valid for this endpoint")
    try:
        verify_token(secrets.token_secret.get_secret_value(), credential, audience=endpoint, now=now)
    except TokenError as exc:
        raise Unauthorized(str(exc)) from None
