"""Router overhead: direct vs through the router (nginx data path, and a lean Python proxy for contrast)."""

# The pieces, in bench/: router_procs.py (processes under test, CPU pinning), standin_backend.py and
# python_router.py (the servers it starts), router_load.py (wrk and the other load), router_measure.py
# (what is measured), router_report.py (the overhead table); wrk.py and paths.py serve scorer_bench.py too.

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from router_measure import accuracy, mirror, overhead, real_scorer
from router_procs import ALL_CPUS, BACKEND_CPUS, CLIENT_CPUS, Procs
from router_report import print_overhead


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
    sys.exit(main())
