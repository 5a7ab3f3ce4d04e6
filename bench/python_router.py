"""The Python contrast router for bench/router_bench.py: a lean asyncio proxy, measured against the nginx
data path (DESIGN §4b asked to weigh it first).

Run as `python bench/python_router.py PORT CONFIG` with the key in MLE_ROUTER_PRIMARY_KEY, as the real
router gets it (router_procs.py_router does); CONFIG is the router.json that router_procs.write_config makes.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import os
import random
import sys
import time
from pathlib import Path

from paths import REPO

sys.path.insert(0, str(REPO))

from serving.router.weights import SLOTS, exact_schedule


class PyRouter:
    """The Python candidate, lean but doing what the router must on every request: key check, exact
    weighted split, pooled keep-alive upstreams, a JSON request log line and per-deployment metrics.
    (No mirror, timeouts or failover: the real thing would cost more, not less.)"""

    BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

    def __init__(
        self, deployments: dict[str, list[tuple[str, int]]], weights: dict[str, int], key: str
    ) -> None:
        self.deployments = deployments
        self.schedule = exact_schedule(weights)
        self.pools: dict[tuple[str, int], list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]] = {}
        self.next_instance = dict.fromkeys(deployments, 0)
        self.key = f"Bearer {key}".encode()
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


async def _serve_pyrouter(port: int, config_path: Path, key: str) -> None:
    config = json.loads(config_path.read_text())
    deployments = {
        name: [(i.rsplit(":", 1)[0], int(i.rsplit(":", 1)[1])) for i in d["instances"]]
        for name, d in config["deployments"].items()
    }
    router = PyRouter(deployments, config["traffic"], key)
    server = await asyncio.start_server(router.handle, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(_serve_pyrouter(int(sys.argv[1]), Path(sys.argv[2]), os.environ["MLE_ROUTER_PRIMARY_KEY"]))
