"""The batch bench's inputs and drivers: small CSV files, a fixed-CPU driver, a heart-data driver.

Both drivers follow Azure ML's batch contract (init() once per worker process, run(mini_batch) per
mini-batch of file paths, one returned row per file or per CSV row) and are the only code every side
runs: our batch nodes, the one-process ceiling and Ray Data's actors import the same file.

Each returned row ends with the CPU time (us, time.process_time) the driver spent on that file, so the
merged output says how much of a job was the driver's own work. The first run() of a worker process
prints `BENCH_FIRST_RUN <unix time>` (our nodes send it to logs/user/stdout/<node>/processNNN.stdout.txt),
which gives invoke -> first run() from the job's own logs.
"""

from __future__ import annotations

import csv
import random
import shutil
import time
from pathlib import Path

from paths import REPO

HEART = (
    REPO.parent
    / "shared/conformance/azureml-examples/cli/endpoints/batch/deploy-models/heart-classifier-mlflow"
)
HEART_DATA = HEART / "data"
HEART_DEPLOYMENT = HEART / "deployment-custom" / "deployment.yml"
FIRST_RUN_MARK = "BENCH_FIRST_RUN"

# The fixed CPU cost per file: an LCG loop over the file's bytes count, LOOPS steps (calibrated per run).
SYNTHETIC_DRIVER = '''\
"""mlendpoints batch bench driver: a fixed pure-Python CPU cost per file, one row per file."""

import os
import time

LOOPS = {loops}
_first = False


def init():
    global _first
    _first = True


def _work(path):
    with open(path, "rb") as handle:
        acc = len(handle.read())
    for step in range(LOOPS):
        acc = (acc * 1103515245 + 12345 + step) & 0x7FFFFFFF
    return acc


def run(mini_batch):
    global _first
    if _first:
        _first = False
        print("{mark} %.6f" % time.time(), flush=True)
    rows = []
    for path in mini_batch:
        start = time.process_time_ns()
        value = _work(path)
        rows.append("%s,%d,%d" % (os.path.basename(path), value, (time.process_time_ns() - start) // 1000))
    return rows
'''

# The heart-classifier data (../shared/conformance, data only): each CSV read with the csv module, a fixed
# computation per row (a 13-16-1 perceptron with fixed weights over the encoded features), one row out
# per row in. The conformance deployment's own driver is not in ../shared and is not reproduced here.
HEART_DRIVER = '''\
"""mlendpoints batch bench driver for the heart-classifier data: csv module, fixed work per row."""

import csv
import math
import os
import random
import time

COLUMNS = ("age", "sex", "cp", "trestbps", "chol", "fbs", "restecg", "thalach", "exang", "oldpeak",
           "slope", "ca", "thal")
THAL = {{"normal": 0.0, "fixed": 1.0, "reversible": 2.0}}
HIDDEN = 16
ROUNDS = {rounds}
_first = False


def init():
    global _first, W1, W2
    rng = random.Random(7)
    W1 = [[rng.uniform(-0.1, 0.1) for _ in COLUMNS] for _ in range(HIDDEN)]
    W2 = [rng.uniform(-1, 1) for _ in range(HIDDEN)]
    _first = True


def _number(text):
    try:
        return float(text)
    except ValueError:
        return THAL.get(text.strip().lower(), 0.0)


def _score(features):
    out = 0.0
    for _ in range(ROUNDS):
        out = 0.0
        for weights, w2 in zip(W1, W2):
            hidden = 0.0
            for w, x in zip(weights, features):
                hidden += w * x
            out += w2 * (hidden if hidden > 0 else 0.0)
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, out))))


def run(mini_batch):
    global _first
    if _first:
        _first = False
        print("{mark} %.6f" % time.time(), flush=True)
    rows = []
    for path in mini_batch:
        start = time.process_time_ns()
        name = os.path.basename(path)
        with open(path, newline="") as handle:
            scored = [_score([_number(r.get(c) or "0") for c in COLUMNS]) for r in csv.DictReader(handle)]
        lines = ["%s,%d,%.6f,0" % (name, index, score) for index, score in enumerate(scored)]
        # Formatting the rows is the driver's work too (~5 % of it: left out, it was counted as the
        # runtime's in the CPU columns); only the first row's own formatting is left out.
        spent = (time.process_time_ns() - start) // 1000
        if not lines:
            rows.append("%s,-1,,%d" % (name, spent))
            continue
        lines[0] = "%s,0,%.6f,%d" % (name, scored[0], spent)
        rows.extend(lines)
    return rows
'''

# Runs inside the node image (or any Python): run() over every file (or the first `limit`) in one process,
# mini-batch by mini-batch as a job hands them out; prints JSON {files, rows, seconds, driver_cpu_s, python}.
CEILING_SCRIPT = """\
import importlib.util, json, os, platform, sys, time
driver, folder, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
limit = int(sys.argv[4]) if len(sys.argv) > 4 else None
files = sorted(os.path.join(d, f) for d, _, names in os.walk(folder) for f in names if not f.startswith("."))
files = files[:limit]
spec = importlib.util.spec_from_file_location("bench_driver", driver)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
module.init()
rows = cpu_us = 0
start = time.perf_counter()
for i in range(0, len(files), batch):
    for row in module.run(files[i:i + batch]):
        rows += 1
        cpu_us += int(row.rsplit(",", 1)[1])
seconds = time.perf_counter() - start
print(json.dumps({"files": len(files), "rows": rows, "seconds": seconds, "driver_cpu_s": cpu_us / 1e6,
                  "python": platform.python_version()}))
"""

# The parallel ideal: a job's W workers with no runtime at all. Runs inside one container of the node
# image per node; `parent` starts `count` processes there, each imports the driver and calls init(),
# waits for the shared start time (wall clock: the containers start one after another), then claims
# mini-batches one at a time from a counter file shared by all containers (flock, ~5 us a claim: a
# worker that runs faster takes more, as our workers and Ray's actors do) and calls run() on each.
# Prints one JSON line per process {start, end, files, rows}.
PARALLEL_SCRIPT = """\
import fcntl, importlib.util, json, os, struct, subprocess, sys, time
mode, driver, folder, batch, counter, count, start_at = sys.argv[1:8]
batch, count, start_at = int(batch), int(count), float(start_at)
if mode == "parent":
    procs = [subprocess.Popen([sys.executable, __file__, "child", *sys.argv[2:]], stdout=subprocess.PIPE,
                              text=True) for _ in range(count)]
    for proc in procs:
        out = proc.communicate()[0]
        print(out.strip().splitlines()[-1] if out.strip() else json.dumps({"error": proc.returncode}))
    sys.exit(0)
files = sorted(os.path.join(d, f) for d, _, names in os.walk(folder) for f in names if not f.startswith("."))
batches = [files[i:i + batch] for i in range(0, len(files), batch)]
spec = importlib.util.spec_from_file_location("bench_driver", driver)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
module.init()
fd = os.open(counter, os.O_RDWR)
def claim():
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        (index,) = struct.unpack("<q", os.pread(fd, 8, 0))
        os.pwrite(fd, struct.pack("<q", index + 1), 0)
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
    return index
while time.time() < start_at:
    time.sleep(0.0005)
start = time.time()
done = rows = 0
outputs = []
while (index := claim()) < len(batches):
    outputs.append(module.run(batches[index]))
    rows += len(outputs[-1])
    done += len(batches[index])
end = time.time()
# The driver's own CPU, as each row's last field says (summed after the clock stopped).
cpu = sum(int(tail) for out in outputs for row in out if (tail := str(row).rsplit(",", 1)[-1]).isdigit())
print(json.dumps({"start": start, "end": end, "files": done, "rows": rows, "driver_cpu_s": cpu / 1e6}))
"""


def write_drivers(code: Path, loops: int, heart_rounds: int) -> tuple[Path, Path]:
    """code/synthetic/bench_driver.py, code/heart/heart_driver.py, code/ceiling.py, code/parallel.py."""
    synthetic = code / "synthetic" / "bench_driver.py"
    heart = code / "heart" / "heart_driver.py"
    for path, text in (
        (synthetic, SYNTHETIC_DRIVER.format(loops=loops, mark=FIRST_RUN_MARK)),
        (heart, HEART_DRIVER.format(rounds=heart_rounds, mark=FIRST_RUN_MARK)),
        (code / "ceiling.py", CEILING_SCRIPT),
        (code / "parallel.py", PARALLEL_SCRIPT),
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return synthetic, heart


def write_synthetic(folder: Path, files: int, rows: int = 20, seed: int = 20261201) -> None:
    """`files` CSV files of `rows` rows of ten features (deterministic), in 10 subfolders of a folder."""
    rng = random.Random(seed)
    for index in range(files):
        path = folder / f"part-{index % 10}" / f"f{index:05d}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = [",".join(f"x{i}" for i in range(10))]
        lines += [",".join(f"{rng.uniform(0, 10):.3f}" for _ in range(10)) for _ in range(rows)]
        path.write_text("\n".join(lines) + "\n")


def write_heart(folder: Path, copies: int) -> int:
    """`copies` copies of each heart-unlabeled-*.csv (the data only); returns the number of CSV rows."""
    sources = sorted(HEART_DATA.glob("*.csv"))
    total = 0
    for source in sources:
        with source.open(newline="") as handle:
            total += sum(1 for _ in csv.DictReader(handle)) * copies
    for copy in range(copies):
        target = folder / f"copy-{copy // 50:02d}"
        target.mkdir(parents=True, exist_ok=True)
        for source in sources:
            shutil.copyfile(source, target / f"{source.stem}-{copy:04d}.csv")
    return total


def heart_settings() -> dict[str, int]:
    """instance_count, max_concurrency_per_instance and mini_batch_size of the conformance deployment."""
    import yaml  # the project venv has it (pyyaml is a dependency of the components)

    spec = yaml.safe_load(HEART_DEPLOYMENT.read_text())
    settings = spec.get("settings") or {}
    return {
        "instance_count": int((spec.get("resources") or {}).get("instance_count", 1)),
        "max_concurrency_per_instance": int(settings.get("max_concurrency_per_instance", 1)),
        "mini_batch_size": int(settings.get("mini_batch_size", 10)),
    }


def calibrate_loops(ms_per_file: float) -> int:
    """LOOPS for the synthetic driver so that one file costs about `ms_per_file` ms on this Python."""
    namespace: dict[str, object] = {}
    exec(SYNTHETIC_DRIVER.format(loops=200_000, mark=FIRST_RUN_MARK), namespace)
    work = namespace["_work"]
    best = float("inf")
    for _ in range(5):  # CPU time, best of 5: other work on a shared machine does not stretch it
        start = time.process_time()
        work(__file__)  # type: ignore[operator]
        best = min(best, time.process_time() - start)
    return max(1, round(ms_per_file / 1000 / (best / 200_000)))
