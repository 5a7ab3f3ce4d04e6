"""Which of a driver's imports an idle worker may do ahead of its job, and doing them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from serving.batch.node.warm import driver_imports
from tests.serving.batch.node.conftest import REPO

SITE = Path(__file__).parent / "site"


def test_the_imports_of_every_job_start_are_found_in_order() -> None:
    source = """
from __future__ import annotations
import os, glob
import numpy as np
from pandas import DataFrame, read_csv
from . import sibling
from .helpers import x
try:
    import ujson as json
except ImportError:
    import json
if os.environ.get("GPU"):
    import torch
with open(__file__):
    import csv

def init():
    global model
    import mlflow
    from sklearn import ensemble
    def nested():
        import never_at_start
    model = None

def run(mini_batch):
    import only_in_run
    return mini_batch

class Helper:
    import only_in_class
import os
"""
    assert driver_imports(source) == [
        ("os", ()),
        ("glob", ()),
        ("numpy", ()),
        ("pandas", ("DataFrame", "read_csv")),
        ("ujson", ()),
        ("json", ()),
        ("torch", ()),
        ("csv", ()),
        ("mlflow", ()),
        ("sklearn", ("ensemble",)),
    ]


def _warm(tmp_path: Path, source: str) -> dict[str, object]:
    """warm_imports in a fresh interpreter (what it imports stays there); what it did, and which of
    the interesting modules ended up in sys.modules."""
    code = tmp_path / "code"
    code.mkdir()
    (code / "driver.py").write_text(source)
    (code / "own_module.py").write_text("raise RuntimeError('user code ran ahead of the job')\n")
    probe = f"""
import json, sys
sys.path.append({str(code)!r})
from serving.batch.node.warm import warm_imports
warmed = warm_imports({str(code / "driver.py")!r}, [{str(code)!r}])
print(json.dumps({{
    "imported": warmed.imported, "user_code": warmed.user_code, "failed": warmed.failed,
    "loaded": sorted(m for m in sys.modules if m.split(".")[0] in ("warmlib", "own_module", "csv", "never"))
}}))
"""
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env={"PYTHONPATH": f"{REPO}:{SITE}", "DRIVER_STATE": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    )
    loaded: dict[str, object] = json.loads(result.stdout)
    return loaded


def test_libraries_are_imported_and_the_code_folder_s_own_modules_are_not(tmp_path: Path) -> None:
    warmed = _warm(
        tmp_path,
        "import csv\nimport own_module\nfrom warmlib import parts\nimport not_installed_anywhere\n",
    )
    assert warmed["imported"] == ["csv", "warmlib"]
    assert warmed["user_code"] == ["own_module"]
    assert warmed["failed"] == {}
    assert warmed["loaded"] == ["csv", "warmlib", "warmlib.parts"]  # the submodule came too


def test_a_library_that_fails_to_import_is_left_for_the_job_to_report(tmp_path: Path) -> None:
    warmed = _warm(tmp_path, "import warmlib.missing_part\nimport csv\n")
    assert warmed["imported"] == ["csv"]
    assert list(warmed["failed"]) == ["warmlib.missing_part"]  # type: ignore[call-overload]


def test_a_driver_that_does_not_parse_warms_nothing(tmp_path: Path) -> None:
    warmed = _warm(tmp_path, "import csv\ndef run(:\n")
    assert warmed == {"imported": [], "user_code": [], "failed": {}, "loaded": []}
