"""A pipeline job's steps: inputs from Azure's invoke body, the order they start in, the job's outcome."""

from __future__ import annotations

import pytest

from serving.batch.controller.datastores import DatastorePath
from serving.batch.controller.errors import BadRequest
from serving.batch.controller.pipeline_runs import blocked, outcome, pipeline_inputs, ready, step_command
from serving.batch.protocol import PipelineConfig, PipelineInput, StepConfig, StepInput

CONFIG = PipelineConfig(
    inputs={
        "input_data": PipelineInput(type="uri_folder"),
        "score_mode": PipelineInput(type="string", default="append"),
        "rounds": PipelineInput(type="integer", optional=True),
    },
    outputs=["scores"],
    steps={
        "prepare": StepConfig(
            component="prep",
            command="prep --in ${{inputs.data}} $[[--t ${{inputs.t}}]] --out ${{outputs.prepared}}",
            inputs={"data": StepInput(kind="parent", name="input_data")},
            declared=["data", "t"],
            outputs=["prepared"],
        ),
        "side": StepConfig(component="side", command="side"),
        "score": StepConfig(
            component="score",
            command="score ${{inputs.data}} ${{inputs.mode}} ${{inputs.model}} ${{outputs.scores}}",
            inputs={
                "data": StepInput(kind="step", step="prepare", output="prepared"),
                "mode": StepInput(kind="parent", name="score_mode"),
                "model": StepInput(kind="value", value="/mnt/azureml/inputs/score/model"),
            },
            declared=["data", "mode", "model"],
            outputs=["scores"],
            bound_outputs={"scores": "scores"},
            after=["prepare"],
        ),
    },
)


def _path(location: DatastorePath) -> str:
    return f"/ds/{location.datastore}/{location.path}"


def test_inputs_come_from_azure_s_body_with_defaults() -> None:
    body = {
        "input_data": {"JobInputType": "UriFolder", "Uri": "azureml://datastores/data/paths/heart/"},
        "rounds": {"jobInputType": "Literal", "value": "3"},
    }
    assert pipeline_inputs(body, CONFIG, _path) == {
        "input_data": "/ds/data/heart",
        "rounds": "3",
        "score_mode": "append",
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, r"InputData.input_data is required: the pipeline's input 'input_data' \(uri_folder\)"),
        (
            {"nope": {}},
            r"InputData.nope: the pipeline has no input 'nope' \(its inputs: input_data, score_mode",
        ),
        ({"input_data": {"JobInputType": "Literal", "Value": "x"}}, r"JobInputType must be UriFolder"),
        (
            {"rounds": {"JobInputType": "Literal", "Value": "2.5"}},
            r"InputData.rounds.Value must be a whole number",
        ),
        ({"score_mode": {"JobInputType": "UriFolder", "Uri": "x"}}, r"must be Literal for a string input"),
    ],
)
def test_bad_inputs_are_refused_naming_them(body: dict[str, object], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        pipeline_inputs(body, CONFIG, _path)


def test_steps_start_in_dependency_order_and_the_job_ends_when_all_settle() -> None:
    states = dict.fromkeys(CONFIG.steps, "waiting")
    assert ready(CONFIG, states) == ["prepare", "side"]  # independent steps start together
    states |= {"prepare": "running", "side": "running"}
    assert ready(CONFIG, states) == [] and outcome(CONFIG, states) == "Running"
    states |= {"prepare": "completed", "side": "completed"}
    assert ready(CONFIG, states) == ["score"]
    states["score"] = "completed"
    assert outcome(CONFIG, states) == "Completed"


def test_a_failed_step_stops_the_job_unless_told_to_continue() -> None:
    states = {"prepare": "failed", "side": "running", "score": "waiting"}
    assert outcome(CONFIG, states) == "Running"  # the running step is waited for
    assert blocked(CONFIG, states) == ["score"]
    states["side"] = "completed"
    assert outcome(CONFIG, states) == "Failed"
    keep_going = CONFIG.model_copy(update={"continue_on_step_failure": True})
    states = {"prepare": "failed", "side": "waiting", "score": "waiting"}
    assert ready(keep_going, states) == ["side"] and outcome(keep_going, states) == "Running"
    states |= {"side": "completed", "score": "skipped"}
    assert outcome(keep_going, states) == "Failed"


def test_commands_get_the_job_s_paths() -> None:
    values = {"input_data": "/ds/data/heart/", "score_mode": "append", "rounds": None}
    assert step_command(CONFIG, "prepare", values, "/ds/ws/azureml/job-1") == (
        "prep --in /ds/data/heart/  --out /ds/ws/azureml/job-1/steps/prepare/prepared"
    )
    assert step_command(CONFIG, "score", values, "/ds/ws/azureml/job-1") == (
        "score /ds/ws/azureml/job-1/steps/prepare/prepared append /mnt/azureml/inputs/score/model "
        "/ds/ws/azureml/job-1/scores"
    )
