"""Conformance: azureml-examples YAML files load unchanged (our scripts for missing code) into specs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.azureml_yaml import (
    Document,
    load_yaml_document,
    require_local_assets,
    schema_name,
    yaml_files,
)
from components.errors import SpecError
from components.specs import (
    AmlComputeSpec,
    ModelBatchDeploymentSpec,
    OnlineDeploymentSpec,
    OnlineEndpointSpec,
)
from tests.conformance_scripts import ABSENT, ENDPOINTS, EXAMPLES, STAND_INS, code_override

pytestmark = pytest.mark.conformance

CLI = EXAMPLES / "cli"
SAMPLE = ENDPOINTS / "online" / "managed" / "sample"
ONLINE = "endpoints/online/managed/sample/"
HEART = "endpoints/batch/deploy-models/heart-classifier-mlflow/"
PIPELINE = "endpoints/batch/deploy-pipelines/batch-scoring-with-preprocessing/"
KINDS = {
    ONLINE + "endpoint.yml": "managedOnlineEndpoint",
    **{
        f"{ONLINE}{colour}-deployment{variant}.yml": "managedOnlineDeployment"
        for colour in ("blue", "green")
        for variant in ("", "-with-curated-env", "-with-registered-assets")
    },
    HEART + "endpoint.yml": "batchEndpoint",
    HEART + "deployment-custom/deployment.yml": "modelBatchDeployment",
    PIPELINE + "endpoint.yml": "batchEndpoint",
    PIPELINE + "deployment.yml": "pipelineComponentBatchDeployment",
    "resources/compute/cluster-basic.yml": "amlCompute",
    "resources/compute/cluster-low-priority.yml": "amlCompute",
    # Assets to register (`az ml data|environment create -f`).
    HEART + "heart-dataset-unlabeled.yml": "data",
    PIPELINE + "environment/xgboost-sklearn-py38.yml": "environment",
}
# Azure's batch driver for the heart classifier (reads each CSV, predicts) is stood in for by ours.
HEART_CODE = ENDPOINTS / "batch/deploy-models/heart-classifier-mlflow/deployment-custom/code"


def _load(path: Path) -> Document:
    return load_yaml_document(path, overrides=code_override(path))


@pytest.fixture(scope="module")
def documents() -> dict[str, Document]:
    if not EXAMPLES.is_dir():
        pytest.skip(ABSENT)
    return {path.relative_to(CLI).as_posix(): _load(path) for path in yaml_files([EXAMPLES])}


def sample(documents: dict[str, Document], name: str) -> Any:
    return documents[ONLINE + name].spec


def raw(name: str, folder: Path = SAMPLE) -> dict[str, Any]:
    data = yaml.safe_load((folder / name).read_text())
    assert isinstance(data, dict)
    return data


def resolved(relative: str, folder: Path = SAMPLE) -> Path:
    return Path(os.path.normpath(folder / relative))


def test_every_spec_yaml_loads(documents: dict[str, Document]) -> None:
    assert {name: document.kind for name, document in documents.items()} == KINDS
    # Other Azure ML documents in the tree (command and pipeline components, a pipeline job) and
    # schema-less YAML (conda files, job inputs) are not specs: the walk leaves them out.
    skipped: set[str | None] = set()
    for path in sorted(p for p in CLI.rglob("*") if p.suffix in (".yml", ".yaml")):
        if path.relative_to(CLI).as_posix() not in documents:
            data = yaml.safe_load(path.read_text())
            skipped.add(schema_name(data["$schema"]) if "$schema" in data else None)
    assert skipped == {None, "commandcomponent", "pipelinecomponent", "pipelinejob"}


def test_endpoint_matches_its_file(documents: dict[str, Document]) -> None:
    spec, data = sample(documents, "endpoint.yml"), raw("endpoint.yml")
    assert isinstance(spec, OnlineEndpointSpec) and spec.kind == "managed"
    assert (spec.name, spec.auth_mode) == (data["name"], data["auth_mode"])


@pytest.mark.parametrize(
    "name",
    [
        "blue-deployment.yml",
        "green-deployment.yml",
        "blue-deployment-with-curated-env.yml",
        "green-deployment-with-curated-env.yml",
        "blue-deployment-with-registered-assets.yml",
        "green-deployment-with-registered-assets.yml",
    ],
)
def test_deployment_matches_its_file(documents: dict[str, Document], name: str) -> None:
    spec, data = sample(documents, name), raw(name)
    assert isinstance(spec, OnlineDeploymentSpec) and spec.kind == "managed"
    assert (spec.name, spec.endpoint_name) == (data["name"], data["endpoint_name"])
    assert (spec.instance_type, spec.instance_count) == (data["instance_type"], data["instance_count"])
    code = spec.code_configuration
    assert code is not None and code.scoring_script == data["code_configuration"]["scoring_script"]
    # The folder the file names, or (its script absent from ../shared, which is data only) ours.
    named = resolved(data["code_configuration"]["code"])
    real = (named / code.scoring_script).is_file()
    assert code.code == (named if real else STAND_INS / named.relative_to(ENDPOINTS))
    assert (code.code / code.scoring_script).is_file()
    assert spec.model is not None
    if isinstance(data["model"], str):
        assert spec.model.reference == data["model"] and spec.model.path is None
    else:
        assert spec.model.path == resolved(data["model"]["path"]) and spec.model.path.is_dir()
    if isinstance(data["environment"], str):
        assert spec.environment.reference == data["environment"]
    else:
        assert spec.environment.image == data["environment"]["image"]
        conda = spec.environment.conda_file
        assert (
            isinstance(conda, Path)
            and conda == resolved(data["environment"]["conda_file"])
            and conda.is_file()
        )


def test_batch_deployment_matches_its_file(documents: dict[str, Document]) -> None:
    folder = ENDPOINTS / HEART.removeprefix("endpoints/") / "deployment-custom"
    spec, data = documents[HEART + "deployment-custom/deployment.yml"].spec, raw("deployment.yml", folder)
    assert isinstance(spec, ModelBatchDeploymentSpec)
    assert (spec.name, spec.endpoint_name) == (data["name"], data["endpoint_name"])
    assert spec.compute_name == data["compute"].removeprefix("azureml:") == "batch-cluster"
    assert spec.model.reference == data["model"] and spec.resources.instance_count == 2
    settings, given = spec.settings, data["settings"]
    assert (settings.max_concurrency_per_instance, settings.mini_batch_size) == (2, 2)
    assert (settings.output_action, settings.output_file_name) == ("append_row", given["output_file_name"])
    assert (settings.retry_settings.max_retries, settings.retry_settings.timeout) == (3, 300)
    assert (settings.error_threshold, settings.logging_level) == (-1, "info")
    code = spec.code_configuration
    ours = STAND_INS / HEART_CODE.relative_to(ENDPOINTS)
    assert code is not None and (code.code, code.scoring_script) == (ours, "batch_driver.py")
    assert spec.environment is not None
    assert spec.environment.conda_file == resolved(data["environment"]["conda_file"], folder)
    assert spec.environment.conda_file.is_file()


def test_compute_clusters_match_their_files(documents: dict[str, Document]) -> None:
    for name in ("cluster-basic.yml", "cluster-low-priority.yml"):
        spec, data = documents[f"resources/compute/{name}"].spec, raw(name, CLI / "resources" / "compute")
        assert isinstance(spec, AmlComputeSpec)
        assert (spec.name, spec.tier) == (data["name"], data.get("tier", "dedicated"))
        assert spec.size == "Standard_DS3_v2" and data["size"] == "STANDARD_DS3_v2"  # the catalog's spelling
        assert (spec.min_instances, spec.max_instances) == (data["min_instances"], data["max_instances"])
        assert spec.idle_time_before_scale_down == data["idle_time_before_scale_down"]


def test_registered_assets_are_refused_locally_with_a_way_out(documents: dict[str, Document]) -> None:
    for name in ("blue-deployment-with-registered-assets.yml", "blue-deployment-with-curated-env.yml"):
        with pytest.raises(SpecError) as caught:
            require_local_assets(sample(documents, name), "local")
        text = str(caught.value)
        assert "only the azure target can use" in text
        assert "`environment: {image: " in text
    with pytest.raises(SpecError, match=r"`model: \{path: ./model\}`"):
        require_local_assets(sample(documents, "green-deployment-with-registered-assets.yml"), "kubernetes")
    require_local_assets(list(documents.values()), "azure")
    local = [sample(documents, "blue-deployment.yml"), sample(documents, "green-deployment.yml")]
    require_local_assets(local, "local")
