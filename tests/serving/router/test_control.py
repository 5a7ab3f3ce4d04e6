"""The control socket's app: token verdicts for nginx's auth_request, and the metrics page."""

from __future__ import annotations

import asyncio

from serving.router.config import RouterConfig, RouterSecrets
from serving.router.control import ControlState, create_app, serve_control
from serving.router.metrics import RouterMetrics
from serving.router.tokens import issue_token

SECRET = "c" * 40


def secrets(**values: str | None) -> RouterSecrets:
    """Plain strings in, SecretStr inside (pydantic converts; this keeps the type checker content)."""
    return RouterSecrets.model_validate(values)


def app(secret: str | None = SECRET):
    config = RouterConfig(endpoint="ep-one", auth_mode="aml_token")
    return create_app(ControlState(config, secrets(token_secret=secret), RouterMetrics("ep-one")))


def test_a_good_token_is_cached_no_longer_than_it_lives():
    control = app()
    long_lived = control.verify(f"Bearer {issue_token(SECRET, 3600, audience='ep-one', now=100)}", now=100)
    assert (long_lived.status, long_lived.headers["X-Accel-Expires"]) == (200, "60")
    short_lived = control.verify(f"Bearer {issue_token(SECRET, 20, audience='ep-one', now=100)}", now=105)
    assert short_lived.headers["X-Accel-Expires"] == "15"


def test_refusals_carry_a_reason_safe_for_a_json_string():
    control = app()
    expired = control.verify(f"Bearer {issue_token(SECRET, 10, now=100)}", now=200)
    assert expired.status == 401 and "expired" in expired.headers["X-Mle-Auth-Message"]
    assert "bearer" in control.verify(None).headers["X-Mle-Auth-Message"]
    for response in (expired, control.verify('Bearer a"b\\c.d.e')):
        assert (
            '"' not in response.headers["X-Mle-Auth-Message"]
            and "\\" not in response.headers["X-Mle-Auth-Message"]
        )
    unconfigured = app(None).verify(f"Bearer {issue_token(SECRET, 10)}")
    assert unconfigured.status == 401


def test_routes():
    control = app()
    assert control("GET", "/metrics", {}).body.startswith(b"# HELP")
    assert control("GET", "/verify?x=1", {}).status == 401
    assert control("POST", "/metrics", {}).status == 405
    assert control("GET", "/other", {}).status == 404


def test_it_speaks_http_over_the_unix_socket(tmp_path):
    async def scenario() -> list[bytes]:
        path = tmp_path / "control.sock"
        server = await serve_control(app(), path)
        reader, writer = await asyncio.open_unix_connection(str(path))
        token = issue_token(SECRET, 600, audience="ep-one")
        answers = []
        for auth in (f"Bearer {token}", "Bearer nope"):
            writer.write(f"GET /verify HTTP/1.1\r\nHost: c\r\nAuthorization: {auth}\r\n\r\n".encode())
            answers.append(await reader.readuntil(b"\r\n\r\n"))
        writer.close()
        server.close()
        await server.wait_closed()
        return answers

    good, bad = asyncio.run(scenario())
    assert good.startswith(b"HTTP/1.1 200") and b"X-Accel-Expires: " in good
    assert bad.startswith(b"HTTP/1.1 401") and b"X-Mle-Auth-Message: " in bad
