"""The local asset registry: asset YAML registered from stack config, references resolved as Azure does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components.asset_registry import Reference, Registry, parse_reference, version_key
from components.errors import SpecError
from components.specs import OnlineDeploymentSpec
from components.stack_config import load_stack_config

FIXTURES = Path(__file__).parent / "fixtures"
REGISTRY = FIXTURES / "assets-registry"
ASSETS = FIXTURES / "assets"
LONG_ID = (
    "azureml:/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/"
    "Microsoft.MachineLearningServices/workspaces/ws/models/fixture-model/versions/2"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("azureml:my-model:1", Reference("my-model", "1")),
        ("azureml:my_model.v2:2024.1", Reference("my_model.v2", "2024.1")),
        ("azureml:heart-classifier@latest", Reference("heart-classifier", label="latest")),
        (LONG_ID, Reference("fixture-model", "2")),
        (LONG_ID.removeprefix("azureml:"), Reference("fixture-model", "2")),
        ("azureml://registries/azureml/environments/sklearn-1.5/labels/latest", None),  # shared registry
        ("azureml://datastores/workspaceblobstore/paths/model/", None),
    ],
)
def test_references_parse_as_azure_writes_them(text: str, expected: Reference | None) -> None:
    assert parse_reference(text, "model") == expected


def test_a_long_id_of_another_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="the id of a registered model, not of a environment"):
        parse_reference(LONG_ID, "environment")


def test_versions_sort_naturally() -> None:
    versions = ["10", "9", "1.10", "1.9", "2", "1"]
    assert sorted(versions, key=version_key) == ["1", "1.9", "1.10", "2", "9", "10"]


def _stack(**config: Any) -> Any:
    return load_stack_config(config, REGISTRY, target="local")


def test_deployments_resolve_registered_models_and_environments() -> None:
    stack = _stack(
        models=["model-v1.yml", "model-v2.yml", "model-v10.yml"],
        environments=["environment.yml"],
        data=["data.yml"],
        endpoints=["endpoint.yml"],
        deployments=[
            "deployment.yml",
            {"file": "deployment.yml", "name": "green", "model": "azureml:fixture-model@latest"},
            {"file": "deployment.yml", "name": "teal", "model": LONG_ID},
        ],
    )
    group = stack.online_endpoint("fixture-online")
    blue, green, teal = (group.deployment(name) for name in ("blue", "green", "teal"))
    assert isinstance(blue, OnlineDeploymentSpec) and blue.model is not None
    # azureml:fixture-model:1 is model-v1.yml's folder, resolved against that file, not the deployment's.
    assert (blue.model.reference, blue.model.path, blue.model.version) == (None, ASSETS / "model", "1")
    assert green.model is not None and (green.model.version, green.model.path) == ("10", ASSETS / "model")
    assert teal.model is not None and teal.model.path == ASSETS / "model" / "model.txt"
    # azureml:fixture-env@latest: its image and conda file.
    assert blue.environment is not None and blue.environment.reference is None
    assert blue.environment.image == "mlendpoints/base:bookworm-py311"
    assert blue.environment.conda_file == ASSETS / "environment" / "conda.yaml"


def test_asset_yaml_can_also_be_listed_under_files_or_inline() -> None:
    stack = _stack(
        files=["model-v2.yml", "environment.yml"],
        models=[{"name": "fixture-model", "version": 3, "path": "../assets/model"}],
        endpoints=["endpoint.yml"],
        deployments=[{"file": "deployment.yml", "model": "azureml:fixture-model@latest"}],
    )
    blue = stack.online_endpoint("fixture-online").deployment("blue")
    assert blue.model is not None and (blue.model.version, blue.model.path) == ("3", ASSETS / "model")


def _problems(**config: Any) -> list[str]:
    with pytest.raises(SpecError) as caught:
        _stack(**config)
    return [str(problem) for problem in caught.value.problems]


def test_unknown_names_versions_and_labels_name_what_is_registered() -> None:
    found = _problems(
        models=["model-v1.yml", "model-v2.yml"],
        environments=["environment.yml"],
        endpoints=["endpoint.yml"],
        deployments=[
            {"file": "deployment.yml", "model": "azureml:fixture-modle:1"},
            {"file": "deployment.yml", "name": "green", "model": "azureml:fixture-model:7"},
            {"file": "deployment.yml", "name": "teal", "environment": "azureml:fixture-env@prod"},
        ],
    )
    assert len(found) == 3, found
    # Each reference came from the stack config entry's override: the problem names that entry.
    assert "stack config: deployments[0].model: no model named 'fixture-modle' is registered" in found[0]
    assert "(models: fixture-model)" in found[0] and "under `models:`" in found[0]
    assert "model 'fixture-model' has no version '7' (registered: 1, 2)" in found[1]
    assert "deployments[2].environment: azureml:fixture-env@prod: label 'prod' is not known" in found[2]
    assert "only @latest (the highest version: 1)" in found[2]


def test_a_version_registered_twice_with_other_content_is_refused() -> None:
    found = _problems(
        models=["model-v2.yml", {"name": "fixture-model", "version": "2", "path": "../assets/model"}],
    )
    assert len(found) == 1
    assert "version: model fixture-model:2 is already registered with different content" in found[0]
    assert "model-v2.yml:1" in found[0] and "give this one a new version" in found[0]
    # The same definition twice (one file listed twice) is the same asset: fine.
    assert _stack(models=["model-v2.yml", "model-v2.yml"]).documents


def test_asset_documents_are_checked_like_any_spec(tmp_path: Path) -> None:
    found = _problems(
        models=[{"name": "fixture-model", "path": "../assets/nowhere"}],
        data=[{"name": "d", "path": "../assets/model", "type": "mltable"}],
    )
    assert any("models[0].path: no such file or folder" in problem for problem in found), found
    assert any("mltable data assets are not supported locally" in problem for problem in found), found


def test_references_to_shared_registries_stay_refused_off_azure() -> None:
    found = _problems(
        models=["model-v1.yml"],
        endpoints=["endpoint.yml"],
        deployments=[
            {
                "file": "deployment.yml",
                "environment": "azureml://registries/azureml/environments/sklearn-1.5/labels/latest",
            }
        ],
    )
    assert len(found) == 1 and "is a registered Azure ML environment, which only the azure target" in found[0]


def test_the_registry_lists_entries_in_order() -> None:
    registry = Registry()
    assert registry.names("model") == [] and registry.entries() == []


def test_a_registered_models_type_decides_whether_a_deployment_needs_code() -> None:
    no_code = {"name": "nocode", "endpoint_name": "fixture-online", "model": "azureml:m@latest"}
    no_code |= {"instance_type": "Standard_DS2_v2", "instance_count": 1}
    mlflow = {"name": "m", "version": 1, "type": "mlflow_model", "path": "../assets/mlflow-model"}
    stack = _stack(models=[mlflow], endpoints=["endpoint.yml"], deployments=[no_code])
    resolved = stack.online_endpoint("fixture-online").deployment("nocode")
    assert (
        resolved.model is not None and resolved.model.type == "mlflow_model" and resolved.environment is None
    )
    custom = {**mlflow, "type": "custom_model", "path": "../assets/model"}
    found = _problems(models=[custom], endpoints=["endpoint.yml"], deployments=[no_code])
    assert len(found) == 1 and "environment: required: the model is a custom_model model" in found[0], found
