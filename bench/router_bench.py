"""Router overhead: direct vs through the router (nginx data path, and a lean Python proxy for contrast)."""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from serving.router.weights import SLOTS, exact_schedule  # noqa: E402

KEY = "bench-key-0123456789abcdef"
CACHE = Path(os.environ.get("MLENDPOINTS_CACHE", Path.home() / ".cache" / "mlendpoints"))
# bench/scorer_bench.py builds this venv (serving/requirements.txt + the model packages).
SCORER_PYTHON = CACHE / "scorer-bench-venv" / "bin" / "python"
SCRIPTS = {
    "model-1": REPO.parent / "shared/conformance/azureml-examples/cli/endpoints/online/model-1",
    "blue": REPO / "examples/online/model-blue",
}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# The scorer stand-in gets the last CPU to itself in every run; the load generator and the router
# share the others. Direct and routed runs then give the backend the same resources, and the
# router's CPU shows up as competition with the client, not as noise from the scheduler.
ALL_CPUS = sorted(os.sched_getaffinity(0))
BACKEND_CPUS = set(ALL_CPUS[-1:])
CLIENT_CPUS = set(ALL_CPUS[:-1] or ALL_CPUS)


# --- processes under test -------------------------------------------------------------------------


class _BackendProtocol(asyncio.Protocol):
    """Keep-alive HTTP answerer; `work_us` of busy CPU per request stands in for a scorer's run()."""

    def __init__(self, name: bytes, work_s: float, delay_s: float) -> None:
        self.name, self.work_s, self.delay_s = name, work_s, delay_s
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[:end].lower()
            length = 0
            if (at := head.find(b"content-length:")) >= 0:
                length = int(head[at + 15 :].split(b"\r\n", 1)[0])
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            if self.work_s:
                until = time.perf_counter() + self.work_s
                while time.perf_counter() < until:
                    pass
            body = b'{"result": [1]}'
            answer = (
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nx-backend: "
                + self.name
                + b"\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
                + body
            )
            if self.delay_s:
                asyncio.get_running_loop().call_later(self.delay_s, self._send, answer)
            else:
                self._send(answer)

    def _send(self, answer: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(answer)


async def _serve_backend(port: int, name: str, work_us: float, delay_ms: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: _BackendProtocol(name.encode(), work_us / 1e6, delay_ms / 1e3),
        "127.0.0.1",
        port,
        backlog=4096,
    )
    async with server:
        await server.serve_forever()


class PyRouter:
    """The Python candidate, lean but doing what the router must on every request: key check, exact
    weighted split, pooled keep-alive upstreams, a JSON request log line and per-deployment metrics.
    (No mirror, timeouts or failover: the real thing would cost more, not less.)"""

    BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

    def __init__(self, deployments: dict[str, list[tuple[str, int]]], weights: dict[str, int]) -> None:
        self.deployments = deployments
        self.schedule = exact_schedule(weights)
        self.pools: dict[tuple[str, int], list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]] = {}
        self.next_instance = dict.fromkeys(deployments, 0)
        self.key = f"Bearer {KEY}".encode()
        self.counts: dict[tuple[str, int], int] = {}
        self.histogram = {name: [0] * (len(self.BUCKETS) + 1) for name in deployments}
        self.log = sys.stdout

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        rotation, n = random.randrange(SLOTS), 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                started = time.perf_counter()
                headers = {}
                for line in head.split(b"\r\n")[1:]:
                    field, _, value = line.partition(b":")
                    headers[field.strip().lower()] = value.strip()
                length = int(headers.get(b"content-length", b"0"))
                body = await reader.readexactly(length) if length else b""
                if headers.get(b"authorization") != self.key:
                    writer.write(b'HTTP/1.1 401 Unauthorized\r\nContent-Length: 17\r\n\r\n{"message": "no"}')
                    continue
                n += 1
                name = (
                    headers.get(b"azureml-model-deployment", b"").decode()
                    or self.schedule[(n + rotation) % SLOTS]
                )
                instances = self.deployments[name]
                self.next_instance[name] = (self.next_instance[name] + 1) % len(instances)
                instance = instances[self.next_instance[name]]
                status, answer = await self.forward(instance, head + body)
                writer.write(answer)
                elapsed = time.perf_counter() - started
                self.counts[(name, status)] = self.counts.get((name, status), 0) + 1
                self.histogram[name][bisect.bisect_left(self.BUCKETS, elapsed)] += 1
                entry = {
                    "kind": "live",
                    "deployment": name,
                    "status": status,
                    "request_time": round(elapsed, 6),
                    "upstream": f"{instance[0]}:{instance[1]}",
                    "bytes_in": len(head) + length,
                }
                self.log.write(json.dumps(entry) + "\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def forward(self, instance: tuple[str, int], request: bytes) -> tuple[int, bytes]:
        pool = self.pools.setdefault(instance, [])
        up_reader, up_writer = pool.pop() if pool else await asyncio.open_connection(*instance)
        up_writer.write(request)
        head = await up_reader.readuntil(b"\r\n\r\n")
        lower = head.lower()
        at = lower.find(b"content-length:")
        length = int(lower[at + 15 :].split(b"\r\n", 1)[0]) if at >= 0 else 0
        body = await up_reader.readexactly(length)
        pool.append((up_reader, up_writer))
        return int(head[9:12]), head + body


async def _serve_pyrouter(port: int, config_path: Path) -> None:
    config = json.loads(config_path.read_text())
    deployments = {
        name: [(i.rsplit(":", 1)[0], int(i.rsplit(":", 1)[1])) for i in d["instances"]]
        for name, d in config["deployments"].items()
    }
    router = PyRouter(deployments, config["traffic"])
    server = await asyncio.start_server(router.handle, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


# --- harness --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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
    args = [sys.executable, __file__, "backend", str(port), name, str(work_us), str(delay_ms)]
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
    proc = procs.start([sys.executable, __file__, "pyrouter", str(port), str(config)], CLIENT_CPUS)
    wait_port(port, "/score", expect=b"HTTP/1.1 ")
    return port, proc


def cpu_seconds(root_pid: int) -> float:
    """User+system CPU of a process and all its descendants (nginx workers, the supervisor)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    total, stack = 0.0, [root_pid]
    while stack:
        pid = stack.pop()
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        stack += children.get(pid, [])
    return total


@dataclass(frozen=True)
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    router_cpu_us: float | None = None


@dataclass(frozen=True)
class Row:
    router: str
    connections: int
    direct: Load
    routed: Load


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s)$", text)
    assert match, text
    return float(match[1]) * _UNITS[match[2]]


def wrk(
    port: int,
    connections: int,
    seconds: float,
    headers: dict[str, str],
    router_pid: int | None = None,
    body: Path | None = None,
) -> Load:
    pin = ["taskset", "-c", ",".join(map(str, sorted(CLIENT_CPUS)))]
    args = [*pin, "wrk", "-t2", f"-c{connections}", f"-d{int(seconds)}s", "--latency", "--timeout", "10s"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    if body is not None:
        args += ["-s", str(body)]
    before = cpu_seconds(router_pid) if router_pid else 0.0
    out = subprocess.run(
        [*args, f"http://127.0.0.1:{port}/score"], capture_output=True, text=True, check=True
    ).stdout
    after = cpu_seconds(router_pid) if router_pid else 0.0
    requests = int(re.search(r"(\d+) requests in", out)[1])  # type: ignore[index]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non2xx[1]) if non2xx else 0) + (
        sum(map(int, socket_errors.groups())) if socket_errors else 0
    )
    return Load(
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1]),  # type: ignore[index]
        p50_ms=_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M)[1]),  # type: ignore[index]
        p99_ms=_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M)[1]),  # type: ignore[index]
        requests=requests,
        errors=errors,
        router_cpu_us=(after - before) / requests * 1e6 if router_pid else None,
    )


async def _count_answers(port: int, total: int, connections: int, keepalive: bool) -> dict[str, int]:
    """Send exactly `total` scoring requests over `connections` clients; count answers per backend."""
    request = (
        f"POST /score HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: 2\r\n"
        + ("" if keepalive else "Connection: close\r\n")
        + "\r\n{}"
    ).encode()
    counts: dict[str, int] = {}

    async def client(requests: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(requests):
            if not keepalive and writer.is_closing():
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
            fields = dict(line.split(": ", 1) for line in head.split("\r\n")[1:] if ": " in line)
            await reader.readexactly(int(fields.get("content-length", "0")))
            name = fields.get("x-backend", "status-" + head.split(" ", 2)[1])
            counts[name] = counts.get(name, 0) + 1
            if not keepalive:
                writer.close()
        writer.close()

    share, extra = divmod(total, connections)
    await asyncio.gather(*(client(share + (i < extra)) for i in range(connections)))
    return counts


# --- the run --------------------------------------------------------------------------------------


def median_load(loads: list[Load]) -> Load:
    """Per-field medians: runs alternate direct/router, so background load hits both alike."""
    cpu = [load.router_cpu_us for load in loads if load.router_cpu_us is not None]
    return Load(
        rps=statistics.median(load.rps for load in loads),
        p50_ms=statistics.median(load.p50_ms for load in loads),
        p99_ms=statistics.median(load.p99_ms for load in loads),
        requests=sum(load.requests for load in loads),
        errors=sum(load.errors for load in loads),
        router_cpu_us=statistics.median(cpu) if cpu else None,
    )


def overhead(
    procs: Procs, run: Path, work_us: float, seconds: int, rounds: int, routers: tuple[str, ...]
) -> list[Row]:
    blue, blue_proc = backend(procs, "blue", work_us)
    config = write_config(run, {"blue": [blue]}, {"blue": 100}, {})
    direct_port = int(blue.rsplit(":", 1)[1])
    auth = {"Authorization": f"Bearer {KEY}"}
    rows = []
    starters = (
        ("nginx", lambda: nginx_router(procs, config)),
        ("python", lambda: py_router(procs, config)),
    )
    for label, start in starters:
        if label not in routers:
            continue
        port, proc = start()
        for connections in (8, 64):
            wrk(port, connections, 1, auth)  # warm-up: connections, caches
            direct, routed = [], []
            for _ in range(rounds):
                direct.append(wrk(direct_port, connections, seconds, auth))
                routed.append(wrk(port, connections, seconds, auth, proc.pid))
            rows.append(Row(label, connections, median_load(direct), median_load(routed)))
        procs.stop(proc)
    procs.stop(blue_proc)
    return rows


def print_overhead(title: str, rows: list[Row]) -> None:
    print(f"\n== {title}")
    head = ("router", "conc", "direct rps", "router rps", "ratio", "p50 direct", "p50 router", "added",
            "p99 direct", "p99 router", "router CPU/req", "errors")  # fmt: skip
    print("{:7} {:>4} {:>11} {:>11} {:>6} {:>10} {:>10} {:>9} {:>10} {:>10} {:>14} {:>6}".format(*head))
    for row in rows:
        d, r = row.direct, row.routed
        print(
            f"{row.router:7} {row.connections:>4} {d.rps:>11.0f} {r.rps:>11.0f} {r.rps / d.rps:>6.2f} "
            f"{d.p50_ms:>8.3f}ms {r.p50_ms:>8.3f}ms {r.p50_ms - d.p50_ms:>+7.3f}ms "
            f"{d.p99_ms:>8.3f}ms {r.p99_ms:>8.3f}ms {r.router_cpu_us or 0:>12.1f}us {d.errors + r.errors:>6}"
        )


def post_script(run: Path, body: bytes) -> Path:
    """A wrk script that POSTs `body` as JSON (what a scorer's /score expects)."""
    path = run / f"post-{len(body)}.lua"
    path.write_text(
        f'wrk.method = "POST"\nwrk.body = {json.dumps(body.decode())}\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    return path


def real_scorer(procs: Procs, run: Path, name: str, seconds: int, rounds: int) -> list[Row] | str:
    """Direct vs through the nginx router, in front of our scorer (one worker) running a real script."""
    root = SCRIPTS[name]
    if not SCORER_PYTHON.exists():
        return f"skipped: {SCORER_PYTHON} is missing (bench/scorer_bench.py creates it)"
    if not root.is_dir():
        return f"skipped: {root} is absent"
    port = free_port()
    env = {
        "PYTHONPATH": str(REPO),
        "AZUREML_MODEL_DIR": str(root),
        "AML_APP_ROOT": str(root / "onlinescoring"),
        "AZUREML_ENTRY_SCRIPT": "score.py",
        "WORKER_COUNT": "1",
        "SERVER_PORT": str(port),
        "SERVER_HOST": "127.0.0.1",
        "PYTHONWARNINGS": "ignore",
    }
    scorer = procs.start([str(SCORER_PYTHON), "-m", "serving.scorer"], BACKEND_CPUS, env)
    wait_port(port, "/readyz", timeout_s=120)
    body = post_script(run, (root / "sample-request.json").read_bytes())
    config = write_config(run / name, {"blue": [f"127.0.0.1:{port}"]}, {"blue": 100}, {})
    router_port, router = nginx_router(procs, config)
    auth = {"Authorization": f"Bearer {KEY}"}
    rows = []
    for connections in (8, 64):
        wrk(router_port, connections, 1, auth, body=body)
        direct, routed = [], []
        for _ in range(rounds):
            direct.append(wrk(port, connections, seconds, auth, body=body))
            routed.append(wrk(router_port, connections, seconds, auth, router.pid, body=body))
        rows.append(Row("nginx", connections, median_load(direct), median_load(routed)))
    procs.stop(router)
    procs.stop(scorer)
    return rows


def accuracy(procs: Procs, run: Path, total: int) -> None:
    blue, _ = backend(procs, "blue")
    green, _ = backend(procs, "green")
    config = write_config(run, {"blue": [blue], "green": [green]}, {"blue": 90, "green": 10}, {})
    port, proc = nginx_router(procs, config)
    print(
        f"\n== traffic split over {total} requests, weights blue 90 / green 10 "
        "(nginx router; goal: within 1 point)"
    )
    for connections, keepalive in ((1, True), (64, True), (8, False)):
        counts = asyncio.run(_count_answers(port, total, connections, keepalive))
        seen = sum(counts.values())
        shares = ", ".join(f"{k} {v} ({100 * v / seen:.2f} %)" for k, v in sorted(counts.items()))
        error = max(abs(100 * counts.get(k, 0) / seen - w) for k, w in (("blue", 90), ("green", 10)))
        mode = "keep-alive" if keepalive else "new connection per request"
        print(f"{connections:>3} clients, {mode:27}: {shares}; off by {error:.2f} points")
    procs.stop(proc)


def mirror_counts(metrics_port: int) -> dict[str, int]:
    """Mirror requests answered and shed, from the router's own /metrics."""
    with socket.create_connection(("127.0.0.1", metrics_port)) as sock:
        sock.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
        text = b"".join(iter(lambda: sock.recv(65536), b"")).decode()
    counts: dict[str, int] = {}
    for match in re.finditer(r'requests_total\{[^}]*kind="(mirror\w*)"[^}]*\} (\d+)', text):
        counts[match[1]] = counts.get(match[1], 0) + int(match[2])
    return counts


def mirror(procs: Procs, run: Path, seconds: int, rounds: int, delay_ms: float, work_us: float) -> None:
    blue, _ = backend(procs, "blue", work_us)
    # The mirror deployment gets its own instances in real life; here it must not take the live
    # backend's CPU, so it shares the client side.
    slow, _ = backend(procs, "slow", 0, delay_ms, CLIENT_CPUS)
    auth = {"Authorization": f"Bearer {KEY}"}
    print(
        f"\n== live traffic without and with a 50 % mirror to a deployment answering after {delay_ms:.0f} ms"
    )
    plain = write_config(run / "plain", {"blue": [blue], "slow": [slow]}, {"blue": 100}, {})
    mirrored = write_config(run / "mirrored", {"blue": [blue], "slow": [slow]}, {"blue": 100}, {"slow": 50})
    metrics_port = free_port()
    plain_port, plain_proc = nginx_router(procs, plain)
    mirror_port, mirror_proc = nginx_router(procs, mirrored, metrics_port)
    for connections in (8, 64):
        without, with_mirror = [], []
        wrk(plain_port, connections, 1, auth)
        wrk(mirror_port, connections, 1, auth)
        settle = delay_ms / 1000 + 1.5  # the last mirror answers, then nginx's 1 s log flush
        time.sleep(settle)
        before = mirror_counts(metrics_port)
        for _ in range(rounds):
            without.append(wrk(plain_port, connections, seconds, auth, plain_proc.pid))
            with_mirror.append(wrk(mirror_port, connections, seconds, auth, mirror_proc.pid))
        time.sleep(settle)
        after = mirror_counts(metrics_port)
        base, shadowed = median_load(without), median_load(with_mirror)
        sent = sum(load.requests for load in with_mirror)
        done = after.get("mirror", 0) - before.get("mirror", 0)
        shed = after.get("mirror_dropped", 0) - before.get("mirror_dropped", 0)
        print(
            f"c={connections:<3} live p99 {base.p99_ms:.3f} -> {shadowed.p99_ms:.3f} ms, "
            f"p50 {base.p50_ms:.3f} -> {shadowed.p50_ms:.3f} ms, rps {base.rps:.0f} -> {shadowed.rps:.0f}, "
            f"router CPU/req {base.router_cpu_us or 0:.1f} -> {shadowed.router_cpu_us or 0:.1f} us, "
            f"errors {base.errors + shadowed.errors}; mirrored {done} of {sent} "
            f"({100 * done / sent:.1f} %), shed {shed} over the pending-mirror cap"
        )
    procs.stop(plain_proc)
    procs.stop(mirror_proc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=3, help="length of each measured load run")
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating direct/router runs; medians reported"
    )
    parser.add_argument(
        "--scorer-work-us", type=float, default=200.0, help="CPU per request, scorer stand-in"
    )
    parser.add_argument("--split-requests", type=int, default=10_000)
    parser.add_argument("--mirror-delay-ms", type=float, default=200.0)
    parser.add_argument("--skip-python", action="store_true", help="measure only the nginx data path")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="router-bench-") as tmp:
        run = Path(tmp)
        procs = Procs(run / "processes.log")
        try:
            print(
                f"router bench: {len(ALL_CPUS)} CPUs (backend pinned to {sorted(BACKEND_CPUS)}, "
                f"wrk -t2 and router to {sorted(CLIENT_CPUS)}); {args.rounds} x {args.seconds} s per point, "
                "medians.\n"
                "goal: through the router >= 0.90 x direct rps and <= +1 ms p50, at c=8 and c=64"
            )
            routers = ("nginx",) if args.skip_python else ("nginx", "python")
            work = args.scorer_work_us
            print_overhead(
                f"scorer stand-in: asyncio HTTP + {work:.0f} us CPU per request (a small model's run())",
                overhead(procs, run, work, args.seconds, args.rounds, routers),
            )
            print_overhead(
                "no-work backend (asyncio HTTP only): raw cost when the backend is as cheap as the proxy",
                overhead(procs, run, 0, args.seconds, args.rounds, routers),
            )
            for name in ("model-1", "blue"):
                title = f"our scorer (serving.scorer, WORKER_COUNT=1) running {name}'s score.py"
                rows = real_scorer(procs, run, name, args.seconds, args.rounds)
                if isinstance(rows, str):
                    print(f"\n== {title}: {rows}")
                else:
                    print_overhead(title, rows)
            accuracy(procs, run, args.split_requests)
            mirror(procs, run, args.seconds, args.rounds, args.mirror_delay_ms, work)
        finally:
            procs.stop_all()
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "backend":
        port, name, work, delay = sys.argv[2:6]
        asyncio.run(_serve_backend(int(port), name, float(work), float(delay)))
    elif len(sys.argv) > 1 and sys.argv[1] == "pyrouter":
        asyncio.run(_serve_pyrouter(int(sys.argv[2]), Path(sys.argv[3])))
    else:
        sys.exit(main())
