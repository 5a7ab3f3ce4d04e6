"""Router files: rendered identically in the program and the provider; atomic writes; applied-wait."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.targets.local.router_files import write_atomically
from components.targets.rendering import expected_digest, render_files
from components.targets.router_applied import wait_applied

CONFIG = {"endpoint": "shop", "traffic": {"blue": 90, "green": 10}, "deployments": {}}
SECRETS = {"primary_key": "k" * 32}


def test_numbers_render_the_same_after_pulumi_made_them_floats() -> None:
    as_provider_sees_it = {"endpoint": "shop", "traffic": {"blue": 90.0, "green": 10.0}, "deployments": {}}
    assert render_files(as_provider_sees_it, SECRETS) == render_files(CONFIG, SECRETS)
    assert '"blue": 90,' in render_files(as_provider_sees_it, SECRETS)[0]


def test_digest_changes_with_traffic_and_keys() -> None:
    base = expected_digest(CONFIG, SECRETS)
    assert base != expected_digest({**CONFIG, "traffic": {"blue": 100}}, SECRETS)
    assert base != expected_digest(CONFIG, {"primary_key": "j" * 32})


def test_write_is_atomic_and_private(tmp_path: Path) -> None:
    target = tmp_path / "router" / "secrets.json"
    write_atomically(target, "one", mode=0o600)
    write_atomically(target, "two", mode=0o600)
    assert target.read_text() == "two"
    assert target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["secrets.json"]


@pytest.fixture
def health_server() -> Iterator[tuple[str, list[str]]]:
    reported = ["old"]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("X-Mlendpoints-Config", reported[0])
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", reported
    server.shutdown()


def test_wait_applied_returns_once_the_router_reports_the_digest(
    health_server: tuple[str, list[str]],
) -> None:
    url, reported = health_server
    threading.Timer(0.3, lambda: reported.__setitem__(0, "new")).start()
    wait_applied(url, "new", timeout_s=10)


def test_wait_applied_fails_with_what_the_router_reports(health_server: tuple[str, list[str]]) -> None:
    url, _ = health_server
    with pytest.raises(RuntimeError, match=r"did not apply the new config within 1s.*reports: old"):
        wait_applied(url, "new", timeout_s=1)
