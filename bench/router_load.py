"""Load for the router bench: wrk pinned to the client CPUs with the router's CPU per request counted
from /proc, medians over alternating runs, exact answer counts per backend for the traffic split, and the
router's own mirror counters."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import statistics
from dataclasses import dataclass
from pathlib import Path

from router_procs import CLIENT_CPUS, KEY
from wrk import run_wrk

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


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
    report = run_wrk(args, port)
    after = cpu_seconds(router_pid) if router_pid else 0.0
    return Load(
        rps=report.rps,
        p50_ms=report.p50_ms,
        p99_ms=report.p99_ms,
        requests=report.requests,
        errors=report.errors,
        router_cpu_us=(after - before) / report.requests * 1e6 if router_pid else None,
    )


async def count_answers(port: int, total: int, connections: int, keepalive: bool) -> dict[str, int]:
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


def mirror_counts(metrics_port: int) -> dict[str, int]:
    """Mirror requests answered and shed, from the router's own /metrics."""
    with socket.create_connection(("127.0.0.1", metrics_port)) as sock:
        sock.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
        text = b"".join(iter(lambda: sock.recv(65536), b"")).decode()
    counts: dict[str, int] = {}
    for match in re.finditer(r'requests_total\{[^}]*kind="(mirror\w*)"[^}]*\} (\d+)', text):
        counts[match[1]] = counts.get(match[1], 0) + int(match[2])
    return counts
