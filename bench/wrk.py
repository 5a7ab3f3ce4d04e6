"""wrk on loopback, shared by both benches: a free port to serve on, a script that POSTs a body, and
running wrk --latency and parsing its report."""

from __future__ import annotations

import json
import re
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class WrkReport:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # socket errors (connect, read, write, timeout) + non-2xx answers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def post_script(path: Path, body: bytes) -> Path:
    """A wrk script that POSTs `body` as JSON (what a scorer's /score expects)."""
    # A JSON string literal reads the same in Lua for the sample requests (ASCII; \n \" \\ escapes).
    path.write_text(
        f'wrk.method = "POST"\nwrk.body = {json.dumps(body.decode())}\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    return path


def run_wrk(args: list[str], port: int, timeout: float | None = None) -> WrkReport:
    """Run the wrk command line `args` (with --latency) against /score on `port`; its report, parsed."""
    out = subprocess.run(
        [*args, f"http://127.0.0.1:{port}/score"], capture_output=True, text=True, check=True, timeout=timeout
    ).stdout
    requests = int(re.search(r"(\d+) requests in", out)[1])  # type: ignore[index]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non2xx[1]) if non2xx else 0) + (
        sum(map(int, socket_errors.groups())) if socket_errors else 0
    )
    return WrkReport(
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1]),  # type: ignore[index]
        p50_ms=_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M)[1]),  # type: ignore[index]
        p99_ms=_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M)[1]),  # type: ignore[index]
        requests=requests,
        errors=errors,
    )


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


def _ms(text: str) -> float:
    """A wrk latency ("812.00us", "1.53ms", "2.10s", "1.02m") in milliseconds."""
    match = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    assert match, text
    return float(match[1]) * _UNITS[match[2]]
