"""The router bench's overhead table: one row per router and concurrency, direct vs through the router."""

from __future__ import annotations

from dataclasses import dataclass

from router_load import Load


@dataclass(frozen=True)
class Row:
    router: str
    connections: int
    direct: Load
    routed: Load


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
