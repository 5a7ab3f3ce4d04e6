"""Conformance: the azureml-examples YAML files load unchanged into specs that match them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.azureml_yaml import load_yaml_files, require_local_assets, yaml_files
from components.errors import SpecError
from components.specs import OnlineDeploymentSpec, OnlineEndpointSpec

pytestmark = pytest.mark.conformance

EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "azureml-examples"
SAMPLE = EXAMPLES / "cli" / "endpoints" / "online" / "managed" / "sample"


@pytest.fixture(scope="module")
def documents() -> dict[str, Any]:
    if not EXAMPLES.is_dir():
        pytest.skip(f"conformance inputs not found at {EXAMPLES} (they live in ../shared beside the repo)")
    return {Path(d.source.file or "").name: d.spec for d in load_yaml_files([EXAMPLES])}


def raw(name: str) -> dict[str, Any]:
    data = yaml.safe_load((SAMPLE / name).read_text())
    assert isinstance(data, dict)
    return data


def resolved(relative: str) -> Path:
    return Path(os.path.normpath(SAMPLE / relative))


def test_every_spec_yaml_loads(documents: dict[str, Any]) -> None:
    expected = {p.name for p in SAMPLE.glob("*.yml")}
    assert set(documents) == expected and len(expected) == 7
    # conda files and sample requests sit beside them but are not specs
    assert all(p.suffix == ".yml" and p.parent == SAMPLE for p in yaml_files([EXAMPLES]))


def test_endpoint_matches_its_file(documents: dict[str, Any]) -> None:
    spec, data = documents["endpoint.yml"], raw("endpoint.yml")
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
def test_deployment_matches_its_file(documents: dict[str, Any], name: str) -> None:
    spec, data = documents[name], raw(name)
    assert isinstance(spec, OnlineDeploymentSpec) and spec.kind == "managed"
    assert (spec.name, spec.endpoint_name) == (data["name"], data["endpoint_name"])
    assert (spec.instance_type, spec.instance_count) == (data["instance_type"], data["instance_count"])
    code = spec.code_configuration
    assert code is not None and code.scoring_script == data["code_configuration"]["scoring_script"]
    assert code.code == resolved(data["code_configuration"]["code"]) and code.code.is_dir()
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


def test_registered_assets_are_refused_locally_with_a_way_out(documents: dict[str, Any]) -> None:
    for name in ("blue-deployment-with-registered-assets.yml", "blue-deployment-with-curated-env.yml"):
        with pytest.raises(SpecError) as caught:
            require_local_assets(documents[name], "local")
        text = str(caught.value)
        assert "only the azure target can use" in text
        assert "`environment: {image: " in text
    with pytest.raises(SpecError, match=r"`model: \{path: ./model\}`"):
        require_local_assets(documents["green-deployment-with-registered-assets.yml"], "kubernetes")
    require_local_assets(list(documents.values()), "azure")
    require_local_assets([documents["blue-deployment.yml"], documents["green-deployment.yml"]], "local")
