"""nginx.conf rendering: pure text from the config, accepted by the real nginx (`nginx -t`)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from serving.router.config import RouterConfig, RouterSecrets
from serving.router.nginx_conf import Layout, generation_of, render


def secrets(**values: str | None) -> RouterSecrets:
    """Plain strings in, SecretStr inside (pydantic converts; this keeps the type checker content)."""
    return RouterSecrets.model_validate(values)


KEYS = secrets(primary_key="primary-0123456789ab", secondary_key="secondary-0123456789")
TOKEN = secrets(token_secret="t" * 40)


def make(**fields: object) -> RouterConfig:
    base: dict[str, object] = {
        "endpoint": "my-endpoint",
        "deployments": {
            "blue": {"instances": ["blue-0:5001", "blue-1:5001"], "max_fails": 2, "fail_timeout_s": 7},
            "green": {"instances": ["green-0:5001"], "request_timeout_ms": 90_000},
        },
        "traffic": {"blue": 90, "green": 10},
    }
    return RouterConfig.model_validate({**base, **fields})


ADDRESSES = {
    "blue-0:5001": ["172.18.0.2:5001"],
    "blue-1:5001": ["172.18.0.3:5001"],
    "green-0:5001": ["172.18.0.4:5001"],
}


def layout(tmp_path: Path) -> Layout:
    result = Layout(run_dir=tmp_path, host="127.0.0.1", port=18080, metrics_port=19090, workers="1")
    for path in (*result.temp_dirs.values(), result.empty_dir, result.auth_cache):
        path.mkdir(parents=True, exist_ok=True)
    return result


def test_upstreams_carry_instances_and_health_settings(tmp_path):
    text = render(make(), KEYS, layout(tmp_path), ADDRESSES)
    assert "server 172.18.0.2:5001 max_fails=2 fail_timeout=7s;" in text
    assert "server 172.18.0.4:5001 max_fails=3 fail_timeout=10s;" in text
    assert "upstream mle_dep_blue {" in text and "least_conn;" in text
    assert "proxy_read_timeout 91s;" in text  # the longest request timeout plus a second


def test_an_instance_without_address_leaves_a_down_placeholder(tmp_path):
    text = render(make(), KEYS, layout(tmp_path), {"blue-0:5001": ["172.18.0.2:5001"]})
    green = text[text.index("upstream mle_dep_green {") :].split("}", 1)[0]
    assert "server 127.0.0.1:9 down;" in green


def test_key_mode_maps_both_keys_and_checks_case_sensitively(tmp_path):
    text = render(make(), KEYS, layout(tmp_path), ADDRESSES)
    assert '"Bearer primary-0123456789ab" "Bearer primary-0123456789ab";' in text
    assert '"Bearer secondary-0123456789" "Bearer secondary-0123456789";' in text
    assert "if ($http_authorization != $mle_expected_authorization)" in text
    assert "auth_request" not in text


def test_token_mode_asks_the_control_socket_and_caches_verdicts(tmp_path):
    text = render(make(auth_mode="aml_token"), TOKEN, layout(tmp_path), ADDRESSES)
    assert "auth_request /_mle/auth;" in text
    assert "proxy_cache mle_auth;" in text
    assert "Bearer" not in text.split("log_format", 1)[0]
    assert "t" * 40 not in text  # only a fingerprint of the secret


def test_mirror_parts_appear_only_with_a_mirror(tmp_path):
    plain = render(make(), KEYS, layout(tmp_path), ADDRESSES)
    mirrored = render(make(mirror_traffic={"green": 20}), KEYS, layout(tmp_path), ADDRESSES)
    assert "mirror " not in plain and "mirror.sock" not in plain
    assert "mirror /_mle/mirror;" in mirrored
    assert "proxy_pass http://mle_dep_green$request_uri;" in mirrored
    assert "limit_conn mle_mirrors 1024;" in mirrored


def test_rendering_is_deterministic_and_generations_track_changes(tmp_path):
    first = render(make(), KEYS, layout(tmp_path), ADDRESSES)
    assert render(make(), KEYS, layout(tmp_path), ADDRESSES) == first
    changed = render(make(traffic={"blue": 50, "green": 50}), KEYS, layout(tmp_path), ADDRESSES)
    assert generation_of(first) != generation_of(changed)
    assert len(generation_of(first)) == 16


def test_only_weighted_traffic_is_sampled_for_the_mirror(tmp_path):
    text = render(make(mirror_traffic={"green": 20}), KEYS, layout(tmp_path), ADDRESSES)
    block = text[text.index("map $mle_header_target $mle_mirror {") :].split("}", 1)[0]
    assert "default 0;" in block and '"" $mle_mirror_sampled;' in block


@pytest.mark.usefixtures("nginx_present")
@pytest.mark.parametrize(
    ("config", "secrets"),
    [
        (make(), KEYS),
        (make(mirror_traffic={"green": 50}), KEYS),
        (make(auth_mode="aml_token", mirror_traffic={"green": 5}), TOKEN),
        (RouterConfig(endpoint="empty-endpoint"), KEYS),
        (make(traffic={}), KEYS),
    ],
    ids=["key", "mirror", "token", "no-deployments", "no-traffic"],
)
def test_nginx_accepts_the_rendered_config(tmp_path, config, secrets):
    where = layout(tmp_path)
    where.conf.write_text(render(config, secrets, where, ADDRESSES))
    result = subprocess.run(
        ["nginx", "-t", "-q", "-p", str(tmp_path), "-c", str(where.conf), "-e", "stderr"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
