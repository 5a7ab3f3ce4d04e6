"""Ray Data side of the batch bench; runs in the bench-only Ray venv (bench/batch_bench.py starts it).

The same driver file our nodes run, as a callable class: __init__ imports the driver and calls init()
(once per actor, as our worker process does once per job), __call__ calls run() on one batch of file
paths. `map_batches(..., concurrency=W, batch_size=B)` runs W actors (one CPU each) over one block
per mini-batch (B files each), so the work units are our mini-batches. The clock runs from building
the dataset to the last row materialized: actor start-up and init() count, as a job's worker start-up
and init() count in its start->end time; `ray.init()` (our analogue: nodes already up) does not.

Right before each run, the same driver's run() loops over the first --ceiling-files files in this
process (the one-process ceiling at that moment, on the Python Ray runs on), so a ratio to it is
comparable with our jobs' ratio to the ceiling measured next to them on a machine shared with other work.

Prints one JSON line per run: {"workers", "round", "seconds", "files", "rows", "driver_cpu_s",
"ceiling"}; first {"ray", "init_s", "python"}, and before each worker count {"workers", "probe_s"}: the
wall time of a run over one mini-batch per actor (Ray's fixed cost per execution).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import platform
import sys
import time
import warnings


def _files(folder: str) -> list[str]:
    return sorted(
        os.path.join(d, f) for d, _, names in os.walk(folder) for f in names if not f.startswith(".")
    )


class Runner:
    """One Ray actor: the driver's init() once, run() per batch."""

    def __init__(self, driver: str) -> None:
        spec = importlib.util.spec_from_file_location("bench_driver", driver)
        assert spec is not None and spec.loader is not None
        self.module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.module)
        self.module.init()

    def __call__(self, batch: dict) -> dict:
        import numpy

        rows = self.module.run([str(p) for p in batch["path"]])
        return {"row": numpy.asarray(rows, dtype=object)}


def ceiling(driver: str, files: list[str], batch: int) -> float:
    """Files/s of run() in a loop in this process."""
    runner = Runner(driver)
    start = time.perf_counter()
    for index in range(0, len(files), batch):
        runner.module.run(files[index : index + batch])
    return len(files) / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--driver", required=True)
    parser.add_argument("--folder", required=True)
    parser.add_argument("--workers", type=int, nargs="+", required=True)
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--ceiling-files", type=int, default=500)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    import ray

    files = _files(args.folder)
    started = time.perf_counter()
    ray.init(
        num_cpus=max(args.workers),
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.ERROR,
        configure_logging=True,
    )
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    print(
        json.dumps(
            {
                "ray": ray.__version__,
                "init_s": time.perf_counter() - started,
                "python": platform.python_version(),
            }
        ),
        flush=True,
    )

    def execute(paths: list[str], workers: int) -> list[dict]:
        blocks = max(1, -(-len(paths) // args.batch_size))
        dataset = ray.data.from_items([{"path": p} for p in paths], override_num_blocks=blocks)
        return dataset.map_batches(
            Runner,
            fn_constructor_args=(args.driver,),
            batch_size=args.batch_size,
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=1,
            batch_format="numpy",
        ).take_all()

    for workers in args.workers:
        # Ray's fixed cost of one execution: one mini-batch per actor.
        start = time.perf_counter()
        execute(files[: workers * args.batch_size], workers)
        print(json.dumps({"workers": workers, "probe_s": time.perf_counter() - start}), flush=True)
        for round_ in range(args.rounds):
            top = ceiling(args.driver, files[: args.ceiling_files], args.batch_size)
            start = time.perf_counter()
            out = execute(files, workers)
            seconds = time.perf_counter() - start
            cpu_us = sum(int(str(r["row"]).rsplit(",", 1)[1]) for r in out)
            print(
                json.dumps(
                    {
                        "workers": workers,
                        "round": round_,
                        "seconds": seconds,
                        "files": len(files),
                        "rows": len(out),
                        "driver_cpu_s": cpu_us / 1e6,
                        "ceiling": top,
                    }
                ),
                flush=True,
            )
    ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
