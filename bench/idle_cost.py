"""What running stacks cost at rest: CPU of each endpoint container and of the Docker engine, per second.

Every container of every endpoint (label io.mlendpoints.endpoint) on the local engine is read from its
cgroup (its own processes plus the health checks the engine runs inside it); the engine is dockerd,
containerd and the containerd shims (their own CPU, not their children's); the rest is everything else
the machine did meanwhile (runc, which the engine starts for each health check, kernel threads, other
processes). Printed as ms of CPU per second and as the share of the machine's cores, which is what an
endpoint at rest takes from a batch job on the same machine. Run it with no job or request going on:

    .venv/bin/python bench/idle_cost.py --seconds 60
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from batch_measure import read_cpu_s

ENDPOINT_LABEL = "io.mlendpoints.endpoint"
ENGINE = ("dockerd", "containerd", "containerd-shim", "containerd-shim-runc-v2")
_TICKS = os.sysconf("SC_CLK_TCK")


def machine_busy_s() -> float:
    """CPU seconds the machine spent busy since boot (all cores, /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / _TICKS  # minus idle and iowait


def engine_cpu_s() -> dict[int, float]:
    """Own CPU seconds (without reaped children) of each Docker engine process, by pid."""
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        if name in ENGINE or name.startswith("containerd-shim"):
            fields = stat[stat.rindex(")") + 2 :].split()
            found[int(pid)] = (int(fields[11]) + int(fields[12])) / _TICKS
    return found


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to measure")
    args = parser.parse_args()
    import docker  # the project venv's Docker SDK

    client = docker.from_env()
    containers = {c.id: c for c in client.containers.list(filters={"label": ENDPOINT_LABEL})}
    if not containers:
        print("no endpoint container runs on this engine: `make up` first", file=sys.stderr)
        return 1
    cores = os.cpu_count() or 1
    before = {cid: read_cpu_s(cid) for cid in containers}
    engine_before, busy_before, start = engine_cpu_s(), machine_busy_s(), time.monotonic()
    time.sleep(args.seconds)
    after = {cid: read_cpu_s(cid) for cid in containers}
    engine_after, busy_after, span = engine_cpu_s(), machine_busy_s(), time.monotonic() - start

    def per_s(cpu_s: float) -> str:
        return f"{cpu_s / span * 1000:6.1f} ms/s  {cpu_s / span / cores * 100:5.2f} % of {cores} cores"

    total = 0.0
    print(f"at rest for {span:.0f} s, {len(containers)} endpoint containers:")
    for cid, container in sorted(containers.items(), key=lambda item: item[1].name):
        first, last = before[cid], after[cid]
        if first is None or last is None:
            print(f"  {container.name:<40} (no CPU accounting found for it)")
            continue
        total += last - first
        health = "health check" if container.attrs["Config"].get("Healthcheck") else "no health check"
        print(f"  {container.name:<40} {per_s(last - first)}  ({health})")
    engine = sum(engine_after[p] - engine_before.get(p, 0.0) for p in engine_after)
    busy = busy_after - busy_before
    print(f"  {'all endpoint containers':<40} {per_s(total)}")
    print(f"  {'Docker engine (dockerd, containerd, shims)':<40} {per_s(engine)}")
    print(f"  {'rest of the machine (runc, kernel, other)':<40} {per_s(busy - total - engine)}")
    print(f"  {'machine':<40} {per_s(busy)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
