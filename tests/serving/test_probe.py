"""serving.probe, the containers' Docker health check: liveness exit code, readiness output."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.targets.local.plan import probe_test
from serving import probe

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def server() -> Iterator[tuple[int, dict[str, int]]]:
    statuses: dict[str, int] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(statuses.get(self.path, 404))
            if self.path == "/failed":  # the scorer's answer for a script whose init() failed
                self.send_header("x-ms-scorer-state", "failed")
            self.end_headers()
            if self.path == "/failed":
                self.wfile.write(b'{"message": "init() raised"}')

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    yield httpd.server_address[1], statuses
    httpd.shutdown()


def test_live_and_ready(server: tuple[int, dict[str, int]], capsys: pytest.CaptureFixture[str]) -> None:
    port, statuses = server
    statuses.update({"/": 200, "/readyz": 200})
    assert probe.main([str(port), "/", "/readyz"]) == 0
    assert capsys.readouterr().out == "ready\n"


def test_live_but_not_ready_is_still_live(
    server: tuple[int, dict[str, int]], capsys: pytest.CaptureFixture[str]
) -> None:
    # Readiness failures must never restart an instance (the router only skips it).
    port, statuses = server
    statuses.update({"/": 200, "/readyz": 503})
    assert probe.main([str(port), "/", "/readyz"]) == 0
    assert capsys.readouterr().out == "not-ready\n"


def test_not_live(server: tuple[int, dict[str, int]], capsys: pytest.CaptureFixture[str]) -> None:
    port, statuses = server
    statuses["/"] = 500
    assert probe.main([str(port), "/"]) == 1
    assert capsys.readouterr().out == "not-live\n"


def test_nothing_listening_is_not_live() -> None:
    assert probe.answers(1, "/") is None


def test_readiness_tells_a_failed_script_apart(
    server: tuple[int, dict[str, int]], capsys: pytest.CaptureFixture[str]
) -> None:
    port, statuses = server
    statuses["/readyz"] = 200
    assert probe.main(["--readiness", str(port), "/readyz"]) == 0
    statuses["/readyz"] = 503
    assert probe.main(["--readiness", str(port), "/readyz"]) == 1
    assert probe.main(["--readiness", "1", "/readyz"]) == 1  # nothing listening
    statuses["/failed"] = 503
    capsys.readouterr()
    assert probe.main(["--readiness", str(port), "/failed"]) == probe.FAILED
    assert "init() raised" in capsys.readouterr().out


def test_usage_errors() -> None:
    assert probe.main([]) == 2
    assert probe.main(["port", "/"]) == 2


# ---------------------------------------------------------------- the command the engine runs


def _run_health_check(command: list[str], *flags: str) -> subprocess.CompletedProcess[str]:
    """The health check's command as the engine runs it, with this interpreter as `python`."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, *flags, *command[1:]], env=env, capture_output=True, text=True, timeout=60
    )


def _imported(importtime_stderr: str) -> set[str]:
    return {
        line.split("|")[-1].strip()
        for line in importtime_stderr.splitlines()
        if line.startswith("import time:") and not line.endswith("| imported package")
    }


def test_the_health_check_command_probes_liveness_and_readiness(server: tuple[int, dict[str, int]]) -> None:
    port, statuses = server
    statuses.update({"/": 200, "/readyz": 503})
    done = _run_health_check(probe_test(port, "/", "/readyz"))
    assert (done.returncode, done.stdout) == (0, "not-ready\n"), done.stderr
    statuses["/"] = 500
    done = _run_health_check(probe_test(port, "/"))
    assert (done.returncode, done.stdout) == (1, "not-live\n"), done.stderr


def test_a_health_check_imports_nothing_beyond_the_interpreter_s_start(
    server: tuple[int, dict[str, int]],
) -> None:
    # The engine runs it every 10 s in every container: urllib alone was ~50 ms of CPU a check.
    port, statuses = server
    statuses.update({"/": 200, "/readyz": 200})
    bare = subprocess.run(
        [sys.executable, "-S", "-X", "importtime", "-c", "pass"], capture_output=True, text=True, timeout=60
    )
    done = _run_health_check(probe_test(port, "/", "/readyz"), "-X", "importtime")
    assert (done.returncode, done.stdout) == (0, "ready\n"), done.stderr
    extra = _imported(done.stderr) - _imported(bare.stderr)
    assert extra <= {"_socket", "serving", "serving.probe", "__future__"}, sorted(extra)
