"""The `mle` command line's pure parts: grouping outputs, choosing an endpoint, the curl it prints."""

from __future__ import annotations

import pytest

from components.endpoint_cli import CliError, credential, curl_command, endpoints_of, pick_endpoint
from serving.router.errors import TokenError
from serving.router.tokens import verify_token

OUTPUTS = {
    "shop.scoring_uri": "http://127.0.0.1:1/score",
    "shop.deployments": {"blue": "Succeeded"},
    "fraud.scoring_uri": "http://127.0.0.1:2/score",
}


def test_outputs_group_by_endpoint() -> None:
    grouped = endpoints_of(OUTPUTS)
    assert grouped["shop"] == {
        "scoring_uri": "http://127.0.0.1:1/score",
        "deployments": {"blue": "Succeeded"},
    }
    assert set(grouped) == {"shop", "fraud"}


def test_pick_endpoint_names_the_choices() -> None:
    with pytest.raises(CliError, match="several endpoints, name one: fraud, shop"):
        pick_endpoint(OUTPUTS, None)
    with pytest.raises(CliError, match=r"no endpoint 'nope'.*fraud, shop"):
        pick_endpoint(OUTPUTS, "nope")
    assert pick_endpoint(OUTPUTS, "fraud")[1]["scoring_uri"].endswith(":2/score")
    with pytest.raises(CliError, match="no endpoints"):
        pick_endpoint({}, None)


def test_curl_reads_the_key_from_the_shell_never_inline() -> None:
    cmd = curl_command("http://127.0.0.1:8631/score", "req file.json", deployment="green")
    assert '"Authorization: Bearer $KEY"' in cmd
    assert "'azureml-model-deployment: green'" in cmd
    assert "@'req file.json'" in cmd


def test_credential_is_the_key_or_a_token_for_this_endpoint() -> None:
    assert credential("shop", {"auth_mode": "key", "primary_key": "k1"}) == "k1"
    secret = "s" * 40
    token = credential("shop", {"auth_mode": "aml_token", "token_secret": secret}, ttl_s=60)
    assert verify_token(secret, token, audience="shop")
    with pytest.raises(TokenError):
        verify_token(secret, token, audience="other")
    with pytest.raises(CliError, match="exports no token secret"):
        credential("shop", {"auth_mode": "aml_token"})
