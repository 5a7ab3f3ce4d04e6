"""What a pipeline deployment runs: its controller config, each step's mounts and environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components.asset_registry import build_registry
from components.errors import SpecError
from components.pipeline_plans import STEP_CODE_ROOT, STEP_INPUTS_ROOT, plan_pipeline
from components.specs import PipelineComponentBatchDeploymentSpec
from components.stack_config import load_stack_config
from serving.batch.protocol import PipelineConfig

PIPELINES = Path(__file__).parent / "fixtures" / "pipelines"
TRANSFORMS = {"name": "fixture-transforms", "version": 1, "type": "custom_model", "path": "transforms"}


def _plan(settings: dict[str, Any], clusters: tuple[str, ...] = ("cpu-cluster",)) -> Any:
    config = {
        "components": ["prepare.yml", "score.yml"],
        "models": [TRANSFORMS],
        "endpoints": [{"name": "fixture-pipelines", "defaults": {"deployment_name": "prep-score"}}],
        "computes": [{"name": "cpu-cluster", "size": "Standard_DS2_v2", "max_instances": 1}],
        "deployments": [
            {
                "$schema": "https://azuremlschemas.azureedge.net/latest/pipelineComponentBatchDeployment.schema.json",
                "name": "prep-score",
                "endpoint_name": "fixture-pipelines",
                "type": "pipeline",
                "component": "pipeline-registered.yml",
                "settings": settings,
            }
        ],
    }
    stack = load_stack_config(config, PIPELINES, target="local")
    registry, _ = build_registry(stack.documents)
    (spec,) = stack.batch_endpoint("fixture-pipelines").deployments
    assert isinstance(spec, PipelineComponentBatchDeploymentSpec)
    return plan_pipeline(spec, registry, dict.fromkeys(clusters))


def test_the_controller_config_and_the_steps_mounts() -> None:
    plan = _plan({"default_compute": "azureml:cpu-cluster", "continue_on_step_failure": True})
    config = PipelineConfig.model_validate(plan.config)
    assert plan.cluster == "cpu-cluster" and config.continue_on_step_failure
    assert list(config.steps) == ["prepare_job", "score_job"]
    prepare, score = config.steps["prepare_job"], config.steps["score_job"]
    assert prepare.inputs["transformations"].value == f"{STEP_INPUTS_ROOT}/transformations"
    assert prepare.defaults == {"encoding": "ordinal"} and prepare.declared == [
        "data",
        "transformations",
        "encoding",
    ]
    assert score.inputs["mode"].value == "append" and score.defaults == {"threshold": "0.5"}
    assert score.bound_outputs == {"scores": "scores"} and score.after == ["prepare_job"]
    first = plan.steps[0]
    assert first.mounts == {
        STEP_CODE_ROOT: str(PIPELINES / "src"),
        f"{STEP_INPUTS_ROOT}/transformations": str(PIPELINES / "transforms"),  # the registered model's folder
    }
    assert (
        first.env["MLE_STEP_CODE"] == STEP_CODE_ROOT
        and first.environment.image == "mlendpoints/base:bookworm-py311"
    )
    assert plan.warnings == ()


def test_the_steps_need_a_cluster_of_the_stack() -> None:
    with pytest.raises(SpecError, match=r"settings.default_compute: name the compute cluster .*cpu-cluster"):
        _plan({})
    with pytest.raises(SpecError, match=r"\(clusters of this stack: none\)"):
        _plan({"default_compute": "cpu-cluster"}, clusters=())


def test_a_deployment_made_from_a_pipeline_job_takes_its_component_compute_settings_and_values() -> None:
    stack = load_stack_config(
        {
            "endpoints": [{"name": "fixture-pipelines", "defaults": {"deployment_name": "from-job"}}],
            "computes": [{"name": "cpu-cluster", "size": "Standard_DS2_v2", "max_instances": 1}],
            "deployments": [
                {
                    "$schema": "http://azureml/sdk-2-0/BatchDeployment.json",
                    "name": "from-job",
                    "endpoint_name": "fixture-pipelines",
                    "type": "pipeline",
                    "job_definition": "pipeline-job.yml",
                }
            ],
        },
        PIPELINES,
        target="local",
    )
    registry, _ = build_registry(stack.documents)
    (spec,) = stack.batch_endpoint("fixture-pipelines").deployments
    assert isinstance(spec, PipelineComponentBatchDeploymentSpec)
    plan = plan_pipeline(spec, registry, {"cpu-cluster": None})
    config = PipelineConfig.model_validate(plan.config)
    assert plan.cluster == "cpu-cluster" and config.continue_on_step_failure  # the job's
    assert config.inputs["score_mode"].default == "replace"  # the job's value, over the component's "append"
    assert list(config.steps) == ["prepare_job", "side_job", "score_job"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"component": "pipeline.yml", "job_definition": "pipeline-job.yml"}, "give either `component`"),
        ({"job_definition": "azureml:some-job"}, "names a job of an Azure ML workspace"),
    ],
)
def test_component_or_job_definition(entry: dict[str, Any], message: str) -> None:
    deployment = {"name": "from-job", "endpoint_name": "fixture-pipelines", "type": "pipeline", **entry}
    with pytest.raises(SpecError, match=message):
        load_stack_config({"deployments": [deployment]}, PIPELINES)
