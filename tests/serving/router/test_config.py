"""Router config and secrets validation: clear errors that name the field, never the secret."""

from __future__ import annotations

import json

import pytest

from serving.router.config import RouterConfig, RouterSecrets, load_config, load_secrets_file, parse_config
from serving.router.errors import ConfigError


def secrets(**values: str | None) -> RouterSecrets:
    """Plain strings in, SecretStr inside (pydantic converts; this keeps the type checker content)."""
    return RouterSecrets.model_validate(values)


def config(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "endpoint": "my-endpoint",
        "deployments": {"blue": {"instances": ["blue-0:5001"]}, "green": {"instances": ["10.0.0.7:5001"]}},
        "traffic": {"blue": 90, "green": 10},
    }
    return {**base, **fields}


def test_a_full_config_parses_with_defaults():
    parsed = parse_config(json.dumps(config(mirror_traffic={"green": 20})))
    assert parsed.auth_mode == "key"
    assert parsed.live_traffic == {"blue": 90, "green": 10}
    assert parsed.mirror == ("green", 20)
    assert parsed.deployments["blue"].request_timeout_ms == 5000
    assert parsed.read_timeout_ms == 6000


def test_zero_weights_are_not_live_and_zero_mirror_is_no_mirror():
    parsed = RouterConfig.model_validate(
        config(traffic={"blue": 100, "green": 0}, mirror_traffic={"green": 0})
    )
    assert parsed.live_traffic == {"blue": 100}
    assert parsed.mirror is None


def test_an_endpoint_without_deployments_or_traffic_is_valid():
    parsed = RouterConfig.model_validate({"endpoint": "fresh-endpoint"})
    assert parsed.live_traffic == {} and parsed.deployments == {}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"traffic": {"blue": 60}}, "traffic weights sum to 60"),
        (
            {"traffic": {"blue": 90, "purple": 10}},
            "traffic names deployment 'purple', which is not one of: blue, green",
        ),
        ({"traffic": {"blue": 110, "green": -10}}, "traffic['blue'] is 110"),
        ({"mirror_traffic": {"green": 60}}, "at most 50 %"),
        ({"mirror_traffic": {"green": 10, "blue": 10}}, "at most one may be mirrored"),
        ({"mirror_traffic": {"blue": 10}, "traffic": {"blue": 100}}, "already takes 100 % of live traffic"),
        ({"endpoint": "x"}, "endpoint name 'x' is invalid"),
        ({"endpoint": "1abc"}, "endpoint name '1abc' is invalid"),
        ({"deployments": {"blue_1": {}}, "traffic": {}}, "deployment name 'blue_1' is invalid"),
        (
            {"deployments": {"blue": {"instances": ["no-port"]}}, "traffic": {}},
            "instance 'no-port' is not host:port",
        ),
        ({"deployments": {"blue": {"instances": ["h:70000"]}}, "traffic": {}}, "outside 1-65535"),
        ({"deployments": {"blue": {"instances": ["h:1", "h:1"]}}, "traffic": {}}, "repeat an address"),
        ({"deployments": {"blue": {}, "Blue": {}}, "traffic": {}}, "differ by more than letter case"),
        ({"auth_mode": "password"}, "auth_mode"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_invalid_configs_name_the_problem(fields, message):
    with pytest.raises(ConfigError, match="router config") as error:
        parse_config(json.dumps(config(**fields)))
    assert message in str(error.value)


def test_load_config_names_the_file(tmp_path):
    path = tmp_path / "router.json"
    with pytest.raises(ConfigError, match=f"{path}: cannot read it"):
        load_config(path)
    path.write_text("{not json")
    with pytest.raises(ConfigError, match=f"{path}: not valid JSON"):
        load_config(path)
    path.write_text(json.dumps(config()))
    assert load_config(path).endpoint == "my-endpoint"


def test_secrets_are_masked_and_never_echoed(tmp_path):
    loaded = secrets(primary_key="abcdefghijklmnop1234", secondary_key="qrstuvwxyz12345678")
    assert "abcdefghijklmnop1234" not in repr(loaded)
    assert loaded.accepted_keys() == ("abcdefghijklmnop1234", "qrstuvwxyz12345678")
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps({"primary_key": 'has "quotes" and spaces in it'}))
    with pytest.raises(ConfigError, match="primary_key: key must be") as error:
        load_secrets_file(path)
    assert "quotes" not in str(error.value)


@pytest.mark.parametrize(
    "bad", ["short", "has space 0123456789", "dollar$0123456789abc", 'quote"0123456789abcd']
)
def test_keys_must_be_safe_to_place_in_nginx_conf(bad):
    with pytest.raises(ValueError):
        secrets(primary_key=bad)


def test_the_auth_mode_needs_its_secret():
    key_mode = RouterConfig.model_validate(config())
    token_mode = RouterConfig.model_validate(config(auth_mode="aml_token"))
    with pytest.raises(ConfigError, match="auth_mode is key but the env gives neither"):
        RouterSecrets().require_for(key_mode, "the env")
    with pytest.raises(ConfigError, match="auth_mode is aml_token but the env gives no token_secret"):
        secrets(primary_key="abcdefghijklmnop1234").require_for(token_mode, "the env")
    with pytest.raises(ValueError, match="at least 32"):
        secrets(token_secret="too-short")
