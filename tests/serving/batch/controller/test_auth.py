"""Public API auth: the endpoint's keys or a token for it."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from serving.batch.controller.auth import authenticate
from serving.batch.controller.errors import Unauthorized
from serving.router.config import RouterSecrets
from serving.router.tokens import issue_token
from tests.serving.batch.controller.helpers import KEY, SECONDARY, TOKEN_SECRET

SECRETS = RouterSecrets(
    primary_key=SecretStr(KEY), secondary_key=SecretStr(SECONDARY), token_secret=SecretStr(TOKEN_SECRET)
)


def test_keys_and_tokens_are_accepted() -> None:
    authenticate(SECRETS, "ep", f"Bearer {KEY}")
    authenticate(SECRETS, "ep", f"bearer {SECONDARY}")
    authenticate(SECRETS, "ep", f"Bearer {issue_token(TOKEN_SECRET, 60, audience='ep')}")


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (None, "missing bearer token"),
        ("Basic abc", "missing bearer token"),
        ("Bearer wrong-key-0123456789", "not valid for this endpoint"),
        (f"Bearer {issue_token(TOKEN_SECRET, 60, audience='other')}", "issued for another endpoint"),
        (f"Bearer {issue_token('x' * 40, 60, audience='ep')}", "signature is invalid"),
        (f"Bearer {issue_token(TOKEN_SECRET, 60, now=0)}", "expired"),
    ],
)
def test_anything_else_is_refused(authorization: str | None, message: str) -> None:
    with pytest.raises(Unauthorized, match=message):
        authenticate(SECRETS, "ep", authorization)


def test_an_endpoint_without_secrets_refuses_everyone() -> None:
    with pytest.raises(Unauthorized, match="no keys and no token secret"):
        authenticate(RouterSecrets(), "ep", f"Bearer {KEY}")
