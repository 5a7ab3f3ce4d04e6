"""`mle preview` on the real engine: a stack that is up, then edits previewed (never applied), and new
stacks that break a policy or the quota. Assertions are on the JSON; the markdown is rendered from it."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.fixtures.tiny_endpoint import local_stack, tiny_serving
from tests.integration.pulumi_stack import REPO, TempStack

pytestmark = pytest.mark.integration
ENDPOINT = "it-preview"
EXAMPLE = REPO / "examples" / "online" / "model-blue"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("preview")
    # Our own copies of the example's code and conda file, so that the tests can edit them.
    shutil.copytree(EXAMPLE / "onlinescoring", folder / "onlinescoring")
    shutil.copytree(EXAMPLE / "environment", folder / "environment")
    # The tiny stack runs 1 instance per deployment: the pack's advisory min-instances says so on every
    # preview; switched off here so that a clean change exits 0 (its exit 2 is tested on its own).
    (folder / "pack.json").write_text(json.dumps({"min-instances": "disabled"}))
    return folder


def _serving(workdir: Path) -> dict[str, Any]:
    serving = tiny_serving(ENDPOINT)
    blue = serving["deployments"][0]
    blue["code_configuration"]["code"] = str(workdir / "onlinescoring")
    blue["environment"]["conda_file"] = str(workdir / "environment" / "conda.yaml")
    serving["deployments"].append({**copy.deepcopy(blue), "name": "green"})
    serving["endpoints"][0]["traffic"] = {"blue": 100, "green": 0}
    return serving


@pytest.fixture(scope="module")
def stack(workdir: Path) -> Iterator[TempStack]:
    created = TempStack.create(local_stack(_serving(workdir)))
    try:
        created.up()
        yield created
    finally:
        created.destroy_and_remove()


def preview(stack: TempStack, *extra: str, fmt: str = "json") -> tuple[int, Any]:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "components.endpoint_cli",
            "--stack",
            stack.name,
            "preview",
            "--format",
            fmt,
            *extra,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout) if fmt == "json" else proc.stdout


def test_an_unchanged_stack_reports_no_changes(stack: TempStack, workdir: Path) -> None:
    code, report = preview(stack, "--policy-pack-config", str(workdir / "pack.json"))
    assert (code, report["no_changes"], report["exit_code"]) == (0, True, 0), report
    assert [e["status"] for e in report["endpoints"]] == ["unchanged"]
    code, text = preview(stack, "--policy-pack-config", str(workdir / "pack.json"), fmt="markdown")
    assert code == 0 and "**no changes**" in text


def test_a_traffic_change_applies_in_place_with_before_and_after(stack: TempStack, workdir: Path) -> None:
    serving = _serving(workdir)
    serving["endpoints"][0]["traffic"] = {"blue": 70, "green": 30}
    serving["endpoints"][0]["mirror_traffic"] = {"green": 10}
    stack.reconfigure(local_stack(serving))
    try:
        code, report = preview(stack, "--policy-pack-config", str(workdir / "pack.json"))
        assert code == 0, report
        (endpoint,) = report["endpoints"]
        assert endpoint["traffic"] == {
            "before": {"blue": 100, "green": 0},
            "after": {"blue": 70, "green": 30},
        }
        assert endpoint["mirror"] == {"before": {}, "after": {"green": 10}}
        assert endpoint["replaced"] == [] and endpoint["images"] == [] and endpoint["created"] == []
        assert "config" in [key for change in endpoint["in_place"] for key in change["keys"]]
        code, text = preview(stack, "--policy-pack-config", str(workdir / "pack.json"), fmt="markdown")
        assert "blue 100 → 70, green 0 → 30; mirror green 0 → 10" in text
        assert "none: changes apply in place" in text
        # The pack's advisory rule, on again: exit 2, and 1 with --fail-on advisory.
        assert preview(stack)[0] == 2
        assert preview(stack, "--fail-on", "advisory")[0] == 1
    finally:
        stack.reconfigure(local_stack(_serving(workdir)))


def test_code_and_environment_changes_show_restarts_and_a_new_image(stack: TempStack, workdir: Path) -> None:
    score = workdir / "onlinescoring" / "score.py"
    conda = workdir / "environment" / "conda.yaml"
    score_text, conda_text = score.read_text(), conda.read_text()
    try:
        score.write_text(score_text + "\n# a reviewed change\n")
        code, report = preview(stack, "--policy-pack-config", str(workdir / "pack.json"))
        assert code == 0, report
        (endpoint,) = report["endpoints"]
        # Both deployments run the same code folder; on the local target code is mounted, not built in.
        assert {(r["deployment"], r["why"]) for r in endpoint["replaced"]} == {
            ("blue", "code or model content changed"),
            ("green", "code or model content changed"),
        }
        assert endpoint["images"] == [] and endpoint["traffic"] is None
        conda.write_text(conda_text.replace("  - pip:\n", "  - pip:\n      - six==1.17.0\n"))
        code, report = preview(stack, "--policy-pack-config", str(workdir / "pack.json"))
        images = {(i["deployment"], i["why"]) for i in report["endpoints"][0]["images"]}
        assert images == {("blue", "environment packages changed"), ("green", "environment packages changed")}
        whys = {r["why"] for r in report["endpoints"][0]["replaced"]}
        assert all("its image changed" in why for why in whys), whys
    finally:
        score.write_text(score_text)
        conda.write_text(conda_text)


def test_a_mandatory_policy_violation_exits_1_naming_it() -> None:
    # A production stack (by name) with one instance: the pack's mandatory production-min-instances.
    stack = TempStack.create(local_stack(tiny_serving("it-prev-prod")), prefix="prod-it")
    try:
        code, report = preview(stack)
        assert code == 1 and report["exit_code"] == 1, report
        found = {(p["policy"], p["level"], p["endpoint"]) for p in report["policy"]}
        assert ("production-min-instances", "mandatory", "it-prev-prod") in found
        assert report["errors"] == []  # the engine's "preview failed" says nothing the violation does not
    finally:
        stack.destroy_and_remove()


def test_a_quota_overrun_exits_1_with_the_arithmetic() -> None:
    config = local_stack(tiny_serving("it-prev-quota", instance_count=10, instance_type="Standard_DS3_v2"))
    config["mlendpoints:quota"] = {"total_cores": 8}
    stack = TempStack.create(config)
    try:
        code, report = preview(stack)
        assert code == 1 and report["result"] == "failed", report
        assert any("needs 40 cores" in e and "available 8" in e for e in report["errors"]), report["errors"]
        _, text = preview(stack, fmt="markdown")
        assert "FAILS" in text and "needs 40 cores" in text
    finally:
        stack.destroy_and_remove()
