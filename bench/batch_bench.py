"""Batch jobs side by side: our batch endpoint vs the one-process ceiling vs Ray Data map_batches.

Same driver file, same input files, same number of workers; prints tables and ratios (bench/README.md).
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import batch_data
from batch_measure import (
    Ceiling,
    JobLogs,
    MemorySampler,
    Overheads,
    Parallel,
    ceiling_in_image,
    loadavg,
    median,
    overheads,
    parallel_in_image,
    read_job,
)
from batch_rayenv import RAY, ensure_ray, ray_command
from batch_stack import BASE_IMAGE, BenchStack, JobResult, JobsClient, load_project_env
from paths import CACHE

CORES = os.cpu_count() or 1


@dataclass(frozen=True)
class Case:
    """One input set and driver: synthetic files, or the heart-classifier data."""

    name: str
    folder: str  # under the benchdata datastore (and under data/ here)
    driver: str  # under code/
    mini_batch_size: int
    files: int
    rows: int
    grid: tuple[tuple[int, int], ...]  # (nodes, processes per node)

    def deployment(self, processes: int) -> str:
        return f"proc{processes}" if self.name == "synthetic" else self.name


@dataclass(frozen=True)
class JobRun:
    label: str
    case: str
    workers: int
    result: JobResult
    logs: JobLogs
    overheads: Overheads
    accepted_s: float  # POST /jobs answered after
    ceiling: float | None  # files/s: mean of the ceilings measured just before and just after (warm jobs)
    # CPU seconds during the job (and a settle time after): the controller's, and the job's nodes' minus
    # the driver's own (supervisor, worker processes' runtime, part files), from the containers' cgroups.
    controller_cpu_s: float | None
    node_cpu_s: float | None
    # The parallel ideal measured just after the job (warm jobs): its workers as bare driver processes.
    ideal: Parallel | None = None

    @property
    def files_per_s(self) -> float:
        return self.logs.files_out / self.result.seconds if self.result.seconds > 0 else 0.0

    @property
    def first_run_s(self) -> float | None:
        return self.logs.first_runs[0] - self.result.invoked_at if self.logs.first_runs else None

    def share(self, cores: int) -> float | None:
        """files/s over min(workers, cores) x the ceiling measured next to this job."""
        if self.ceiling is None:
            return None
        return self.files_per_s / (min(self.workers, cores) * self.ceiling)

    def ideal_share(self, cores: int) -> float | None:
        """The parallel ideal's files/s over min(workers, cores) x this job's ceiling."""
        if self.ceiling is None or self.ideal is None:
            return None
        return self.ideal.files_per_s / (min(self.workers, cores) * self.ceiling)

    def driver_share(self, cores: int) -> float:
        """The driver's own CPU over min(workers, cores) x the job's seconds: how much of the cores the
        job gave the driver. Unlike the ratios to a ceiling it needs no second measurement, so a machine
        that speeds up or slows down between the ceiling and the job does not move it."""
        return self.logs.driver_cpu_s / (min(self.workers, cores) * self.result.seconds)

    def ideal_driver_share(self, cores: int) -> float | None:
        """The same for the parallel ideal (bare driver processes)."""
        if self.ideal is None or self.ideal.seconds <= 0:
            return None
        return self.ideal.driver_cpu_s / (min(self.workers, cores) * self.ideal.seconds)

    def of_ideal(self) -> float | None:
        """ours / the parallel ideal: what the runtime leaves of what the workers could do alone."""
        return self.files_per_s / self.ideal.files_per_s if self.ideal is not None else None

    def phases(self) -> dict[str, float]:
        """Where the job's time went (seconds), from the controller's and the driver's clocks."""
        r = self.result
        last = max((a.end for a in self.logs.attempts), default=r.ended_at)
        first = self.logs.first_runs[0] if self.logs.first_runs else r.started_at
        return {
            "post": self.accepted_s,
            "queued": r.started_at - r.created_at,  # until a node leased the first mini-batch
            "init": first - r.started_at,  # first lease -> first run(): driver import and init()
            "runs": last - first,  # first run() -> last completion accepted
            "finalize": r.ended_at - last,  # last completion -> job ended (merge, logs)
        }


@dataclass
class Bench:
    args: argparse.Namespace
    run_dir: Path
    stack: BenchStack
    client: JobsClient | None = None
    image: str = ""
    notes: list[str] = field(default_factory=list)
    jobs: list[JobRun] = field(default_factory=list)
    counter: int = 0
    sampler: MemorySampler | None = None

    def ceiling(self, case: Case, limit: int | None = None) -> Ceiling:
        code, data = self.run_dir / "code", self.run_dir / "data"
        return ceiling_in_image(self.image, code, data, case.driver, case.folder, case.mini_batch_size, limit)

    def parallel(self, case: Case, nodes: int, processes: int) -> Parallel | None:
        code, data = self.run_dir / "code", self.run_dir / "data"
        try:
            ideal = parallel_in_image(
                self.image, code, data, case.driver, case.folder, case.mini_batch_size, nodes, processes
            )
        except (RuntimeError, OSError, ValueError) as exc:
            self.notes.append(f"parallel ideal of {case.name} at {nodes} x {processes} not measured: {exc}")
            return None
        if ideal.files != case.files or ideal.rows != case.rows:
            self.notes.append(
                f"parallel ideal of {case.name} discarded: {ideal.files} files and {ideal.rows} rows, "
                f"not {case.files} and {case.rows}"
            )
            return None
        return ideal

    def job(self, case: Case, nodes: int, processes: int, label: str, warm: bool = True) -> JobRun | None:
        """One job of `case` on `nodes` nodes of the deployment with `processes` per node."""
        assert self.client is not None
        before = self.ceiling(case, self.args.ceiling_files) if warm else None
        self.counter += 1
        name = f"{self.stack.endpoint}-{self.counter:02d}-{label}"
        output = f"out/{name}"
        deployment = case.deployment(processes)
        cpu_before = self.sampler.cpu() if self.sampler else None
        try:
            invoked = self.client.invoke(deployment, case.folder, output, name, nodes)
            accepted = time.time() - invoked
            result = self.client.wait(name, invoked, timeout_s=self.args.job_timeout)
        except Exception as exc:
            self.notes.append(f"job {name} ({label}): {exc}")
            return None
        # The job's CPU includes what it leaves behind: each worker retires at the end of its job and
        # the node starts a fresh one for the next job right away.
        time.sleep(self.args.settle)
        cpu_after = self.sampler.cpu() if self.sampler else None
        after = self.ceiling(case, self.args.ceiling_files) if warm else None
        ideal = self.parallel(case, nodes, processes) if warm and not self.args.skip_ideal else None
        job_home = self.stack.default_store / "azureml" / name
        try:
            logs = read_job(job_home / "logs", self.run_dir / "data" / output / "predictions.csv")
        finally:
            if self.args.keep:
                shutil.move(str(job_home), str(self.run_dir / "jobs" / name))
            shutil.rmtree(job_home, ignore_errors=True)
            shutil.rmtree(self.run_dir / "data" / output, ignore_errors=True)
        workers = nodes * processes
        controller_cpu = node_cpu = None
        if cpu_before is not None and cpu_after is not None:
            used = {
                container: seconds - cpu_before.get(container, ("", "", 0.0))[2]
                for container, (_, _, seconds) in cpu_after.items()
            }
            controller_cpu = sum(used[c] for c, (role, _, _) in cpu_after.items() if role == "controller")
            node_cpu = sum(
                used[c] for c, (role, dep, _) in cpu_after.items() if role == "node" and dep == deployment
            )
            node_cpu -= logs.driver_cpu_s
        top = (before.files_per_s + after.files_per_s) / 2 if before and after else None
        run = JobRun(
            label,
            case.name,
            workers,
            result,
            logs,
            overheads(logs, result.seconds, workers, CORES),
            accepted,
            top,
            controller_cpu,
            node_cpu,
            ideal,
        )
        if result.status != "Completed" or logs.files_out != case.files or logs.rows != case.rows:
            error = (result.resource["properties"].get("error") or {}).get("message", "")
            self.notes.append(
                f"job {name} ({label}): {result.status}, {logs.files_out} of {case.files} files and "
                f"{logs.rows} of {case.rows} rows in the output {error[:300]}"
            )
        self.jobs.append(run)
        first = f"{run.first_run_s:.2f} s" if run.first_run_s is not None else "n/a"
        share = run.share(CORES)
        of_ideal = run.of_ideal()
        print(
            f"  {label:<18} {result.status:<9} {run.files_per_s:6.0f} files/s in {result.seconds:5.2f} s"
            + (f" ({share:.2f} of min(W,cores) x ceiling {top:.0f})" if share and top else "")
            + (
                f", parallel ideal {ideal.files_per_s:.0f} (ours/ideal {of_ideal:.2f})"
                if ideal is not None and of_ideal is not None
                else ""
            )
            # The driver's own CPU in the job against what the ceiling next to it needs for these files:
            # tells a slower machine (both up) from runtime cost (ours down, the driver's the same).
            + (f"; driver CPU {logs.driver_cpu_s:.2f} s (ceiling {case.files / top:.2f} s)" if top else "")
            + f", invoke->first run() {first}, load {loadavg()}",
            flush=True,
        )
        return run

    def warm(self, case: Case) -> list[JobRun]:
        return [j for j in self.jobs if j.case == case.name and not j.label.startswith("cold")]


def run_ray(
    case: Case, code: Path, data: Path, workers: list[int], rounds: int, ceiling_files: int
) -> tuple[dict[int, list[dict]], str]:
    """Ray's runs by workers ({files_per_s, ceiling}), and a line about Ray or why it was skipped."""
    try:
        ensure_ray(BASE_IMAGE)
    except (subprocess.CalledProcessError, OSError) as exc:
        return {}, f"skipped: {RAY} could not be installed for {BASE_IMAGE}'s Python ({exc})"
    args = [
        "--driver", f"/bench/code/{case.driver}", "--folder", f"/bench/data/{case.folder}",
        "--workers", *map(str, workers), "--batch-size", str(case.mini_batch_size),
        "--rounds", str(rounds), "--ceiling-files", str(ceiling_files),
    ]  # fmt: skip
    results: dict[int, list[dict]] = {}
    header: dict = {}
    probes = []
    with tempfile.TemporaryFile("w+") as errors:
        proc = subprocess.Popen(
            ray_command(BASE_IMAGE, code, data, args), stdout=subprocess.PIPE, stderr=errors, text=True
        )
        assert proc.stdout is not None
        for text in proc.stdout:  # one JSON line per run, as it finishes
            if not text.startswith("{"):
                continue
            line = json.loads(text)
            if "ray" in line:
                header = line
            elif "probe_s" in line:
                probes.append(f"w={line['workers']} {line['probe_s']:.1f} s")
            else:
                if line["rows"] != case.rows:
                    proc.kill()
                    proc.wait()
                    return {}, f"result discarded: Ray gave {line['rows']} rows for {case.rows}"
                rate = line["files"] / line["seconds"]
                results.setdefault(line["workers"], []).append(
                    {"files_per_s": rate, "ceiling": line["ceiling"]}
                )
                print(
                    f"  Ray w={line['workers']} round {line['round']}: {rate:.0f} files/s "
                    f"(ceiling next to it {line['ceiling']:.0f}), load {loadavg()}",
                    flush=True,
                )
        code_ = proc.wait()
        if code_ != 0 or not header:
            errors.seek(0)
            tail = " | ".join(errors.read().strip().splitlines()[-5:])
            return {}, f"skipped: batch_ray.py exited {code_}: {tail}"
    return (
        results,
        f"Ray {header['ray']} in {BASE_IMAGE} (Python {header['python']}, the nodes' interpreter); "
        f"ray.init() {header['init_s']:.1f} s, not counted; a run over one mini-batch per actor "
        f"(Ray's fixed cost per execution) {', '.join(probes)}",
    )


def throughput_table(case: Case, bench: Bench, ray: dict[int, list[dict]]) -> list[str]:
    lines = [
        "work  N x P | ours files/s  /W.ceil  /min(W,cores).ceil | Ray files/s  Ray/ceil "
        "| ours/Ray  per-ceil | warm invoke->run() s"
    ]
    for n, p in case.grid:
        w = n * p
        runs = [j for j in bench.warm(case) if j.workers == w and j.result.status == "Completed"]
        if not runs:
            lines.append(f"w={w:<3} {n} x {p} | no completed job")
            continue
        ours = median([j.files_per_s for j in runs])
        share = median([s for j in runs if (s := j.share(CORES)) is not None])
        per_w = share * min(w, CORES) / w
        ray_cells = "          -         - |        -         -"
        if ray.get(w):
            theirs = median([r["files_per_s"] for r in ray[w]])
            ray_share = median([r["files_per_s"] / (min(w, CORES) * r["ceiling"]) for r in ray[w]])
            ray_cells = f"{theirs:11.0f} {ray_share:9.2f} | {ours / theirs:8.2f} {share / ray_share:9.2f}"
        warm = median([f for j in runs if (f := j.first_run_s) is not None])
        lines.append(
            f"w={w:<3} {n} x {p} | {ours:12.0f} {per_w:8.2f} {share:19.2f} | {ray_cells} | {warm:20.2f}"
        )
    return lines


def ideal_table(case: Case, bench: Bench) -> list[str]:
    """The parallel ideal next to ours: how much of the gap to the goal is the machine, how much ours."""
    lines = [
        "parallel ideal (the job's N x P workers as bare driver processes in N containers of the node "
        "image, each claiming the next mini-batch from a shared counter file and calling run() on it, no "
        "runtime; measured after each warm job):",
        "work  N x P | ideal files/s  /min(W,cores).ceil | ours/ideal | driver CPU/cores: ours  ideal "
        "| latest process start",
    ]
    for n, p in case.grid:
        runs = [
            j
            for j in bench.warm(case)
            if j.workers == n * p and j.result.status == "Completed" and j.ideal is not None
        ]
        if not runs:
            lines.append(f"w={n * p:<3} {n} x {p} | not measured")
            continue
        ideal = median([j.ideal.files_per_s for j in runs if j.ideal is not None])
        share = median([s for j in runs if (s := j.ideal_share(CORES)) is not None])
        of_ideal = median([r for j in runs if (r := j.of_ideal()) is not None])
        late = max(j.ideal.late_s for j in runs if j.ideal is not None)
        ours_cpu = median([j.driver_share(CORES) for j in runs])
        ideal_cpu = median([d for j in runs if (d := j.ideal_driver_share(CORES)) is not None])
        lines.append(
            f"w={n * p:<3} {n} x {p} | {ideal:13.0f} {share:19.2f} | {of_ideal:10.2f} | "
            f"{ours_cpu:21.2f} {ideal_cpu:6.2f} | {late * 1000:+.0f} ms after the agreed time"
        )
    return lines


def overhead_table(case: Case, bench: Bench) -> list[str]:
    lines = [
        "work  N x P | gap ms/mb  in-run ms/mb  total ms/mb | CPU ms/mb: controller  node "
        "| POST ms  queued s  lease->run() s  run()s s  finalize s  job s"
    ]
    for n, p in case.grid:
        runs = [j for j in bench.warm(case) if j.workers == n * p and j.result.status == "Completed"]
        if not runs:
            continue
        o = [j.overheads for j in runs]
        gap = median([x.gap_ms for x in o if x.gap_ms is not None])
        in_run = median([x.in_run_ms for x in o if x.in_run_ms is not None])
        total = median([x.total_ms for x in o])
        ctrl = median(
            [c * 1000 / j.overheads.minibatches for j in runs if (c := j.controller_cpu_s) is not None]
        )
        node = median([c * 1000 / j.overheads.minibatches for j in runs if (c := j.node_cpu_s) is not None])
        ph = [j.phases() for j in runs]
        m = {k: median([x[k] for x in ph]) for k in ph[0]}
        lines.append(
            f"w={n * p:<3} {n} x {p} | {gap:9.2f} {in_run:13.2f} {total:12.2f} | {ctrl:20.2f} {node:5.2f} "
            f"| {m['post'] * 1000:7.0f} {m['queued']:9.2f} {m['init']:15.2f} {m['runs']:9.2f} "
            f"{m['finalize']:11.2f} {median([j.result.seconds for j in runs]):6.2f}"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=2000, help="synthetic input files")
    parser.add_argument(
        "--ms-per-file", type=float, default=3.0, help="driver CPU per synthetic file (target)"
    )
    parser.add_argument("--mini-batch", type=int, default=20, help="mini_batch_size of the synthetic jobs")
    parser.add_argument("--rounds", type=int, default=3, help="warm jobs (and Ray runs) per grid point")
    parser.add_argument("--idle", type=int, default=20, help="clusters' idle_time_before_scale_down (s)")
    parser.add_argument(
        "--grid", nargs="+", default=["1x1", "2x1", "2x2"], help="NxP points (nodes x processes)"
    )
    parser.add_argument(
        "--ceiling-files", type=int, default=400, help="files of the ceiling run next to each job"
    )
    parser.add_argument("--heart-copies", type=int, default=250, help="copies of each heart CSV (0: skip)")
    parser.add_argument("--skip-ray", action="store_true")
    parser.add_argument(
        "--skip-ideal", action="store_true", help="no parallel ideal (bare driver processes) after each job"
    )
    parser.add_argument("--job-timeout", type=float, default=300.0)
    parser.add_argument(
        "--settle", type=float, default=0.5, help="seconds after a job before its CPU is read"
    )
    parser.add_argument("--keep", action="store_true", help="keep data, drivers and job logs under the cache")
    args = parser.parse_args()
    points = {tuple(point.lower().split("x", 1)) for point in args.grid}
    grid = tuple(sorted((int(n), int(p)) for n, p in points))
    if any(n > 2 or p > 2 or n < 1 or p < 1 for n, p in grid):
        parser.error(
            "grid points are 1x1, 2x1, 1x2 or 2x2 (2 nodes per cluster, deployments of 1 and 2 processes)"
        )
    load_project_env()

    started = time.time()
    run_dir = CACHE / "batch-bench" / time.strftime("run-%Y%m%d-%H%M%S")
    code, data = run_dir / "code", run_dir / "data"
    (run_dir / "jobs").mkdir(parents=True)
    if not args.keep:  # also after an error or Ctrl-C
        atexit.register(shutil.rmtree, run_dir, ignore_errors=True)
    loops = batch_data.calibrate_loops(args.ms_per_file)
    batch_data.write_drivers(code, loops, heart_rounds=1)
    batch_data.write_synthetic(data / "synthetic", args.files)
    cases = [
        Case(
            "synthetic",
            "synthetic",
            "synthetic/bench_driver.py",
            args.mini_batch,
            args.files,
            args.files,
            grid,
        )
    ]
    heart_note = ""
    heart_cfg: dict[str, int] = {}
    if args.heart_copies > 0 and batch_data.HEART_DATA.is_dir():
        heart_cfg = batch_data.heart_settings()
        n, p = heart_cfg["instance_count"], heart_cfg["max_concurrency_per_instance"]
        if n > 2 or p > 2:  # 2 cores: the bench's clusters have 2 nodes at most
            n, p = min(n, 2), min(p, 2)
            heart_note = f"heart-classifier case capped at {n} x {p} workers (2 cores)"
        rows = batch_data.write_heart(data / "heart", args.heart_copies)
        files = len(list(batch_data.HEART_DATA.glob("*.csv"))) * args.heart_copies
        cases.append(
            Case(
                "heart",
                "heart",
                "heart/heart_driver.py",
                heart_cfg["mini_batch_size"],
                files,
                rows,
                ((n, p),),
            )
        )
    elif args.heart_copies > 0:
        heart_note = f"heart-classifier case skipped: {batch_data.HEART_DATA} is absent"

    memory_gb = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30
    print(
        f"batch bench: {CORES} cores, {memory_gb:.0f} GB, load average {loadavg()}, "
        f"host Python {platform.python_version()}; run folder {run_dir}",
        flush=True,
    )

    # Ray first, alone (our stack is not up yet): its actors and our nodes never share the cores.
    ray_results: dict[str, dict[int, list[dict]]] = {}
    ray_notes: dict[str, str] = {}
    for case in cases:
        if args.skip_ray:
            ray_notes[case.name] = "skipped (--skip-ray)"
            continue
        case_workers = sorted({n * p for n, p in case.grid})
        print(f"Ray Data map_batches, {case.name}, workers {case_workers} ...", flush=True)
        ray_results[case.name], ray_notes[case.name] = run_ray(
            case, code, data, case_workers, args.rounds, args.ceiling_files
        )
        print(f"  {ray_notes[case.name]}", flush=True)

    deployments = []
    for processes in sorted({p for _, p in grid}):
        deployments.append((f"proc{processes}", code / cases[0].driver, 2, processes, args.mini_batch))
    for case in cases[1:]:
        ((n, p),) = case.grid
        deployments.append((case.name, code / case.driver, n, p, case.mini_batch_size))
    stack = BenchStack.plan(run_dir, deployments, args.idle)
    bench = Bench(args, run_dir, stack)
    full_ceilings: dict[str, Ceiling] = {}
    sampler: MemorySampler | None = None
    cold: list[tuple[str, JobRun]] = []
    scale_down_s: float | None = None
    up_s = 0.0
    failed = False
    try:
        print(f"pulumi up of a temporary stack (endpoint {stack.endpoint}) ...", flush=True)
        t0 = time.monotonic()
        stack.up()
        up_s = time.monotonic() - t0
        print(f"  up in {up_s:.0f} s; load {loadavg()}", flush=True)
        bench.image = stack.node_image(deployments[0][0])
        bench.client = stack.client()
        for case in cases:
            full_ceilings[case.name] = top = bench.ceiling(case)
            print(
                f"  ceiling {case.name}: {top.files_per_s:.0f} files/s in the node image",
                flush=True,
            )
        try:
            sampler = MemorySampler(stack.endpoint)
            sampler.start()
            bench.sampler = sampler
        except Exception as exc:
            bench.notes.append(f"memory not sampled: {exc}")
            sampler = None
        synthetic = cases[0]
        by_processes: dict[int, list[int]] = {}
        for n, p in grid:
            by_processes.setdefault(p, []).append(n)
        used: list[str] = []  # deployments whose nodes may still be up

        def quiet(deployment: str) -> None:
            # The nodes of a deployment measured before stop after idle_time_before_scale_down: wait
            # for that first, so no container stops on the 2 cores while a warm job is timed.
            for other in used:
                waited = stack.wait_no_nodes(other, timeout_s=args.idle + 90)
                if waited > 0.5:
                    print(f"  waited {waited:.0f} s for {other}'s idle scale-down", flush=True)
            used[:] = [deployment]

        for p, nodes in sorted(by_processes.items()):
            nodes.sort(reverse=True)  # the first (cold) job starts every node the warm ones use
            quiet(f"proc{p}")
            run = bench.job(synthetic, nodes[0], p, f"cold-proc{p}", warm=False)
            if run:
                cold.append((f"proc{p} ({p} process(es) per node), first job, {nodes[0]} node(s)", run))
            for n in nodes:
                for _ in range(args.rounds):
                    bench.job(synthetic, n, p, f"synthetic-w{n * p}")
        for case in cases[1:]:
            ((n, p),) = case.grid
            quiet(case.deployment(p))
            run = bench.job(case, n, p, f"cold-{case.name}", warm=False)
            if run:
                cold.append((f"{case.name}, first job, {n} node(s)", run))
            for _ in range(args.rounds):
                bench.job(case, n, p, f"{case.name}-w{n * p}")
        # From zero again: the first deployment's nodes go after the idle time; a job brings them back.
        p = min(by_processes)
        n = max(by_processes[p])
        print(
            f"waiting for proc{p}'s idle scale-down (idle_time_before_scale_down {args.idle} s) ...",
            flush=True,
        )
        scale_down_s = stack.wait_no_nodes(f"proc{p}", timeout_s=args.idle + 90)
        run = bench.job(synthetic, n, p, f"cold-proc{p}-again", warm=False)
        if run:
            cold.append((f"proc{p}, after idle scale-down, {n} node(s)", run))
    except Exception:
        failed = True
        traceback.print_exc()
    finally:
        if sampler is not None:
            sampler.stop()
        print("destroying the temporary stack ...", flush=True)
        stack.destroy()

    # ------------------------------------------------------------------ report
    print()
    print(
        f"== batch bench: {CORES} cores; {len(bench.jobs)} jobs; pulumi up {up_s:.0f} s; whole run "
        f"{time.time() - started:.0f} s; load average at the end {loadavg()}"
    )
    print(
        "goals: ours >= 0.9 x min(W, cores) x ceiling; ours/Ray >= 1.0; scheduler overhead <= 5 ms per "
        "mini-batch; invoke -> first run() <= 5 s warm, <= 15 s from zero nodes"
    )
    for case in cases:
        if case.name not in full_ceilings:
            continue
        full = full_ceilings[case.name]
        print()
        if case.name == "synthetic":
            print(
                f"== synthetic: {case.files} CSV files of 20 rows; the driver runs {loops} pure-Python LCG "
                f"steps per file; mini_batch_size {case.mini_batch_size} "
                f"({-(-case.files // case.mini_batch_size)} mini-batches)"
            )
        else:
            ((n, p),) = case.grid
            print(
                f"== heart-classifier data (../shared/conformance, data only): {case.files} files "
                f"({args.heart_copies} copies of its 4 CSVs), {case.rows} rows; the bench's own driver "
                f"(csv module, a fixed 13-16-1 perceptron per row); the conformance deployment's settings: "
                f"instance_count {n}, max_concurrency_per_instance {p}, "
                f"mini_batch_size {case.mini_batch_size}"
            )
        tops = [j.ceiling for j in bench.warm(case) if j.ceiling]
        minibatches = -(-case.files // case.mini_batch_size)
        print(
            f"ceiling (one process, run() per mini-batch): node image, Python {full.python}: all "
            f"{full.files} files {full.files_per_s:.0f} files/s "
            f"({full.driver_cpu_s * 1000 / full.files:.2f} ms driver CPU per file); "
            f"next to each job ({args.ceiling_files} files): "
            + (f"{min(tops):.0f}-{max(tops):.0f} files/s" if tops else "-")
        )
        print(f"Ray Data: {ray_notes.get(case.name, 'not run')}")
        print("\n".join(throughput_table(case, bench, ray_results.get(case.name, {}))))
        print("\n".join(ideal_table(case, bench)))
        print(
            f"overhead per mini-batch and where a warm job's time goes (medians; {minibatches} mini-batches):"
        )
        print("\n".join(overhead_table(case, bench)))

    print()
    print(
        "invoke -> first run() (client clock before POST /jobs -> first BENCH_FIRST_RUN line in the "
        "job's user logs):"
    )
    warm = [j for j in bench.jobs if not j.label.startswith("cold") and j.first_run_s is not None]
    if warm:
        values = sorted(f for j in warm if (f := j.first_run_s) is not None)
        print(
            f"  warm (nodes up), {len(values)} jobs: median {median(values):.2f} s, min {values[0]:.2f} s, "
            f"max {values[-1]:.2f} s"
        )
    for what, run in cold:
        first = f"{run.first_run_s:.2f} s" if run.first_run_s is not None else "n/a"
        print(
            f"  from zero nodes: {what}: {first} (the job ended "
            f"{run.result.ended_at - run.result.invoked_at:.1f} s after invoke, {run.logs.files_out} files)"
        )
    if scale_down_s is not None:
        print(
            f"  (those nodes were gone {scale_down_s:.0f} s after the wait for them began; "
            f"idle_time_before_scale_down {args.idle} s)"
        )

    if sampler is not None:
        print()
        print(
            "memory per container (its cgroup, sampled every 0.5 s through all jobs; RSS = anonymous memory, "
            "stats = usage minus inactive page cache, as docker stats shows it):"
        )
        for role, peaks in sorted(sampler.by_role().items()):
            line = (
                f"  {role:<12} x{len(peaks)}: peak RSS {max(p.rss for p in peaks) / 2**20:4.0f} MB, "
                f"peak stats {max(p.shown for p in peaks) / 2**20:4.0f} MB"
            )
            if not role.startswith("node"):
                line += f", at rest (first sample) RSS {min(p.first_rss for p in peaks) / 2**20:.0f} MB"
            print(line)
        if sampler.error:
            print(f"  (sampler error: {sampler.error})")

    print()
    print(
        "columns: ours = files / (job endTime - startTime), median of the warm jobs; "
        "/min(W,cores).ceil = ours / (min(workers, cores) x the ceiling measured in the node image just "
        "before that job), median; /W.ceil the same over workers x ceiling; Ray = files / map_batches wall "
        "time (median), Ray/ceil likewise against a ceiling measured just before in Ray's process (same "
        "image Python); "
        "per-ceil = (ours/ceil) / (Ray/ceil); driver CPU/cores = the driver's own CPU (its rows say it) "
        "over min(W, cores) x the job's (or the ideal's) seconds, median: the share of the cores the "
        "driver got, which needs no ceiling and so does not move when the machine's speed drifts; "
        "gap = mean time between a run() returning and the next one "
        "starting on the same worker (inside a bundle only the worker's own bookkeeping, report + lease "
        "between bundles); "
        "in-run = median attempt elapsed minus its driver CPU (rows, part file, waiting for a core); "
        "total = (min(W, cores) x job seconds "
        "- driver CPU) / mini-batches, everything that is not the driver; CPU ms/mb = CPU of the controller "
        "container (it also answers this bench's status polls, 2/s, and its health probe, every 10 s) and "
        "of the job's node containers minus the driver's own (supervisor, worker runtime, part files, the "
        "next job's worker start-up), per mini-batch; queued = job created -> first "
        "lease; lease->1st run() = worker imports the driver and calls init(); run()s = first run() -> "
        "last completion; finalize = last completion -> job ended (merge, logs)"
    )
    for note in ([heart_note] if heart_note else []) + bench.notes:
        print(f"note: {note}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
