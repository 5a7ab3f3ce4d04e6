"""Components registered in the stack config and pipeline deployments checked against them at preview."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components.errors import SpecError
from components.specs import PipelineComponentBatchDeploymentSpec
from components.stack_config import load_stack_config

PIPELINES = Path(__file__).parent / "fixtures" / "pipelines"
ENDPOINT = {
    "name": "fixture-pipelines",
    "$schema": "https://azuremlschemas.azureedge.net/latest/batchEndpoint.schema.json",
}
CLUSTER = {"name": "cpu-cluster", "type": "amlcompute", "size": "Standard_DS2_v2", "max_instances": 1}
TRANSFORMS = {"name": "fixture-transforms", "version": 1, "type": "custom_model", "path": "transforms"}


def _deployment(component: Any) -> dict[str, Any]:
    return {
        "$schema": "https://azuremlschemas.azureedge.net/latest/pipelineComponentBatchDeployment.schema.json",
        "name": "prepare-and-score",
        "endpoint_name": "fixture-pipelines",
        "type": "pipeline",
        "component": component,
        "settings": {"default_compute": "cpu-cluster"},
    }


def _stack(component: Any, **config: Any) -> Any:
    stack_config = {
        "components": ["prepare.yml", "score.yml"],
        "models": [TRANSFORMS],
        "endpoints": [ENDPOINT],
        "computes": [CLUSTER],
        "deployments": [_deployment(component)],
        **config,
    }
    return load_stack_config(stack_config, PIPELINES, target="local")


def _problems(component: Any, **config: Any) -> list[str]:
    with pytest.raises(SpecError) as caught:
        _stack(component, **config)
    return [str(problem) for problem in caught.value.problems]


def test_a_pipeline_of_registered_components_loads() -> None:
    stack = _stack("pipeline-registered.yml")
    (deployment,) = stack.batch_endpoint("fixture-pipelines").deployments
    assert isinstance(deployment, PipelineComponentBatchDeploymentSpec)
    assert deployment.component == PIPELINES / "pipeline-registered.yml"


def test_a_registered_pipeline_component_is_what_the_deployment_runs() -> None:
    stack = _stack(
        "azureml:fixture_registered_pipeline@latest",
        components=["prepare.yml", "score.yml", "pipeline-registered.yml"],
    )
    (deployment,) = stack.batch_endpoint("fixture-pipelines").deployments
    assert deployment.component == PIPELINES / "pipeline-registered.yml"  # the registered file itself


def test_unknown_components_and_assets_are_named_with_what_is_registered() -> None:
    found = _problems("pipeline-registered.yml", components=["prepare.yml"], models=[])
    pipeline = PIPELINES / "pipeline-registered.yml"
    assert len(found) == 1, found
    assert found[0].startswith(f"{pipeline}:20: jobs.score_job.component: no component named 'fixture_score'")
    assert "(components: fixture_prepare)" in found[0] and "under `components:`" in found[0]
    found = _problems("pipeline-registered.yml", models=[])
    assert found == [
        f"{pipeline}:16: jobs.prepare_job.inputs.transformations: no model named 'fixture-transforms' is "
        "registered in this stack (models: none); register it by listing its YAML file (`$schema: "
        "https://azuremlschemas.azureedge.net/latest/model.schema.json`, name, version) under `models:` in "
        "the stack config, as `az ml model create -f` does"
    ]


def test_a_deployment_refers_to_a_pipeline_not_a_command_component() -> None:
    (found,) = _problems("azureml:fixture_score@latest")
    assert "deployments[0].component: azureml:fixture_score@latest is a command component" in found


def test_a_component_version_registered_twice_with_other_content_is_refused(tmp_path: Path) -> None:
    other = {
        "name": "fixture_prepare", "version": "1", "type": "command", "command": "echo other",
        "environment": {"image": "python:3.11"},
    }  # fmt: skip
    found = _problems("pipeline-registered.yml", components=["prepare.yml", "score.yml", other])
    assert (
        len(found) == 1
        and "component fixture_prepare:1 is already registered with different content" in found[0]
    )


def test_components_in_folders_register_only_under_components() -> None:
    stack = _stack("pipeline-registered.yml", components=["."])  # every component YAML of the folder
    assert stack.batch_endpoint("fixture-pipelines").deployments
    found = _problems("pipeline-registered.yml", components=[], files=["."])
    assert any("no component named 'fixture_prepare'" in problem for problem in found), found


def test_the_id_form_names_a_component_too() -> None:
    long_id = (
        "azureml:/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/"
        "Microsoft.MachineLearningServices/workspaces/ws/components/fixture_registered_pipeline/versions/2"
    )
    registered = ["prepare.yml", "score.yml", "pipeline-registered.yml"]
    stack = _stack(long_id, components=registered)
    (deployment,) = stack.batch_endpoint("fixture-pipelines").deployments
    assert deployment.component == PIPELINES / "pipeline-registered.yml"
    (found,) = _problems(
        long_id.replace("/versions/2", "/versions/3"),
        components=["prepare.yml", "score.yml", "pipeline-registered.yml"],
    )
    assert "component 'fixture_registered_pipeline' has no version '3' (registered: 2)" in found
