"""The router bench's measurements: overhead against the stand-in backends and against our scorer running
real scripts, the traffic split's accuracy, and live traffic without and with a mirror."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from paths import BLUE, CONFORMANCE_MODEL_1, MODEL_1_CODE, REPO, SCORER_VENV
from router_load import count_answers, median_load, mirror_counts, wrk
from router_procs import (
    BACKEND_CPUS,
    CLIENT_CPUS,
    KEY,
    Procs,
    backend,
    nginx_router,
    py_router,
    wait_port,
    write_config,
)
from router_report import Row
from wrk import free_port, post_script

SCORER_PYTHON = SCORER_VENV / "bin" / "python"
SCRIPTS = {"model-1": CONFORMANCE_MODEL_1, "blue": BLUE}
# Where each script's code is: model-1's is the project's stand-in (../shared holds data only).
CODE = {"model-1": MODEL_1_CODE, "blue": BLUE / "onlinescoring"}


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
        "AML_APP_ROOT": str(CODE[name]),
        "AZUREML_ENTRY_SCRIPT": "score.py",
        "WORKER_COUNT": "1",
        "SERVER_PORT": str(port),
        "SERVER_HOST": "127.0.0.1",
        "PYTHONWARNINGS": "ignore",
    }
    scorer = procs.start([str(SCORER_PYTHON), "-m", "serving.scorer"], BACKEND_CPUS, env)
    wait_port(port, "/readyz", timeout_s=120)
    sample = (root / "sample-request.json").read_bytes()
    body = post_script(run / f"post-{len(sample)}.lua", sample)
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
        counts = asyncio.run(count_answers(port, total, connections, keepalive))
        seen = sum(counts.values())
        shares = ", ".join(f"{k} {v} ({100 * v / seen:.2f} %)" for k, v in sorted(counts.items()))
        error = max(abs(100 * counts.get(k, 0) / seen - w) for k, w in (("blue", 90), ("green", 10)))
        mode = "keep-alive" if keepalive else "new connection per request"
        print(f"{connections:>3} clients, {mode:27}: {shares}; off by {error:.2f} points")
    procs.stop(proc)


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
