"""Where both benches find things: the repo, the cache holding their venvs, the example scoring scripts."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("MLENDPOINTS_CACHE", Path.home() / ".cache" / "mlendpoints"))
# bench/scorer_bench.py builds this venv (serving/requirements.txt + the model packages);
# bench/router_bench.py runs our scorer from it.
SCORER_VENV = CACHE / "scorer-bench-venv"
CONFORMANCE_MODEL_1 = REPO.parent / "shared/conformance/azureml-examples/cli/endpoints/online/model-1"
# ../shared/conformance is data only (model, sample request): model-1 runs the project's own stand-in script.
MODEL_1_CODE = REPO / "tests/conformance_scripts/online/model-1/onlinescoring"
BLUE = REPO / "examples/online/model-blue"
