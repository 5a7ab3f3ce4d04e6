"""An endpoint in a token auth mode: tokens of our own issue open it, keys and foreign tokens do not."""

from __future__ import annotations

import json
import subprocess

import pytest

from serving.router.tokens import issue_token
from tests.integration.fixtures.tiny_endpoint import local_stack, tiny_serving
from tests.integration.pulumi_stack import REPO, TempStack
from tests.integration.scoring import post_score

pytestmark = pytest.mark.integration
ENDPOINT = "it-token"


def _status(uri: str, credential: str) -> int:
    return post_score(uri, credential)[0]


def test_token_mode_endpoint() -> None:
    serving = tiny_serving(ENDPOINT)
    serving["endpoints"][0]["auth_mode"] = "aml_token"
    stack = TempStack.create(local_stack(serving))
    try:
        stack.up()
        out = stack.outputs(show_secrets=True)
        uri = out[f"{ENDPOINT}.scoring_uri"]
        assert out[f"{ENDPOINT}.auth_mode"] == "aml_token"
        # What a user runs: `scripts/mle token` (like az ml online-endpoint get-credentials).
        cli = subprocess.run(
            [str(REPO / "scripts" / "mle"), "--stack", stack.name, "token", "--ttl", "600"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        token = json.loads(cli.stdout)["accessToken"]
        assert _status(uri, token) == 200
        assert _status(uri, out[f"{ENDPOINT}.primary_key"]) == 401
        assert _status(uri, issue_token("x" * 40, 600, audience=ENDPOINT)) == 401  # foreign secret
        secret = out[f"{ENDPOINT}.token_secret"]
        assert _status(uri, issue_token(secret, 600, audience="another-endpoint")) == 401
        assert _status(uri, issue_token(secret, 1, audience=ENDPOINT, now=0)) == 401  # long expired
    finally:
        stack.destroy_and_remove()
