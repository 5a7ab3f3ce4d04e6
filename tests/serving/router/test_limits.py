"""The router's size limits: rendered from serving/limits.py, and never tighter on the scorer behind it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from serving.limits import (
    KIB,
    MAX_BODY_BYTES,
    MAX_HEAD_BYTES,
    MIB,
    ROUTER_HEAD_MARGIN_BYTES,
    ROUTER_HEADER_BUFFER_BYTES,
    ROUTER_LARGE_HEADER_BUFFER_BYTES,
    ROUTER_MAX_HEAD_BYTES,
)
from serving.router.config import RouterConfig
from serving.router.nginx_conf import render
from serving.router.tokens import issue_token
from tests.serving.harness import ScorerProcess, scorer_process
from tests.serving.rawhttp import chunked, exchange, head
from tests.serving.router.conftest import PRIMARY, TOKEN_SECRET, needs_nginx
from tests.serving.router.test_nginx_conf import ADDRESSES, KEYS, layout, make

SCORE_BODY = b'{"data": [1]}'


def block(text: str, opening: str) -> str:
    """The text of the nginx block that starts with `opening` (up to its matching brace)."""
    start = text.index(opening)
    depth, pos = 0, text.index("{", start)
    while True:
        depth += {"{": 1, "}": -1}.get(text[pos], 0)
        if depth == 0:
            return text[start : pos + 1]
        pos += 1


def test_the_numbers_fit_together() -> None:
    assert RouterConfig.model_fields["max_body_mb"].default * MIB == MAX_BODY_BYTES
    assert ROUTER_MAX_HEAD_BYTES + ROUTER_HEAD_MARGIN_BYTES == MAX_HEAD_BYTES
    assert ROUTER_HEADER_BUFFER_BYTES % KIB == 0 and ROUTER_LARGE_HEADER_BUFFER_BYTES % KIB == 0


def test_the_rendered_config_carries_the_shared_limits(tmp_path: Path) -> None:
    text = render(make(), KEYS, layout(tmp_path), ADDRESSES)
    http = text[text.index("http {") : text.index("server {")]
    assert f"client_max_body_size {MAX_BODY_BYTES // MIB}m;" in http
    assert f"client_header_buffer_size {ROUTER_HEADER_BUFFER_BYTES // KIB}k;" in http
    assert f"large_client_header_buffers 1 {ROUTER_LARGE_HEADER_BUFFER_BYTES // KIB}k;" in http
    front = block(text, "server {")
    assert "error_page 414 = /_mle/uri-too-long;" in front
    assert "error_page 494 = /_mle/header-too-large;" in front
    assert 'return 414 \'{"message": ' in block(front, "location = /_mle/uri-too-long")
    assert 'return 431 \'{"message": ' in block(front, "location = /_mle/header-too-large")


def test_the_mirror_server_takes_any_head_the_front_server_forwards(tmp_path: Path) -> None:
    text = render(make(mirror_traffic={"green": 20}), KEYS, layout(tmp_path), ADDRESSES)
    mirror = block(text, f"server {{\n        listen unix:{layout(tmp_path).mirror_socket};")
    assert f"large_client_header_buffers 1 {MAX_HEAD_BYTES // KIB}k;" in mirror


# Live: the real router in front of a real scorer, both with the same limits.

BODY_MB = 1
ENDPOINT = "test-endpoint"


@pytest.fixture(scope="module")
def scorer() -> Iterator[ScorerProcess]:
    with scorer_process("ok", MAX_REQUEST_BODY_BYTES=str(BODY_MB * MIB)) as process:
        process.wait_ready()
        yield process


def _router(start_router, scorer: ScorerProcess, auth_mode: str) -> int:
    config = {
        "endpoint": ENDPOINT,
        "auth_mode": auth_mode,
        "deployments": {"blue": {"instances": [f"127.0.0.1:{scorer.port}"]}},
        "traffic": {"blue": 100},
        "max_body_mb": BODY_MB,
    }
    return int(start_router(config, {"MLE_ROUTER_TOKEN_SECRET": TOKEN_SECRET}).port)


@pytest.fixture
def router_port(start_router, scorer: ScorerProcess) -> int:
    return _router(start_router, scorer, "key")


AUTH = b"Authorization: Bearer " + PRIMARY.encode() + b"\r\n"


def scored(fields: bytes = b"", auth: bytes = AUTH) -> bytes:
    return b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + auth + fields


def largest_head(size: int, auth: bytes = AUTH) -> bytes:
    """A head whose first ROUTER_HEADER_BUFFER_BYTES are whole lines, then one padding header: the layout
    that lets nginx take the most (ROUTER_MAX_HEAD_BYTES), so what reaches the scorer is the largest."""
    start = scored(b"Content-Length: %d\r\n" % len(SCORE_BODY), auth)
    first = head(ROUTER_HEADER_BUFFER_BYTES + 2, start, b"X-Fill")[:-2]  # whole lines, no blank line yet
    return head(size, first)


@needs_nginx
def test_the_largest_head_the_router_takes_is_taken_by_the_scorer(router_port: int) -> None:
    answered = exchange(router_port, largest_head(ROUTER_MAX_HEAD_BYTES) + SCORE_BODY)
    assert [(a.status, a.body) for a in answered.answers] == [(200, b"[3.0]")]


@needs_nginx
def test_the_largest_head_passes_token_auth_and_the_scorer(start_router, scorer: ScorerProcess) -> None:
    # nginx hands the whole head to the control socket to check the token: it must take it too.
    port = _router(start_router, scorer, "aml_token")
    token = issue_token(TOKEN_SECRET, 600, audience=ENDPOINT)
    payload = largest_head(ROUTER_MAX_HEAD_BYTES, b"Authorization: Bearer %s\r\n" % token.encode())
    answered = exchange(port, payload + SCORE_BODY)
    assert [(a.status, a.body) for a in answered.answers] == [(200, b"[3.0]")]


@needs_nginx
def test_every_head_up_to_the_large_buffer_passes_in_any_layout(router_port: int) -> None:
    start = scored(b"Content-Length: %d\r\n" % len(SCORE_BODY))
    answered = exchange(router_port, head(ROUTER_LARGE_HEADER_BUFFER_BYTES, start) + SCORE_BODY)
    assert [(a.status, a.body) for a in answered.answers] == [(200, b"[3.0]")]


@needs_nginx
def test_a_larger_head_is_431_json_from_the_router(router_port: int) -> None:
    answered = exchange(router_port, largest_head(ROUTER_MAX_HEAD_BYTES + 1) + SCORE_BODY)
    [answer] = answered.answers
    assert answer.status == 431 and "request head limit" in answer.message
    assert "x-ms-server-version" not in answer.head.lower()  # nginx answered, not the scorer


@needs_nginx
def test_a_long_url_is_414_json_from_the_router(router_port: int) -> None:
    line = b"GET /score?q=" + b"a" * ROUTER_MAX_HEAD_BYTES + b" HTTP/1.1\r\n"
    answered = exchange(router_port, line + b"Host: x\r\n" + AUTH + b"\r\n")
    [answer] = answered.answers
    assert answer.status == 414 and "request line" in answer.message


@needs_nginx
def test_a_body_of_exactly_the_limit_passes_both_and_one_byte_more_is_413(router_port: int) -> None:
    body = SCORE_BODY + b" " * (BODY_MB * MIB - len(SCORE_BODY))
    plain = scored(b"Content-Length: %d\r\n\r\n" % len(body)) + body
    coded = scored(b"Transfer-Encoding: chunked\r\n\r\n") + chunked(body, 64 * KIB)
    assert [a.status for a in exchange(router_port, plain).answers] == [200]
    assert [a.status for a in exchange(router_port, coded).answers] == [200]
    over = body + b" "
    for payload in (
        scored(b"Content-Length: %d\r\n\r\n" % len(over)) + over,
        scored(b"Transfer-Encoding: chunked\r\n\r\n") + chunked(over, 64 * KIB),
    ):
        [answer] = exchange(router_port, payload).answers
        assert answer.status == 413 and f"({BODY_MB * MIB} bytes)" in answer.message
