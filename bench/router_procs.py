"""The processes the router bench measures, each pinned to its CPUs and stopped by the bench: stand-in
backends (standin_backend.py), the nginx router (`python -m serving.router`), the Python contrast router
(python_router.py); and the router.json they read."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from wrk import free_port

KEY = "bench-key-0123456789abcdef"
STANDIN_BACKEND = Path(__file__).with_name("standin_backend.py")
PYTHON_ROUTER = Path(__file__).with_name("python_router.py")
# The scorer stand-in gets the last CPU to itself in every run; the load generator and the router
# share the others. Direct and routed runs then give the backend the same resources, and the
# router's CPU shows up as competition with the client, not as noise from the scheduler.
ALL_CPUS = sorted(os.sched_getaffinity(0))
BACKEND_CPUS = set(ALL_CPUS[-1:])
CLIENT_CPUS = set(ALL_CPUS[:-1] or ALL_CPUS)


def wait_port(port: int, path: str = "/", timeout_s: float = 20.0, expect: bytes = b"HTTP/1.1 200") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
                if sock.recv(64).startswith(expect):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"port {port} did not answer {expect!r} on {path}")


class Procs:
    """Every process this bench starts, stopped by pid (process group) at the end."""

    def __init__(self, log: Path) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self.log = log

    def start(
        self, args: list[str], cpus: set[int], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as log:
            proc = subprocess.Popen(
                ["taskset", "-c", ",".join(map(str, sorted(cpus))), *args],
                env={**os.environ, **(env or {})},
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            self.stop(proc)


def backend(
    procs: Procs, name: str, work_us: float = 0, delay_ms: float = 0, cpus: set[int] = BACKEND_CPUS
) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    args = [sys.executable, str(STANDIN_BACKEND), str(port), name, str(work_us), str(delay_ms)]
    proc = procs.start(args, cpus)
    wait_port(port)
    return f"127.0.0.1:{port}", proc


def write_config(
    run: Path, deployments: dict[str, list[str]], traffic: dict[str, int], mirror: dict[str, int]
) -> Path:
    run.mkdir(parents=True, exist_ok=True)
    path = run / "router.json"
    config = {
        "endpoint": "bench",
        "deployments": {name: {"instances": instances} for name, instances in deployments.items()},
        "traffic": traffic,
        "mirror_traffic": mirror,
    }
    path.write_text(json.dumps(config))
    return path


def nginx_router(procs: Procs, config: Path, metrics_port: int = 0) -> tuple[int, subprocess.Popen[bytes]]:
    port = free_port()
    env = {
        "MLE_ROUTER_CONFIG": str(config),
        "MLE_ROUTER_PRIMARY_KEY": KEY,
        "MLE_ROUTER_PORT": str(port),
        "MLE_ROUTER_HOST": "127.0.0.1",
        "MLE_ROUTER_METRICS_PORT": str(metrics_port),
    }
    proc = procs.start([sys.executable, "-m", "serving.router"], CLIENT_CPUS, env)
    wait_port(port)
    return port, proc


def py_router(procs: Procs, config: Path) -> tuple[int, subprocess.Popen[bytes]]:
    port = free_port()
    args = [sys.executable, str(PYTHON_ROUTER), str(port), str(config)]
    proc = procs.start(args, CLIENT_CPUS, {"MLE_ROUTER_PRIMARY_KEY": KEY})
    wait_port(port, "/score", expect=b"HTTP/1.1 ")
    return port, proc
