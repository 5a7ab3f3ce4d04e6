"""Pipeline jobs end to end in the controller: Azure's invoke body, steps run as processes in
dependency order (the agent's stand-in), outputs passed between steps, failures, cancel."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from serving.batch.controller.app import Controller
from serving.batch.controller.settings import ControllerSettings
from serving.batch.protocol import ClusterLimits, DeploymentConfig, JobSettings, PipelineConfig
from tests.serving.batch.controller.helpers import config, deployment, public_client
from tests.serving.batch.controller.local_steps import LocalSteps

# prepare: upper-cases every input file into its own output folder; score: counts the lines of
# what prepare wrote into the pipeline's `scores` output, with the mode in the file name.
PIPELINE = {
    "inputs": {
        "input_data": {"type": "uri_folder"},
        "score_mode": {"type": "string", "default": "append"},
        "fail": {"type": "string", "default": "no"},
    },
    "outputs": ["scores"],
    "steps": {
        "prepare": {
            "component": "fixture_prepare",
            "command": "python3 prepare.py ${{inputs.data}} ${{outputs.prepared}} $[[${{inputs.fail}}]]",
            "inputs": {
                "data": {"kind": "parent", "name": "input_data"},
                "fail": {"kind": "parent", "name": "fail"},
            },
            "declared": ["data", "fail"],
            "outputs": ["prepared"],
        },
        "side": {"component": "fixture_side", "command": "echo side step ran"},
        "score": {
            "component": "fixture_score",
            "command": "python3 score.py ${{inputs.data}} ${{outputs.scores}}/${{inputs.mode}}.txt",
            "inputs": {
                "data": {"kind": "step", "step": "prepare", "output": "prepared"},
                "mode": {"kind": "parent", "name": "score_mode"},
            },
            "declared": ["data", "mode"],
            "outputs": ["scores"],
            "bound_outputs": {"scores": "scores"},
            "after": ["prepare"],
        },
    },
}
PREPARE = """import os, sys
source, target, *rest = sys.argv[1:]
if rest == ["yes"]:
    print("prepare was told to fail", file=sys.stderr)
    sys.exit(3)
for name in sorted(os.listdir(source)):
    with open(os.path.join(source, name)) as src, open(os.path.join(target, name), "w") as dst:
        dst.write(src.read().upper())
print("prepared", len(os.listdir(target)), "files")
"""
SCORE = """import os, sys
source, target = sys.argv[1:]
lines = sum(len(open(os.path.join(source, name)).read().splitlines()) for name in os.listdir(source))
open(target, "w").write(f"{lines}\\n")
"""


@pytest.fixture
def steps(tmp_path: Path) -> LocalSteps:
    code = tmp_path / "code"
    code.mkdir()
    (code / "prepare.py").write_text(PREPARE)
    (code / "score.py").write_text(SCORE)
    return LocalSteps(code)


@pytest.fixture
def start(
    make_settings: Callable[..., ControllerSettings], steps: LocalSteps
) -> Iterator[Callable[..., Controller]]:
    started: list[Controller] = []

    def run(**pipeline: Any) -> Controller:
        pipe = DeploymentConfig(
            name="pipe",
            settings=JobSettings(),
            cluster=ClusterLimits(name="cpu"),
            pipeline=PipelineConfig.model_validate({**PIPELINE, **pipeline}),
        )
        controller = Controller(make_settings(config(deployment("blue"), pipe, default="pipe")), agent=steps)
        controller.start()
        started.append(controller)
        return controller

    yield run
    for controller in started:
        controller.stop()


def _inputs(root: Path) -> None:
    folder = root / "data" / "heart"
    folder.mkdir(parents=True)
    (folder / "a.csv").write_text("x,y\n1,2\n")
    (folder / "b.csv").write_text("x,y\n3,4\n5,6\n")


def _invoke(controller: Controller, **inputs: Any) -> dict[str, Any]:
    body = {
        "properties": {
            "InputData": {
                "input_data": {"JobInputType": "UriFolder", "Uri": "azureml://datastores/data/paths/heart"},
                **inputs,
            }
        }
    }
    answer = public_client(controller.public_port).request("POST", "/jobs", body)
    assert answer.status == 200, answer.body
    return answer.json()


def _wait(controller: Controller, name: str) -> dict[str, Any]:
    client = public_client(controller.public_port)
    deadline = time.monotonic() + 60
    while True:
        job: dict[str, Any] = client.request("GET", f"/jobs/{name}").json()
        if job["properties"]["status"] in ("Completed", "Failed", "Canceled"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.05)


def test_a_pipeline_runs_its_steps_in_order_and_leaves_its_output(
    start: Callable[..., Controller], root: Path, steps: LocalSteps
) -> None:
    _inputs(root)
    controller = start()
    created = _invoke(controller, score_mode={"JobInputType": "Literal", "Value": "replace"})
    name = created["name"]
    assert created["properties"]["inputData"]["score_mode"] == {"jobInputType": "Literal", "value": "replace"}
    job = _wait(controller, name)
    props = job["properties"]
    assert props["status"] == "Completed", props["error"]
    assert {step: s["status"] for step, s in props["steps"].items()} == dict.fromkeys(
        ("prepare", "side", "score"), "completed"
    )
    home = root / "workspaceblobstore" / "azureml" / name
    assert (home / "steps" / "prepare" / "prepared" / "b.csv").read_text() == "X,Y\n3,4\n5,6\n"
    assert (home / "scores" / "replace.txt").read_text() == "5\n"  # 2 + 3 lines, in the pipeline's output
    assert props["outputData"]["scores"]["uri"].endswith(f"azureml/{name}/scores/")
    log = home / "logs" / "steps" / "prepare" / "std_log.txt"
    assert log.read_text() == "prepared 2 files\n"
    assert "completed" in (home / "logs" / "job_result.txt").read_text()
    assert steps.runs == {}  # every ended container removed
    # The optional block of the command went: no `fail` value was given... but it has a default.
    assert steps.commands[(name, "prepare")].endswith(" no")


def test_a_failed_step_fails_the_job_and_skips_what_reads_it(
    start: Callable[..., Controller], root: Path
) -> None:
    _inputs(root)
    controller = start()
    name = _invoke(controller, fail={"JobInputType": "Literal", "Value": "yes"})["name"]
    props = _wait(controller, name)["properties"]
    assert props["status"] == "Failed"
    assert props["steps"]["prepare"]["status"] == "failed" and props["steps"]["prepare"]["exitCode"] == 3
    assert props["steps"]["score"]["status"] == "skipped"
    assert "step prepare: its command exited with code 3" in props["error"]["message"]
    assert "not run: score" in props["error"]["message"]
    log = root / "workspaceblobstore" / "azureml" / name / "logs" / "steps" / "prepare" / "std_log.txt"
    assert log.read_text() == "prepare was told to fail\n"


MISSING = {"JobInputType": "UriFolder", "Uri": "azureml://datastores/data/paths/nope"}


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({}, 400, "InputData.input_data is required"),
        (
            {"properties": {"InputData": {}, "miniBatchSize": 3}},
            400,
            "miniBatchSize: not taken by a pipeline",
        ),
        (
            {
                "properties": {
                    "InputData": {
                        "input_data": {
                            "JobInputType": "UriFolder",
                            "Uri": "azureml://datastores/data/paths/nope",
                        }
                    }
                }
            },
            400,
            "does not exist",
        ),
    ],
)
def test_bad_invocations_are_refused(
    start: Callable[..., Controller], root: Path, body: dict[str, Any], status: int, message: str
) -> None:
    controller = start()
    body = body or {"properties": {"InputData": {}}}
    answer = public_client(controller.public_port).request("POST", "/jobs", body)
    assert answer.status == status and message in answer.json()["message"], answer.body


def test_a_canceled_pipeline_stops_its_running_step(
    start: Callable[..., Controller], root: Path, steps: LocalSteps
) -> None:
    _inputs(root)
    controller = start(steps={"slow": {"component": "slow", "command": "sleep 30"}}, outputs=[])
    name = _invoke(controller)["name"]
    client = public_client(controller.public_port)
    deadline = time.monotonic() + 30
    while client.request("GET", f"/jobs/{name}").json()["properties"]["status"] != "Running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert client.request("POST", f"/jobs/{name}/cancel").status == 200
    assert _wait(controller, name)["properties"]["status"] == "Canceled"
    # The next pass stops the step's container and closes the job.
    while steps.runs or controller.store.job(name).finalized is False:
        assert time.monotonic() < deadline, steps.runs
        time.sleep(0.05)
    props = client.request("GET", f"/jobs/{name}").json()["properties"]
    assert (
        props["steps"]["slow"]["status"] == "canceled"
        and props["steps"]["slow"]["error"] == "the job was canceled"
    )


# `side` takes a moment and `report` reads it: when prepare fails, report is not ready yet.
SLOW_SIDE = {
    **PIPELINE["steps"],
    "side": {
        "component": "side",
        "command": "sleep 0.5; echo side > ${{outputs.out}}/side.txt",
        "outputs": ["out"],
    },
    "report": {
        "component": "report",
        "command": "cat ${{inputs.side}}/side.txt",
        "inputs": {"side": {"kind": "step", "step": "side", "output": "out"}},
        "declared": ["side"],
        "after": ["side"],
    },
}


@pytest.mark.parametrize(("keep_going", "report"), [(False, "skipped"), (True, "completed")])
def test_after_a_failed_step_only_continue_on_step_failure_starts_more(
    start: Callable[..., Controller], root: Path, keep_going: bool, report: str
) -> None:
    _inputs(root)
    controller = start(steps=SLOW_SIDE, continue_on_step_failure=keep_going)
    name = _invoke(controller, fail={"JobInputType": "Literal", "Value": "yes"})["name"]
    props = _wait(controller, name)["properties"]
    assert props["status"] == "Failed"
    assert {step: s["status"] for step, s in props["steps"].items()} == {
        "prepare": "failed", "side": "completed", "score": "skipped", "report": report,
    }  # fmt: skip


def test_a_restarted_controller_finds_its_running_step_and_finishes_the_job(
    make_settings: Callable[..., ControllerSettings], root: Path, steps: LocalSteps
) -> None:
    _inputs(root)
    pipeline = PipelineConfig.model_validate(
        {**PIPELINE, "steps": {**PIPELINE["steps"], "side": {"component": "side", "command": "sleep 1"}}}
    )
    pipe = DeploymentConfig(
        name="pipe", settings=JobSettings(), cluster=ClusterLimits(name="cpu"), pipeline=pipeline
    )
    settings = make_settings(config(deployment("blue"), pipe, default="pipe"))
    first = Controller(settings, agent=steps)
    first.start()
    name = _invoke(first)["name"]
    deadline = time.monotonic() + 30
    while (name, "side") not in steps.commands:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    first.stop()  # the side step keeps running without it, as a container would
    second = Controller(settings, agent=steps)
    second.start()
    try:
        props = _wait(second, name)["properties"]
        assert props["status"] == "Completed", props["error"]
        assert sorted(steps.commands) == sorted((name, step) for step in ("prepare", "side", "score"))
    finally:
        second.stop()
