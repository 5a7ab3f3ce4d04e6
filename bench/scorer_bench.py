"""Side by side: our scorer vs azmlinfsrv, same score.py and workers, wrk on loopback; prints ratios."""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from paths import BLUE, CACHE, CONFORMANCE_MODEL_1, MODEL_1_CODE, REPO, SCORER_VENV
from wrk import free_port, post_script, run_wrk

# Both venvs get the same model packages, so only the server differs.
MODEL_PACKAGES = ("scikit-learn==1.9.1", "joblib==1.6.0", "numpy==2.4.6", "scipy==1.17.1")
AZMLINFSRV = "azureml-inference-server-http==1.5.1"
WRK = shutil.which("wrk") or "/usr/bin/wrk"


@dataclass(frozen=True)
class Script:
    name: str
    code: Path
    model_dir: Path
    body: bytes


@dataclass(frozen=True)
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


@dataclass(frozen=True)
class Server:
    name: str
    python: Path

    def command(self, script: Script, port: int, workers: int) -> tuple[list[str], dict[str, str]]:
        env = {
            **os.environ,
            "AZUREML_MODEL_DIR": str(script.model_dir),
            "WORKER_COUNT": str(workers),
            "PYTHONWARNINGS": "ignore",
        }
        if self.name == "scorer":
            env.update(
                PYTHONPATH=str(REPO),
                AML_APP_ROOT=str(script.code),
                AZUREML_ENTRY_SCRIPT="score.py",
                SERVER_PORT=str(port),
                SERVER_HOST="127.0.0.1",
            )
            return [str(self.python), "-m", "serving.scorer"], env
        env["AML_APP_ROOT"] = str(script.code)
        entry = str(script.code / "score.py")
        binary = self.python.parent / "azmlinfsrv"
        return [
            str(binary),
            "--entry_script",
            entry,
            "--port",
            str(port),
            "--worker_count",
            str(workers),
        ], env


def ensure_venv(path: Path, packages: list[str]) -> Path:
    python = path / "bin" / "python"
    marker = path / ".mlendpoints-bench"
    wanted = "\n".join(packages)
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    print(f"preparing {path} ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(path)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *packages], check=True
    )
    marker.write_text(wanted)
    return python


@contextlib.contextmanager
def running(server: Server, script: Script, workers: int) -> Iterator[tuple[int, int]]:
    port = free_port()
    command, env = server.command(script, port, workers)
    proc = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        wait_ready(server, port, proc)
        yield port, proc.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_ready(server: Server, port: int, proc: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
    path = "/readyz" if server.name == "scorer" else "/"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {proc.returncode} before it was ready")
        with contextlib.suppress(OSError, http.client.HTTPException):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{server.name} did not become ready on port {port}")


def check_answer(port: int, script: Script) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", "/score", body=script.body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"POST /score answered {response.status}: {body[:200]!r}")
    return body


def wrk(port: int, script: Script, connections: int, seconds: float, lua: Path) -> Load:
    threads = str(min(2, connections))
    command = [
        WRK,
        "-t",
        threads,
        "-c",
        str(connections),
        "-d",
        f"{max(1, round(seconds))}s",
        "--latency",
        "-s",
        str(lua),
    ]
    report = run_wrk(command, port, timeout=seconds + 30)
    return Load(report.rps, report.p50_ms, report.p99_ms, report.errors)


def median_load(loads: list[Load]) -> Load:
    return Load(
        statistics.median(load.rps for load in loads),
        statistics.median(load.p50_ms for load in loads),
        statistics.median(load.p99_ms for load in loads),
        sum(load.errors for load in loads),
    )


def worker_rss_mb(master_pid: int) -> list[float]:
    children = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(master_pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    sizes = []
    for pid in children:
        with contextlib.suppress(OSError):
            status = Path(f"/proc/{pid}/status").read_text()
            kb = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
            sizes.append(kb / 1024)
    return sizes


def ceiling(python: Path, script: Script, seconds: float) -> float:
    """run() in a loop in one process, logging as the scorer sets it up (root at INFO, to /dev/null)."""
    code = textwrap.dedent(
        f"""
        import importlib.util, logging, os, sys, time, warnings
        warnings.simplefilter("ignore")
        os.environ["AZUREML_MODEL_DIR"] = {str(script.model_dir)!r}
        logging.basicConfig(stream=open(os.devnull, "w"), level="INFO")
        spec = importlib.util.spec_from_file_location("entry_module", {str(script.code / "score.py")!r})
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.init()
        body = {script.body.decode()!r}
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < {seconds}:
            module.run(body)
            count += 1
        print(count / (time.perf_counter() - start))
        """
    )
    result = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    return float(result.stdout.strip().splitlines()[-1])


TABLE_HEADER = (
    "script   work conc |  scorer rps    p50     p99 err | azmlinfsrv rps    p50     p99 err "
    "| rps x | p99 x | of ceiling"
)


def table_row(
    name: str, workers: int, connections: int, results: dict[tuple[str, int], Load], top: float
) -> str:
    a, b = results[("scorer", connections)], results[("azmlinfsrv", connections)]
    return (
        f"{name:8} w={workers:<2} c={connections:<3}"
        f"| {a.rps:11,.0f} {a.p50_ms:6.2f} {a.p99_ms:7.2f} {a.errors:3} "
        f"| {b.rps:14,.0f} {b.p50_ms:6.2f} {b.p99_ms:7.2f} {b.errors:3} "
        f"| {a.rps / b.rps:5.2f} | {a.p99_ms / b.p99_ms:5.2f} | {a.rps / top:10.0%}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds of load per slice")
    parser.add_argument("--rounds", type=int, default=3, help="alternating slices per side and cell")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 64])
    parser.add_argument("--scripts", nargs="+", default=["model-1", "blue"], choices=["model-1", "blue"])
    args = parser.parse_args()

    scripts = []
    for name in args.scripts:
        if name == "model-1":
            if not CONFORMANCE_MODEL_1.is_dir():
                print(f"skipping model-1: {CONFORMANCE_MODEL_1} is absent")
                continue
            root, code = CONFORMANCE_MODEL_1, MODEL_1_CODE
        else:
            root, code = BLUE, BLUE / "onlinescoring"
        scripts.append(Script(name, code, root, (root / "sample-request.json").read_bytes()))

    runtime = [line for line in (REPO / "serving/requirements.txt").read_text().splitlines() if "==" in line]
    ours = Server("scorer", ensure_venv(SCORER_VENV, [*runtime, *MODEL_PACKAGES]))
    theirs = Server("azmlinfsrv", ensure_venv(CACHE / "azmlinfsrv-venv", [AZMLINFSRV, *MODEL_PACKAGES]))

    rows: list[str] = []
    memory: list[str] = []
    ceilings: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for script in scripts:
            lua = post_script(Path(tmp) / f"{script.name}.lua", script.body)
            top = statistics.median(ceiling(ours.python, script, 1.0) for _ in range(3))
            ceilings.append(f"{script.name:8} in-process ceiling, run() in a loop: {top:,.0f} run/s")
            for workers in args.workers:
                # Both servers stay up (the idle one costs nothing) and the measurements alternate in short
                # slices, so load from other work on a shared machine hits both sides alike.
                with (
                    running(ours, script, workers) as (our_port, our_pid),
                    running(theirs, script, workers) as (their_port, their_pid),
                ):
                    ports = {"scorer": our_port, "azmlinfsrv": their_port}
                    answers = {name: check_answer(port, script) for name, port in ports.items()}
                    for port in ports.values():
                        wrk(port, script, 8, 1.0, lua)  # warm-up
                    results: dict[tuple[str, int], Load] = {}
                    for connections in args.concurrency:
                        slices: dict[str, list[Load]] = {name: [] for name in ports}
                        for _ in range(args.rounds):
                            for name, port in ports.items():
                                slices[name].append(wrk(port, script, connections, args.duration, lua))
                        for name, loads in slices.items():
                            results[(name, connections)] = median_load(loads)
                    rss = {"scorer": worker_rss_mb(our_pid), "azmlinfsrv": worker_rss_mb(their_pid)}
                for connections in args.concurrency:
                    rows.append(
                        table_row(script.name, workers, connections, results, top)
                        + ("" if answers["scorer"] == answers["azmlinfsrv"] else "  ANSWERS DIFFER")
                    )
                memory.append(
                    f"{script.name:8} w={workers}: RSS per worker MB  scorer "
                    + ", ".join(f"{mb:.0f}" for mb in rss["scorer"])
                    + "  |  azmlinfsrv "
                    + ", ".join(f"{mb:.0f}" for mb in rss["azmlinfsrv"])
                )
    print()
    print(
        f"scorer vs azmlinfsrv 1.5.1; medians of {args.rounds} alternating {args.duration:.0f} s slices; "
        "latencies in ms; x = ours / theirs (goals: rps x >= 3, p99 x <= 0.5)"
    )
    print(TABLE_HEADER)
    print("\n".join(rows))
    print("\n".join(ceilings))
    print("\n".join(memory))
    return 0


if __name__ == "__main__":
    sys.exit(main())
