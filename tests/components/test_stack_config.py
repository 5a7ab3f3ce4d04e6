"""Stack config: YAML file names and inline structure give identical specs; grouping and cross-checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from components.azureml_yaml import BATCH_OFF_LOCAL
from components.errors import SpecError
from components.specs import ModelBatchDeploymentSpec, OnlineDeploymentSpec
from components.stack_config import StackSpec, build_stack, check_target, load_stack_config, read_config

FIXTURES = Path(__file__).parent / "fixtures"
GOOD = FIXTURES / "good"

FILES_CONFIG: dict[str, Any] = {
    "endpoints": ["endpoint.yml", "k8s-endpoint.yml", "batch-endpoint.yml"],
    "deployments": [
        "blue.yml",
        "green.yml",
        "teal.yml",
        "k8s-deployment.yml",
        "model-batch-deployment.yml",
        "legacy-batch-deployment.yml",
        "pipeline-batch-deployment.yml",
    ],
    "computes": ["compute.yml"],
}

# The same stack written inline (as `pulumi config set --path` would store it), paths relative to GOOD.
INLINE_ONLINE: dict[str, Any] = {
    "endpoints": [
        {
            "name": "fixture-online",
            "description": "Online endpoint of the test fixtures.",
            "tags": {"team": "serving", "tier": "1"},
            "auth_mode": "key",
            "traffic": {"blue": 80, "green": 20},
            "mirror_traffic": {"teal": 10},
        }
    ],
    "deployments": [
        {
            "name": "green",
            "endpoint_name": "fixture-online",
            "model": {"path": "../assets/model/model.txt"},
            "code_configuration": {"code": "../assets/onlinescoring", "scoring_script": "score.py"},
            "environment": {"image": "mlendpoints/base:bookworm-py311"},
            "instance_type": "Standard_F2s_v2",
            "instance_count": 1,
        },
        {
            "name": "teal",
            "endpoint_name": "fixture-online",
            "model": {"path": "../assets/model"},
            "code_configuration": {"code": "../assets/onlinescoring", "scoring_script": "score.py"},
            "environment": {"build": {"path": "../assets/docker"}},
            "instance_type": "Standard_DS1_v2",
            "instance_count": 1,
        },
    ],
}


def problems(error: pytest.ExceptionInfo[SpecError]) -> list[str]:
    return [str(problem) for problem in error.value.problems]


def test_files_give_grouped_specs() -> None:
    stack = load_stack_config(FILES_CONFIG, GOOD, target="azure")
    assert [group.endpoint.name for group in stack.online] == ["fixture-online", "fixture-k8s"]
    assert [d.name for d in stack.online_endpoint("fixture-online").deployments] == ["blue", "green", "teal"]
    assert [d.name for d in stack.online_endpoint("fixture-k8s").deployments] == ["canary"]
    batch = stack.batch_endpoint("fixture-batch")
    assert [d.name for d in batch.deployments] == ["scorer", "legacy", "pipeline-dpl"]
    assert isinstance(batch.deployment("scorer"), ModelBatchDeploymentSpec)
    assert stack.compute("batch-cluster").max_instances == 4
    assert len(stack.documents) == 11


def test_inline_and_files_give_identical_specs() -> None:
    from_files = load_stack_config(
        {"endpoints": ["endpoint.yml"], "deployments": ["blue.yml", "green.yml", "teal.yml"]}, GOOD
    )
    blue = yaml.safe_load((GOOD / "blue.yml").read_text())
    del blue["$schema"]
    inline = {**INLINE_ONLINE, "deployments": [blue, *INLINE_ONLINE["deployments"]]}
    from_inline = load_stack_config(inline, GOOD)
    assert from_inline == from_files
    assert from_inline.online[0].deployments[0] == from_files.online[0].deployments[0]
    assert from_inline.documents[0].source != from_files.documents[0].source  # where they came from differs


def test_every_good_fixture_inline_equals_its_file() -> None:
    documents, found = read_config({"files": ["."]}, GOOD)
    assert not found and len(documents) == 11
    for document in documents:
        assert document.source.file is not None
        data = yaml.safe_load(Path(document.source.file).read_text())
        (inline,), inline_problems = read_config({"files": [data]}, GOOD)
        assert not inline_problems and inline.spec == document.spec, document.source.file


def test_files_key_takes_folders() -> None:
    stack = load_stack_config({"files": ["."]}, GOOD)  # files in name order
    expected = load_stack_config(FILES_CONFIG, GOOD)
    assert stack.online == expected.online and stack.computes == expected.computes
    assert sorted(stack.batch[0].deployments, key=lambda d: d.name) == sorted(
        expected.batch[0].deployments, key=lambda d: d.name
    )


def test_file_entries_take_overrides() -> None:
    config = {
        "endpoints": ["endpoint.yml", {"name": "other-ep", "auth_mode": "key"}],
        "deployments": [
            "blue.yml",
            "green.yml",
            "teal.yml",
            {"file": "green.yml", "endpoint_name": "other-ep"},
        ],
    }
    stack = load_stack_config(config, GOOD)
    (green,) = stack.online_endpoint("other-ep").deployments
    assert green.name == "green" and green.endpoint_name == "other-ep"


def test_empty_config() -> None:
    assert load_stack_config(None, GOOD) == StackSpec()
    assert load_stack_config({"endpoints": None}, GOOD) == StackSpec()


def test_inline_problems_name_the_config_entry() -> None:
    deployment = {**INLINE_ONLINE["deployments"][0], "instance_count": -2, "instance_tyep": "x"}
    with pytest.raises(SpecError) as caught:
        load_stack_config({"deployments": [deployment]}, GOOD)
    found = problems(caught)
    assert "stack config: deployments[0].instance_count: must be >= 1 (got -2)" in found
    assert any(p.startswith("stack config: deployments[0].instance_tyep: unknown key") for p in found)


def test_config_shape_problems() -> None:
    with pytest.raises(SpecError) as caught:
        load_stack_config(
            {"endpoint": ["endpoint.yml"], "deployments": ["missing.yml", 5], "computes": "blue.yml"}, GOOD
        )
    found = problems(caught)
    assert found[0] == (
        "stack config: endpoint: unknown key (did you mean 'endpoints'?); "
        "allowed keys: endpoints, deployments, computes, models, environments, data, components, files"
    )
    assert found[1] == (
        f"stack config: deployments[0]: no such file: {GOOD / 'missing.yml'} (paths are relative to {GOOD})"
    )
    assert found[2] == "stack config: deployments[1]: must be a YAML file path or an inline spec (got 5)"
    assert found[3] == f"{GOOD / 'blue.yml'}:1: this is a managedOnlineDeployment; list it under deployments"
    with pytest.raises(SpecError, match="stack config: must be a mapping"):
        load_stack_config(["x"], GOOD)  # type: ignore[arg-type]


def test_traffic_must_name_existing_deployments() -> None:
    with pytest.raises(SpecError) as caught:
        load_stack_config({"endpoints": ["endpoint.yml"], "deployments": ["blue.yml"]}, GOOD)
    file = GOOD / "endpoint.yml"
    assert problems(caught) == [
        f"{file}:10: traffic.green: no deployment 'green' under endpoint 'fixture-online' "
        "(deployments: blue)",
        f"{file}:12: mirror_traffic.teal: no deployment 'teal' under endpoint 'fixture-online' "
        "(deployments: blue)",
    ]


def test_deployments_need_their_endpoint() -> None:
    with pytest.raises(SpecError) as caught:
        load_stack_config({"deployments": ["blue.yml", "model-batch-deployment.yml"]}, GOOD)
    assert problems(caught) == [
        f"{GOOD / 'blue.yml'}:3: endpoint_name: no online endpoint named 'fixture-online' in this stack "
        "(online endpoints: none)",
        f"{GOOD / 'model-batch-deployment.yml'}:3: endpoint_name: no batch endpoint named 'fixture-batch' "
        "in this stack (batch endpoints: none)",
    ]


def test_duplicate_names() -> None:
    config = {
        **FILES_CONFIG,
        "deployments": [*FILES_CONFIG["deployments"], "blue.yml"],
        "computes": ["compute.yml"] * 2,
    }
    with pytest.raises(SpecError) as caught:
        load_stack_config(config, GOOD)
    found = problems(caught)
    assert found == [  # by file, in the order the config lists them
        f"{GOOD / 'blue.yml'}:2: name: another deployment is named 'blue' (first in {GOOD / 'blue.yml'}:1)",
        f"{GOOD / 'compute.yml'}:2: name: another compute cluster is named 'batch-cluster' "
        f"(first in {GOOD / 'compute.yml'}:1)",
    ]


def test_batch_default_deployment_must_exist() -> None:
    with pytest.raises(SpecError) as caught:
        load_stack_config({"endpoints": ["batch-endpoint.yml"]}, GOOD)
    assert problems(caught) == [
        f"{GOOD / 'batch-endpoint.yml'}:5: defaults.deployment_name: no deployment 'scorer' under endpoint "
        "'fixture-batch' (deployments: none)"
    ]


def test_target_checks() -> None:
    registered = {
        "endpoints": [
            "../good/endpoint.yml",
            {"name": "fixture-batch", "defaults": {"deployment_name": "heart"}},
        ],
        "deployments": ["deployment.yml", "batch-deployment.yml", "../good/green.yml", "../good/teal.yml"],
    }
    stack = load_stack_config(registered, FIXTURES / "registered", target="azure")
    assert isinstance(stack.online_endpoint("fixture-online").deployment("blue"), OnlineDeploymentSpec)
    with pytest.raises(SpecError) as caught:
        load_stack_config(registered, FIXTURES / "registered", target="local")
    # Every problem at once: registered assets, the batch job's missing cluster, the build context.
    assert [p.split(": ")[1] for p in problems(caught)] == [
        "model",
        "environment",
        "model",
        "compute",
        "environment",
    ]
    legacy = {"endpoints": ["batch-endpoint.yml"], "deployments": ["model-batch-deployment.yml"]}
    with pytest.raises(SpecError) as caught:
        load_stack_config(legacy, GOOD, target="kubernetes")
    assert problems(caught) == [
        # Batch runs on the local target only for now (the stack program refuses it too).
        f"{GOOD / 'batch-endpoint.yml'}:1: {BATCH_OFF_LOCAL}",
        f"{GOOD / 'model-batch-deployment.yml'}:1: {BATCH_OFF_LOCAL}",
        f"{GOOD / 'model-batch-deployment.yml'}:15: compute: no compute cluster 'batch-cluster' in this "
        "stack; the kubernetes target runs batch jobs on the clusters listed under computes (clusters: none)",
    ]
    check_target(load_stack_config(legacy, GOOD), "azure")  # Azure may use a cluster of the workspace


def test_build_stack_from_documents() -> None:
    documents, _ = read_config(FILES_CONFIG, GOOD)
    assert build_stack(documents) == load_stack_config(FILES_CONFIG, GOOD)
    assert build_stack([]) == StackSpec()
