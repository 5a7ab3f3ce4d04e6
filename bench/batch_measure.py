"""What the batch bench reads back: job logs, outputs, container memory, the one-process ceiling and the
parallel ideal."""

from __future__ import annotations

import csv
import itertools
import json
import os
import statistics
import subprocess
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from batch_data import FIRST_RUN_MARK

# ---------------------------------------------------------------- the one-process ceiling


@dataclass(frozen=True)
class Ceiling:
    files: int
    rows: int
    seconds: float
    driver_cpu_s: float
    python: str
    where: str

    @property
    def files_per_s(self) -> float:
        return self.files / self.seconds


def _ceiling_from(stdout: str, where: str) -> Ceiling:
    data = json.loads(stdout.strip().splitlines()[-1])
    return Ceiling(data["files"], data["rows"], data["seconds"], data["driver_cpu_s"], data["python"], where)


def ceiling_in_image(
    image: str, code: Path, data: Path, driver: str, folder: str, batch: int, limit: int | None = None
) -> Ceiling:
    """run() over the files in one process inside the nodes' image (same Python, same files)."""
    command = [
        "docker", "run", "--rm", "--network", "none", "--user", f"{os.getuid()}:{os.getgid()}",
        "-v", f"{code}:/bench/code:ro", "-v", f"{data}:/bench/data:ro", image,
        "python", "/bench/code/ceiling.py", f"/bench/code/{driver}", f"/bench/data/{folder}", str(batch),
        *([str(limit)] if limit else []),
    ]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return _ceiling_from(out, f"node image {image}")


@dataclass(frozen=True)
class Parallel:
    """The parallel ideal: the job's workers as bare processes, nothing between their run() calls."""

    files: int
    rows: int
    seconds: float  # first process's start -> last process's end
    late_s: float  # how far after the agreed start the last process began (a container started late)
    driver_cpu_s: float  # the driver's own CPU over all processes (its rows say it)

    @property
    def files_per_s(self) -> float:
        return self.files / self.seconds


# Containers take ~0.5-1 s to start here; the processes wait for a start time this far ahead.
_PARALLEL_LEAD_S = 3.0


def parallel_in_image(
    image: str, code: Path, data: Path, driver: str, folder: str, batch: int, nodes: int, processes: int
) -> Parallel:
    """`nodes` containers of the nodes' image with `processes` driver processes each, started together."""
    workers = nodes * processes
    with tempfile.TemporaryDirectory(prefix="bench-claims-") as claims:
        counter = Path(claims) / "counter"
        counter.write_bytes(bytes(8))  # the next mini-batch to claim: 0
        os.chmod(claims, 0o777)
        os.chmod(counter, 0o666)
        start_at = time.time() + _PARALLEL_LEAD_S

        def command(node: int) -> list[str]:
            return [
                "docker", "run", "--rm", "--network", "none", "--user", f"{os.getuid()}:{os.getgid()}",
                "-v", f"{code}:/bench/code:ro", "-v", f"{data}:/bench/data:ro",
                "-v", f"{claims}:/bench/claims", image, "python", "/bench/code/parallel.py", "parent",
                f"/bench/code/{driver}", f"/bench/data/{folder}", str(batch), "/bench/claims/counter",
                str(processes), f"{start_at:.6f}",
            ]  # fmt: skip

        procs = [
            subprocess.Popen(command(node), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for node in range(nodes)
        ]
        outputs = [proc.communicate() for proc in procs]
    lines = []
    for proc, (out, err) in zip(procs, outputs, strict=True):
        if proc.returncode != 0:
            raise RuntimeError(f"parallel.py exited {proc.returncode}: {err.strip()[-300:]}")
        lines += [json.loads(line) for line in out.strip().splitlines()]
    if any("error" in line for line in lines) or len(lines) != workers:
        raise RuntimeError(f"parallel.py: a driver process failed: {lines}")
    first = min(line["start"] for line in lines)
    return Parallel(
        files=sum(line["files"] for line in lines),
        rows=sum(line["rows"] for line in lines),
        seconds=max(line["end"] for line in lines) - first,
        late_s=max(line["start"] for line in lines) - start_at,
        driver_cpu_s=sum(line["driver_cpu_s"] for line in lines),
    )


def ceiling_on_host(python: Path, code: Path, data: Path, driver: str, folder: str, batch: int) -> Ceiling:
    out = subprocess.run(
        [str(python), str(code / "ceiling.py"), str(code / driver), str(data / folder), str(batch)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return _ceiling_from(out, f"host {python}")


# ---------------------------------------------------------------- a job's logs and output


@dataclass(frozen=True)
class Attempt:
    idx: int
    node: str
    process: str
    start: float
    end: float
    elapsed: float
    status: str
    files: tuple[str, ...]


@dataclass(frozen=True)
class JobLogs:
    attempts: list[Attempt]
    first_runs: list[float]  # BENCH_FIRST_RUN of every worker process, unix time
    rows: int
    files_out: int  # distinct input files in the output
    driver_cpu_s: float
    cpu_by_file: dict[str, float] = field(repr=False)


def _utc(text: str) -> float:
    from batch_stack import parse_utc

    value = parse_utc(text)
    return 0.0 if value is None else value


def read_job(logs: Path, output_file: Path) -> JobLogs:
    """processed_mini-batches.csv, the workers' first-run marks and the merged output of one job."""
    attempts = []
    report = logs / "sys" / "job_report" / "processed_mini-batches.csv"
    with report.open(newline="") as handle:
        for row in csv.DictReader(handle):
            attempts.append(
                Attempt(
                    int(row["Mini-batch Id"]),
                    row["Node"],
                    row["Process"],
                    _utc(row["Start Time"]),
                    _utc(row["End Time"]),
                    float(row["Elapsed Seconds"] or 0),
                    row["Status"],
                    tuple(os.path.basename(f) for f in json.loads(row["Files"] or "[]")),
                )
            )
    first_runs = []
    for path in (logs / "user" / "stdout").glob("*/*.stdout.txt"):
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith(FIRST_RUN_MARK):
                first_runs.append(float(line.split()[1]))
    cpu: dict[str, float] = defaultdict(float)
    rows = 0
    if output_file.exists():
        with output_file.open() as handle:
            for line in handle:
                name, _, spent = line.rstrip("\n").partition(",")
                rows += 1
                cpu[name] += int(spent.rsplit(",", 1)[-1]) / 1e6
    return JobLogs(attempts, sorted(first_runs), rows, len(cpu), sum(cpu.values()), dict(cpu))


@dataclass(frozen=True)
class Overheads:
    gap_ms: float | None  # mean per mini-batch: one run() done -> the next starts on the same worker
    # (inside a bundle only the worker's own bookkeeping; between bundles the report + lease round trip)
    in_run_ms: float | None  # median: attempt's elapsed - its driver CPU (rows, part file + fsync, waits)
    total_ms: float  # (min(workers, cores) x job seconds - driver CPU) / mini-batches
    minibatches: int
    workers_seen: int


def overheads(job: JobLogs, seconds: float, workers: int, cores: int) -> Overheads:
    done = [a for a in job.attempts if a.status == "succeeded"]
    by_worker: dict[tuple[str, str], list[Attempt]] = defaultdict(list)
    for attempt in done:
        by_worker[(attempt.node, attempt.process)].append(attempt)
    gaps = []
    for runs in by_worker.values():
        runs.sort(key=lambda a: a.start)
        for prev, nxt in itertools.pairwise(runs):
            gaps.append(nxt.start - prev.start - prev.elapsed)
    in_run = [a.elapsed - sum(job.cpu_by_file.get(f, 0.0) for f in a.files) for a in done]
    batches = max(1, len({a.idx for a in done}))
    total = (min(workers, cores) * seconds - job.driver_cpu_s) / batches
    return Overheads(
        statistics.mean(gaps) * 1000 if gaps else None,
        statistics.median(in_run) * 1000 if in_run else None,
        total * 1000,
        batches,
        len(by_worker),
    )


# ---------------------------------------------------------------- memory of the endpoint's containers


def _cgroup_dir(container_id: str) -> Path | None:
    for candidate in (
        f"/sys/fs/cgroup/memory/docker/{container_id}",
        f"/sys/fs/cgroup/memory/system.slice/docker-{container_id}.scope",
        f"/sys/fs/cgroup/system.slice/docker-{container_id}.scope",
        f"/sys/fs/cgroup/docker/{container_id}",
    ):
        if os.path.isdir(candidate):
            return Path(candidate)
    return None


def _cpu_file(container_id: str) -> Path | None:
    for candidate in (
        f"/sys/fs/cgroup/cpuacct/docker/{container_id}/cpuacct.usage",
        f"/sys/fs/cgroup/cpu,cpuacct/docker/{container_id}/cpuacct.usage",
        f"/sys/fs/cgroup/cpuacct/system.slice/docker-{container_id}.scope/cpuacct.usage",
        f"/sys/fs/cgroup/system.slice/docker-{container_id}.scope/cpu.stat",
        f"/sys/fs/cgroup/docker/{container_id}/cpu.stat",
    ):
        if os.path.isfile(candidate):
            return Path(candidate)
    return None


def read_cpu_s(container_id: str) -> float | None:
    """CPU seconds the container's processes used so far (cgroup v1 cpuacct or v2 cpu.stat)."""
    path = _cpu_file(container_id)
    if path is None:
        return None
    try:
        text = path.read_text()
        if path.name == "cpu.stat":
            return int(dict(line.split() for line in text.splitlines())["usage_usec"]) / 1e6
        return int(text) / 1e9
    except (OSError, KeyError, ValueError):
        return None


def read_memory(folder: Path) -> tuple[int, int] | None:
    """(anonymous memory (RSS), usage minus inactive page cache as `docker stats` shows it), bytes."""
    try:
        stat = dict(line.split() for line in (folder / "memory.stat").read_text().splitlines())
        if (folder / "memory.usage_in_bytes").exists():  # cgroup v1
            usage = int((folder / "memory.usage_in_bytes").read_text())
            rss = int(stat["total_rss"]) + int(stat.get("total_rss_huge", 0))
            return rss, usage - int(stat.get("total_inactive_file", 0))
        usage = int((folder / "memory.current").read_text())
        return int(stat["anon"]), usage - int(stat.get("inactive_file", 0))
    except (OSError, KeyError, ValueError):
        return None


@dataclass
class Peak:
    name: str
    role: str
    deployment: str
    first_rss: int = 0
    rss: int = 0
    shown: int = 0


class MemorySampler(threading.Thread):
    """Every `interval_s`: the endpoint's containers' cgroup memory (files); cpu() reads their CPU
    counters on demand.

    Which containers there are comes from the Docker API, asked by cpu() (before and after each job)
    and by a sample when the list is older than `list_every_s`: not on every sample, since a list call
    costs Docker's daemon and this process CPU that a short job on 2 cores shares with them."""

    def __init__(self, endpoint: str, interval_s: float = 0.5, list_every_s: float = 5.0) -> None:
        super().__init__(name="memory-sampler", daemon=True)
        import docker  # the project venv's Docker SDK: one API call per sample, no CLI process

        self.client = docker.from_env()
        self.endpoint = endpoint
        self.interval_s = interval_s
        self.peaks: dict[str, Peak] = {}
        self.finished = threading.Event()
        self.error: str | None = None
        self.list_every_s = list_every_s
        self._lock = threading.Lock()  # one Docker API call at a time on the shared client
        self._listed: list[dict] = []
        self._listed_at = float("-inf")

    def _containers(self, fresh: bool = True) -> list[dict]:
        with self._lock:
            if fresh or time.monotonic() - self._listed_at >= self.list_every_s:
                self._listed = self.client.api.containers(
                    filters={"label": f"io.mlendpoints.endpoint={self.endpoint}"}
                )
                self._listed_at = time.monotonic()
            return list(self._listed)

    def sample(self) -> None:
        for summary in self._containers(fresh=False):
            labels = summary.get("Labels") or {}
            folder = _cgroup_dir(summary["Id"])
            values = read_memory(folder) if folder else None
            if values is None:
                continue
            name = str(summary["Names"][0]).lstrip("/")
            peak = self.peaks.get(name)
            if peak is None:
                peak = self.peaks[name] = Peak(
                    name,
                    labels.get("io.mlendpoints.role", "?"),
                    labels.get("io.mlendpoints.deployment", ""),
                    first_rss=values[0],
                )
            peak.rss = max(peak.rss, values[0])
            peak.shown = max(peak.shown, values[1])

    def cpu(self) -> dict[str, tuple[str, str, float]]:
        """name -> (role, deployment, CPU seconds so far) of the endpoint's containers."""
        found = {}
        for summary in self._containers():
            labels = summary.get("Labels") or {}
            seconds = read_cpu_s(summary["Id"])
            if seconds is not None:
                found[str(summary["Names"][0]).lstrip("/")] = (
                    labels.get("io.mlendpoints.role", "?"),
                    labels.get("io.mlendpoints.deployment", ""),
                    seconds,
                )
        return found

    def run(self) -> None:
        while not self.finished.is_set():
            try:
                self.sample()
            except Exception as exc:  # the bench goes on without memory numbers
                self.error = f"{type(exc).__name__}: {exc}"
            self.finished.wait(self.interval_s)

    def stop(self) -> None:
        self.finished.set()
        self.join(5)

    def by_role(self) -> dict[str, list[Peak]]:
        grouped: dict[str, list[Peak]] = defaultdict(list)
        for peak in self.peaks.values():
            key = peak.role if peak.role != "node" else f"node {peak.deployment}"
            grouped[key].append(peak)
        return dict(grouped)


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
