"""Warm imports side by side: a batch driver that imports pandas, its workers importing it ahead of the
job (MLE_BATCH_WARM_IMPORTS, the default) against at job start (off: what Azure ML's fresh worker
processes do). Same jobs, same nodes.

The real controller and two real nodes of two worker processes (the heart-classifier deployment's
instance_count and max_concurrency_per_instance) run as host processes, from this checkout; the driver
imports pandas at module level, loads nothing, and reads each file's size in run(). Per job: invoke
(client clock before POST /jobs) -> the first run() (its start in the job report), the job's own time
(startTime -> endTime), and the CPU the nodes used from the invoke to the job's end (their processes and
the workers they reaped). Jobs are --gap seconds apart, so replacement workers have imported pandas before
the next job comes; back to back, a job's workers would still be importing.

    .venv/bin/python bench/warm_imports.py            # ~1 minute
    .venv/bin/python bench/warm_imports.py --module sklearn.ensemble --jobs 4
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from paths import REPO

PUBLIC, INTERNAL = 18941, 18942
KEY = "k" * 24
_TICKS = os.sysconf("SC_CLK_TCK")
DRIVER = """\
import os

import {module}


def init():
    pass


def run(mini_batch):
    return ["%s,%d" % (os.path.basename(path), os.path.getsize(path)) for path in mini_batch]
"""


@dataclass(frozen=True)
class Job:
    to_first_run_s: float
    job_s: float
    node_cpu_s: float


def _cpu_s(pid: int) -> float:
    """A process's CPU and that of the children it reaped (the fork server reaps the workers)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:15]) / _TICKS


def _tree_cpu_s(root: int) -> float:
    total = _cpu_s(root)
    for child in Path(f"/proc/{root}/task/{root}/children").read_text().split():
        total += _cpu_s(int(child))
    return total


def _request(method: str, path: str, body: object = None) -> dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", PUBLIC, timeout=30)
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
    answer = conn.getresponse()
    data = answer.read()
    conn.close()
    if answer.status >= 300:
        raise RuntimeError(f"{method} {path}: HTTP {answer.status}: {data[:300]!r}")
    answer_body: dict[str, Any] = json.loads(data)
    return answer_body


def _time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class Endpoint:
    """The controller and two nodes as host processes under one folder."""

    def __init__(self, root: Path, module: str, files: int) -> None:
        self.root = root
        code = root / "code"
        code.mkdir()
        (code / "driver.py").write_text(DRIVER.format(module=module))
        data = root / "ds" / "data" / "in"
        data.mkdir(parents=True)
        for index in range(files):
            (data / f"f{index:04d}.csv").write_text("a,b\n1,2\n" * (1 + index % 5))
        (root / "ds" / "workspaceblobstore").mkdir()
        settings = {"mini_batch_size": 2, "instance_count": 2, "max_concurrency_per_instance": 2}
        config = {
            "endpoint": "warm",
            "default_deployment": "d",
            "datastores": {"data": "data", "workspaceblobstore": "workspaceblobstore"},
            "deployments": {
                "d": {"name": "d", "settings": settings, "cluster": {"name": "c", "max_instances": 2}}
            },
        }
        (root / "config.json").write_text(json.dumps(config))
        self.env = {**os.environ, "PYTHONPATH": str(REPO), "MLE_BATCH_NODE_SECRET": "s" * 20}
        self.controller = self._start(
            "controller",
            "serving.batch.controller",
            MLE_BATCH_CONFIG=str(root / "config.json"),
            MLE_BATCH_STATE_DIR=str(root / "state"),
            MLE_BATCH_DATASTORES_ROOT=str(root / "ds"),
            MLE_BATCH_HOST="127.0.0.1",
            MLE_BATCH_PORT=str(PUBLIC),
            MLE_BATCH_INTERNAL_HOST="127.0.0.1",
            MLE_BATCH_INTERNAL_PORT=str(INTERNAL),
            MLE_BATCH_PRIMARY_KEY=KEY,
        )
        self.nodes: list[subprocess.Popen[bytes]] = []
        self.jobs = 0

    def _start(self, name: str, module: str, **env: str) -> subprocess.Popen[bytes]:
        with open(self.root / f"{name}.log", "ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", module], cwd=REPO, env={**self.env, **env}, stdout=log, stderr=log
            )

    def start_nodes(self, warm: bool) -> None:
        self.nodes = [
            self._start(
                f"node{index}",
                "serving.batch.node",
                MLE_BATCH_CONTROLLER_URL=f"http://127.0.0.1:{INTERNAL}",
                MLE_BATCH_NODE_NAME=f"node{index}",
                MLE_BATCH_DEPLOYMENT="d",
                MLE_BATCH_PROCESSES="2",
                MLE_BATCH_WARM_IMPORTS=str(warm).lower(),
                AML_APP_ROOT=str(self.root / "code"),
                AZUREML_ENTRY_SCRIPT="driver.py",
            )
            for index in range(2)
        ]

    def stop_nodes(self) -> None:
        for node in self.nodes:
            node.send_signal(signal.SIGTERM)
        for node in self.nodes:
            node.wait(30)
        self.nodes = []

    def run_job(self) -> Job:
        self.jobs += 1
        body = {
            "properties": {
                "InputData": {
                    "d": {"JobInputType": "UriFolder", "Uri": "azureml://datastores/data/paths/in/"}
                },
                "outputData": {
                    "score": {
                        "jobOutputType": "UriFolder",
                        "uri": f"azureml://datastores/workspaceblobstore/paths/out/{self.jobs}/",
                    }
                },
            }
        }
        cpu_before = sum(_tree_cpu_s(node.pid) for node in self.nodes)
        invoked = time.time()
        name = _request("POST", "/jobs", body)["name"]
        while (job := _request("GET", f"/jobs/{name}"))["properties"]["status"] not in (
            "Completed",
            "Failed",
            "Canceled",
        ):
            time.sleep(0.05)
        properties = job["properties"]
        if properties["status"] != "Completed":
            raise RuntimeError(f"job {name}: {properties.get('error')}")
        time.sleep(0.3)  # the workers of the job exit and are reaped
        cpu = sum(_tree_cpu_s(node.pid) for node in self.nodes) - cpu_before
        report = self.root / "ds" / "workspaceblobstore" / "azureml" / name / "logs" / "sys" / "job_report"
        with open(report / "processed_mini-batches.csv", newline="") as handle:
            first = min(_time(row["Start Time"]) for row in csv.DictReader(handle))
        return Job(first - invoked, _time(properties["endTime"]) - _time(properties["startTime"]), cpu)

    def close(self) -> None:
        self.stop_nodes()
        self.controller.send_signal(signal.SIGTERM)
        self.controller.wait(30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", default="pandas", help="what the driver imports at module level")
    parser.add_argument("--files", type=int, default=200, help="input files per job (mini-batches of 2)")
    parser.add_argument("--jobs", type=int, default=3, help="measured jobs per mode and round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of (warm, cold), alternating")
    parser.add_argument("--gap", type=float, default=2.0, help="seconds between jobs")
    args = parser.parse_args()
    results: dict[bool, list[Job]] = {True: [], False: []}
    with tempfile.TemporaryDirectory(prefix="warm-imports-") as folder:
        endpoint = Endpoint(Path(folder), args.module, args.files)
        try:
            time.sleep(1.5)
            for round_ in range(args.rounds):
                for warm in (True, False):
                    endpoint.start_nodes(warm)
                    time.sleep(args.gap + 1.0)  # nodes up, workers forked (and warm ones importing)
                    endpoint.run_job()  # each node's first job: not counted
                    for _ in range(args.jobs):
                        time.sleep(args.gap)
                        job = endpoint.run_job()
                        results[warm].append(job)
                        print(
                            f"  round {round_} {'warm' if warm else 'cold'}: invoke -> first run() "
                            f"{job.to_first_run_s:.3f} s, job {job.job_s:.3f} s, "
                            f"node CPU {job.node_cpu_s:.2f} s",
                            flush=True,
                        )
                    endpoint.stop_nodes()
        finally:
            endpoint.close()
    print(
        f"\n== a driver importing {args.module}, {args.files} files, 2 nodes x 2 workers, "
        f"jobs {args.gap:g} s apart"
    )
    medians = {
        warm: [
            statistics.median(getattr(job, field) for job in jobs)
            for field in ("to_first_run_s", "job_s", "node_cpu_s")
        ]
        for warm, jobs in results.items()
    }
    # Node CPU counts each job's workers when they are reaped, their imports included: ahead of the
    # job they cost the same CPU, only no longer while the job waits.
    print("imports          | invoke -> first run() s | job s | node CPU per job s (imports included)")
    for warm, label in ((True, "ahead (default)"), (False, "at job start")):
        first, job, cpu = medians[warm]
        print(f"{label:16} | {first:23.3f} | {job:5.3f} | {cpu:18.2f}")
    print(
        f"ratios at job start / ahead: first run() {medians[False][0] / medians[True][0]:.1f}x later, "
        f"job {medians[False][1] / medians[True][1]:.2f}x longer, node CPU per job "
        f"{medians[False][2] / medians[True][2]:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
