"""Spec models: Azure defaults, name and traffic rules, unknown keys, SKUs, error rendering."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from components import skus
from components.errors import Problem, SpecError, SpecWarning
from components.specs import (
    AmlComputeSpec,
    BatchEndpointSpec,
    EnvironmentSpec,
    ModelBatchDeploymentSpec,
    ModelSpec,
    OnlineDeploymentSpec,
    OnlineEndpointSpec,
    PipelineComponentBatchDeploymentSpec,
    Spec,
    parse_spec,
)
from policies.rules import valid_names

ASSETS = Path(__file__).parent / "fixtures" / "assets"


def deployment(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "blue",
        "endpoint_name": "my-endpoint",
        "model": {"path": "model"},
        "code_configuration": {"code": "onlinescoring", "scoring_script": "score.py"},
        "environment": {"image": "mlendpoints/base:bookworm-py311", "conda_file": "environment/conda.yaml"},
        "instance_type": "Standard_DS3_v2",
        "instance_count": 1,
    }
    return {**base, **changes}


def problems_of(model: type[Spec], data: Any, **kwargs: Any) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_spec(model, data, **kwargs)
    return [str(problem) for problem in caught.value.problems]


# ---------------------------------------------------------------- defaults


def test_online_deployment_takes_azure_defaults() -> None:
    spec = parse_spec(OnlineDeploymentSpec, deployment(), base_dir=ASSETS, check_paths=True)
    assert spec.kind == "managed"
    assert spec.request_settings.request_timeout_ms == 5000
    assert spec.request_settings.max_concurrent_requests_per_instance == 1
    assert spec.request_settings.max_queue_wait_ms == 500
    for probe in (spec.liveness_probe, spec.readiness_probe):
        assert (probe.initial_delay, probe.period, probe.timeout) == (10, 10, 2)
        assert (probe.success_threshold, probe.failure_threshold) == (1, 30)
    assert spec.scale_settings.type == "default"
    assert spec.app_insights_enabled is False
    assert spec.egress_public_network_access == "enabled"
    assert spec.environment_variables == {}
    assert spec.model is not None and spec.model.path == ASSETS / "model"
    assert spec.code_configuration is not None and spec.code_configuration.code == ASSETS / "onlinescoring"
    assert spec.environment.conda_file == ASSETS / "environment" / "conda.yaml"


def test_endpoint_defaults() -> None:
    spec = parse_spec(OnlineEndpointSpec, {"name": "my-endpoint"})
    assert (spec.kind, spec.auth_mode, spec.public_network_access) == ("managed", "key", "enabled")
    assert spec.traffic == {} and spec.mirror_traffic == {}
    batch = parse_spec(BatchEndpointSpec, {"name": "my-batch"})
    assert batch.auth_mode == "aad_token" and batch.defaults.deployment_name is None


def test_batch_and_compute_defaults() -> None:
    spec = parse_spec(
        ModelBatchDeploymentSpec,
        {"name": "scorer", "endpoint_name": "my-batch", "model": "azureml:m:1", "compute": "azureml:cpu"},
    )
    settings = spec.settings
    assert (settings.mini_batch_size, settings.max_concurrency_per_instance) == (10, 1)
    assert (settings.output_action, settings.output_file_name) == ("append_row", "predictions.csv")
    assert (settings.retry_settings.max_retries, settings.retry_settings.timeout) == (3, 30)
    assert (settings.error_threshold, settings.logging_level) == (-1, "info")
    assert spec.resources.instance_count == 1
    assert spec.compute_name == "cpu"
    compute = parse_spec(AmlComputeSpec, {"name": "cpu"})
    assert (compute.size, compute.tier, compute.min_instances, compute.max_instances) == (
        "Standard_DS3_v2",
        "dedicated",
        0,
        1,
    )
    assert compute.idle_time_before_scale_down == 120


def test_every_field_has_a_description() -> None:
    models: list[type[BaseModel]] = [OnlineEndpointSpec, OnlineDeploymentSpec, BatchEndpointSpec]
    models += [ModelBatchDeploymentSpec, PipelineComponentBatchDeploymentSpec, AmlComputeSpec]
    seen: set[type[BaseModel]] = set()
    while models:
        model = models.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{name} has no description"
            models += [
                sub
                for sub in getattr(info.annotation, "__args__", (info.annotation,))
                if isinstance(sub, type) and issubclass(sub, BaseModel)
            ]
    assert len(seen) > 10


# ---------------------------------------------------------------- names


@pytest.mark.parametrize("name", ["abc", "my-endpoint", "A1-b2", "a" * 32])
def test_good_names(name: str) -> None:
    assert parse_spec(OnlineEndpointSpec, {"name": name}).name == name


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("ab", "3-32 characters"),
        ("a" * 33, "3-32 characters"),
        ("1abc", "start with a letter"),
        ("my_endpoint", "letters, digits and hyphens"),
        ("my endpoint", "letters, digits and hyphens"),
        ("", "start with a letter"),
    ],
)
def test_bad_names(name: str, words: str) -> None:
    (problem,) = problems_of(OnlineEndpointSpec, {"name": name})
    assert problem.startswith("name: ") and words in problem


def test_deployment_names_follow_the_same_rules() -> None:
    found = problems_of(OnlineDeploymentSpec, deployment(name="b", endpoint_name="9lives"))
    assert any(p.startswith("name: must be 3-32") for p in found)
    assert any(p.startswith("endpoint_name: must start with a letter") for p in found)


# ---------------------------------------------------------------- traffic


@pytest.mark.parametrize("traffic", [{}, {"blue": 100}, {"blue": 90, "green": 10}, {"blue": 0, "green": 0}])
def test_traffic_that_adds_up(traffic: dict[str, int]) -> None:
    assert parse_spec(OnlineEndpointSpec, {"name": "ep1", "traffic": traffic}).traffic == traffic


def test_traffic_must_add_up_to_100() -> None:
    (problem,) = problems_of(OnlineEndpointSpec, {"name": "ep1", "traffic": {"blue": 90, "green": 20}})
    assert problem == "traffic: weights must add up to 100, or all be 0 (got blue=90, green=20: 110)"


def test_traffic_weights_are_percentages() -> None:
    found = problems_of(OnlineEndpointSpec, {"name": "ep1", "traffic": {"blue": 120, "green": -20}})
    assert found == ["traffic.blue: must be <= 100 (got 120)", "traffic.green: must be >= 0 (got -20)"]


def test_mirror_at_most_50_and_one_deployment() -> None:
    found = problems_of(OnlineEndpointSpec, {"name": "ep1", "mirror_traffic": {"green": 60}})
    assert found == ["mirror_traffic.green: must be <= 50 (got 60)"]
    found = problems_of(OnlineEndpointSpec, {"name": "ep1", "mirror_traffic": {"green": 10, "teal": 10}})
    assert found == ["mirror_traffic: mirror to one deployment only (got green, teal)"]


def test_mirror_never_to_the_deployment_taking_all_traffic() -> None:
    data = {"name": "ep1", "traffic": {"blue": 100}, "mirror_traffic": {"blue": 10}}
    (problem,) = problems_of(OnlineEndpointSpec, data)
    assert problem.startswith("mirror_traffic.blue: 'blue' already takes 100% of live traffic")
    data["mirror_traffic"] = {"green": 50}
    assert parse_spec(OnlineEndpointSpec, data).mirror_traffic == {"green": 50}


def test_compute_only_on_kubernetes_endpoints() -> None:
    (problem,) = problems_of(OnlineEndpointSpec, {"name": "ep1", "compute": "k8s"})
    assert problem.startswith("compute: only kubernetes endpoints")
    spec = parse_spec(OnlineEndpointSpec, {"name": "ep1", "kind": "Kubernetes", "compute": "k8s"})
    assert spec.kind == "kubernetes"


# ---------------------------------------------------------------- unknown and ignored keys


def test_unknown_key_suggests_the_closest_and_lists_allowed() -> None:
    (problem,) = problems_of(OnlineDeploymentSpec, deployment(instnce_count=2))
    assert problem.startswith("instnce_count: unknown key 'instnce_count' (did you mean 'instance_count'?)")
    assert "allowed keys: app_insights_enabled, code_configuration," in problem


def test_unknown_nested_key() -> None:
    (problem,) = problems_of(OnlineDeploymentSpec, deployment(request_settings={"request_timout_ms": 1}))
    assert problem.startswith(
        "request_settings.request_timout_ms: unknown key 'request_timout_ms' (did you mean"
    )
    assert problem.endswith(
        "allowed keys: max_concurrent_requests_per_instance, max_queue_wait_ms, request_timeout_ms"
    )


def test_key_at_the_wrong_level_points_to_where_it_belongs() -> None:
    data = {"name": "scorer", "endpoint_name": "ep1", "type": "model", "model": "azureml:m:1"}
    (problem,) = problems_of(ModelBatchDeploymentSpec, {**data, "compute": "cpu", "mini_batch_size": 3})
    assert "(did you mean 'settings.mini_batch_size'?)" in problem


def test_keys_must_be_text() -> None:
    found = problems_of(OnlineEndpointSpec, {"name": "ep1", 7: "x"})
    assert found[0].startswith("unknown key 7; allowed keys:")


def test_ignored_keys_warn_and_are_dropped() -> None:
    data = {"name": "ep1", "provisioning_state": "Succeeded", "scoring_uri": "https://x/score"}
    with pytest.warns(SpecWarning, match="read-only, reported by Azure ML") as caught:
        spec = parse_spec(OnlineEndpointSpec, data)
    assert spec.name == "ep1" and len(caught) == 2
    with pytest.warns(SpecWarning, match="environment.inference_config: custom inference routes are ignored"):
        parse_spec(OnlineDeploymentSpec, deployment(environment={"image": "x", "inference_config": {}}))


def test_schema_key_is_accepted_everywhere() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spec = parse_spec(OnlineEndpointSpec, {"$schema": "whatever", "name": "ep1"})
    assert spec == OnlineEndpointSpec(name="ep1")


# ---------------------------------------------------------------- values


def test_counts_reject_booleans_and_negatives() -> None:
    found = problems_of(OnlineDeploymentSpec, deployment(instance_count=True))
    assert found == ["instance_count: must be a whole number (got true)"]
    assert problems_of(OnlineDeploymentSpec, deployment(instance_count=-2)) == [
        "instance_count: must be >= 1 (got -2)"
    ]
    assert problems_of(OnlineDeploymentSpec, deployment(instance_count="many")) == [
        "instance_count: must be a whole number (got 'many')"
    ]


def test_environment_variables_and_tags_become_text() -> None:
    spec = parse_spec(
        OnlineDeploymentSpec, deployment(environment_variables={"N": 4, "ON": True}, tags={"v": 1.5})
    )
    assert spec.environment_variables == {"N": "4", "ON": "true"} and spec.tags == {"v": "1.5"}


def test_enums_accept_any_case() -> None:
    spec = parse_spec(OnlineEndpointSpec, {"name": "ep1", "auth_mode": "AML_Token"})
    assert spec.auth_mode == "aml_token"
    (problem,) = problems_of(OnlineEndpointSpec, {"name": "ep1", "auth_mode": "password"})
    assert problem == "auth_mode: must be one of 'key', 'aml_token' or 'aad_token' (got 'password')"


def test_wrong_types_are_named() -> None:
    found = problems_of(OnlineDeploymentSpec, deployment(request_settings=[1], tags="x", description=5))
    assert "request_settings: must be a mapping of keys to values (got a list)" in found
    assert "tags: must be a mapping of keys to values (got 'x')" in found
    assert "description: must be text (got 5)" in found


def test_required_keys() -> None:
    found = problems_of(OnlineDeploymentSpec, {"name": "blue"})
    assert "endpoint_name: required" in found
    assert (
        "environment: required unless the model is an MLflow model deployed without code_configuration "
        "(`model: {path: ./model, type: mlflow_model}`)" in found
    )
    assert "instance_type: required for managed deployments (a VM size such as Standard_DS3_v2)" in found
    assert "instance_count: required for managed deployments (1 or more)" in found


# ---------------------------------------------------------------- SKUs


def test_sku_names_are_checked_and_made_canonical() -> None:
    assert parse_spec(OnlineDeploymentSpec, deployment(instance_type="STANDARD_ds3_V2")).instance_type == (
        "Standard_DS3_v2"
    )
    (problem,) = problems_of(OnlineDeploymentSpec, deployment(instance_type="Standard_DS3_v3"))
    assert problem.startswith(
        "instance_type: unknown VM size 'Standard_DS3_v3'; nearest known: Standard_DS3_v2"
    )
    (problem,) = problems_of(AmlComputeSpec, {"name": "cpu", "size": "Standard_F4_v2"})
    assert "nearest known: Standard_F4s_v2" in problem


def test_sku_table() -> None:
    ds3 = skus.find_sku("standard_ds3_v2")
    assert ds3 is not None and (ds3.cores, ds3.memory_gb, ds3.family) == (4, 14, "standardDSv2Family")
    a100 = skus.SKUS["Standard_NC24ads_A100_v4"]
    assert a100.reserve_exempt and a100.gpus == 1
    assert not skus.SKUS["Standard_NC6s_v3"].reserve_exempt
    assert skus.find_sku("Standard_Nope") is None
    assert skus.nearest_skus("Standard_E4s_v4", 1) == ["Standard_E4s_v3"]
    for name in (
        "Standard_DS1_v2",
        "Standard_DS5_v2",
        "Standard_F2s_v2",
        "Standard_F72s_v2",
        "Standard_E64s_v3",
    ):
        assert name in skus.SKUS


def test_kubernetes_deployments_take_any_instance_type_and_resources() -> None:
    data = deployment(
        kind="kubernetes",
        instance_type="gpu-large",
        instance_count=None,
        resources={"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"nvidia.com/gpu": 1}},
        scale_settings={"type": "target_utilization", "min_instances": 2, "max_instances": 4},
    )
    spec = parse_spec(OnlineDeploymentSpec, data)
    assert spec.instance_type == "gpu-large" and spec.effective_instance_count == 2
    assert (
        spec.resources is not None and spec.resources.limits is not None and spec.resources.limits.gpu == "1"
    )


def test_managed_deployments_refuse_kubernetes_settings() -> None:
    found = problems_of(
        OnlineDeploymentSpec,
        deployment(resources={"requests": {"cpu": 1}}, scale_settings={"type": "target_utilization"}),
    )
    assert "scale_settings.type: managed deployments only support `default` (set instance_count)" in found
    assert any(p.startswith("resources: only kubernetes deployments") for p in found)


def test_scale_and_probe_rules() -> None:
    found = problems_of(
        OnlineDeploymentSpec,
        deployment(
            kind="kubernetes",
            scale_settings={"type": "target_utilization", "min_instances": 3, "max_instances": 2},
            liveness_probe={"success_threshold": 2},
            readiness_probe={"timeout": 0},
        ),
    )
    assert "scale_settings.max_instances: must be >= min_instances (3) (got 2)" in found
    assert "liveness_probe.success_threshold: must be 1 for liveness probes (got 2)" in found
    assert "readiness_probe.timeout: must be >= 1 (got 0)" in found


# ---------------------------------------------------------------- assets


@pytest.mark.parametrize(
    "reference",
    ["azureml:my-model:1", "azureml:my-model@latest", "azureml://registries/r/models/m/versions/2"],
)
def test_model_references(reference: str) -> None:
    spec = parse_spec(ModelSpec, reference)  # type: ignore[arg-type]
    assert spec.reference == reference and not spec.is_local


def test_model_cloud_path_is_a_reference() -> None:
    spec = parse_spec(ModelSpec, {"path": "azureml://datastores/blob/paths/m/"})
    assert spec.reference == "azureml://datastores/blob/paths/m/" and spec.path is None


def test_model_text_that_is_not_a_reference_says_how_to_go_local() -> None:
    (problem,) = problems_of(OnlineDeploymentSpec, deployment(model="./model"))
    assert problem.startswith("model.reference: './model' is not a registered model reference")
    assert problem.endswith("for a local folder write `model: {path: ./model}`")
    (problem,) = problems_of(ModelSpec, {"name": "m"})
    assert "give either `path`" in problem


def test_environment_rules() -> None:
    assert parse_spec(EnvironmentSpec, "azureml:my-env:1").reference == "azureml:my-env:1"  # type: ignore[arg-type]
    found = problems_of(EnvironmentSpec, {"image": "x", "build": {"path": "."}})
    assert found == ["give either `image` or `build`, not both"]
    found = problems_of(EnvironmentSpec, {"conda_file": {"dependencies": []}})
    assert found == ["give `image` (optionally with `conda_file`) or `build` (a Docker build context)"]
    found = problems_of(EnvironmentSpec, {"image": "x", "os_type": "windows"})
    assert found == ["os_type: must be 'linux' (got 'windows')"]
    inline = parse_spec(EnvironmentSpec, {"image": "x", "conda_file": {"dependencies": ["python=3.11"]}})
    assert inline.conda_file == {"dependencies": ["python=3.11"]}


def test_paths_resolve_and_must_exist_when_checked(tmp_path: Path) -> None:
    data = deployment(model={"path": "../nope"})
    found = problems_of(OnlineDeploymentSpec, data, base_dir=ASSETS, check_paths=True)
    assert found == [
        f"model.path: no such file or folder: {ASSETS.parent / 'nope'} ('../nope' resolved against {ASSETS})"
    ]
    spec = parse_spec(OnlineDeploymentSpec, data, base_dir=tmp_path)
    assert spec.model is not None and spec.model.path == tmp_path.parent / "nope"
    found = problems_of(
        OnlineDeploymentSpec,
        deployment(code_configuration={"code": "environment/conda.yaml", "scoring_script": "x.py"}),
        base_dir=ASSETS,
        check_paths=True,
    )
    assert found[0].startswith("code_configuration.code: expected a folder, found a file:")


def test_identity() -> None:
    identity = {"type": "user_assigned", "user_assigned_identities": [{"resource_id": "/subscriptions/x/id"}]}
    spec = parse_spec(OnlineEndpointSpec, {"name": "ep1", "identity": identity})
    assert spec.identity is not None and spec.identity.user_assigned_identities == ["/subscriptions/x/id"]
    (problem,) = problems_of(OnlineEndpointSpec, {"name": "ep1", "identity": {"type": "user_assigned"}})
    assert problem == "identity.user_assigned_identities: required when type is user_assigned"


# ---------------------------------------------------------------- batch and compute


def test_legacy_batch_settings_move_under_settings() -> None:
    data = {"name": "scorer", "endpoint_name": "ep1", "model": "azureml:m:1", "compute": "cpu"}
    spec = parse_spec(
        ModelBatchDeploymentSpec, {**data, "mini_batch_size": 3, "retry_settings": {"timeout": 9}}
    )
    assert spec.settings.mini_batch_size == 3 and spec.settings.retry_settings.timeout == 9


def test_local_custom_model_needs_code_and_environment() -> None:
    data = {"name": "scorer", "endpoint_name": "ep1", "model": {"path": "m"}, "compute": "cpu"}
    found = problems_of(ModelBatchDeploymentSpec, data)
    assert found == [
        "code_configuration: required unless the model is an MLflow model (`model: {type: mlflow_model}`)",
        "environment: required unless the model is an MLflow model (`model: {type: mlflow_model}`)",
    ]
    mlflow = {**data, "model": {"path": "m", "type": "mlflow_model"}}
    assert parse_spec(ModelBatchDeploymentSpec, mlflow).code_configuration is None


def test_batch_settings_bounds() -> None:
    data = {"name": "scorer", "endpoint_name": "ep1", "model": "azureml:m:1", "compute": "cpu"}
    settings = {"mini_batch_size": 0, "error_threshold": -2, "output_action": "append", "retry_settings": {}}
    found = problems_of(ModelBatchDeploymentSpec, {**data, "settings": settings})
    assert found == [
        "settings.mini_batch_size: must be >= 1 (got 0)",
        "settings.output_action: must be one of 'append_row' or 'summary_only' (got 'append')",
        "settings.error_threshold: must be >= -1 (got -2)",
    ]


def test_pipeline_component_forms() -> None:
    data = {"name": "pipe", "endpoint_name": "ep1"}
    spec = parse_spec(PipelineComponentBatchDeploymentSpec, {**data, "component": "azureml:hello@latest"})
    assert spec.component == "azureml:hello@latest"
    spec = parse_spec(
        PipelineComponentBatchDeploymentSpec,
        {**data, "component": "pipeline/component.yaml"},
        base_dir=ASSETS,
        check_paths=True,
    )
    assert spec.component == ASSETS / "pipeline" / "component.yaml"
    assert parse_spec(
        PipelineComponentBatchDeploymentSpec, {**data, "component": {"jobs": {}}}
    ).component == {"jobs": {}}


def test_compute_rules() -> None:
    found = problems_of(AmlComputeSpec, {"name": "c", "min_instances": 3, "max_instances": 2, "tier": "spot"})
    assert found == [
        "name: must be 2-16 characters long (got 'c', 1 long)",
        "tier: must be one of 'dedicated' or 'low_priority' (got 'spot')",
        "max_instances: must be >= min_instances (3) (got 2)",
    ]
    with pytest.warns(SpecWarning, match="ssh_settings: SSH access"):
        parse_spec(AmlComputeSpec, {"name": "cpu", "ssh_settings": {"admin_password": "x"}})
    # The length the policy pack's valid-names rule enforces: a spec never passes one, fails the other.
    assert parse_spec(AmlComputeSpec, {"name": "c" * 16}).name == "c" * 16
    assert problems_of(AmlComputeSpec, {"name": "c" * 17}) == [
        f"name: must be 2-16 characters long (got '{'c' * 17}', 17 long)"
    ]
    assert valid_names({"kind": "compute_cluster", "name": "c" * 16}) == []
    assert valid_names({"kind": "compute_cluster", "name": "c" * 17}) != []


# ---------------------------------------------------------------- errors


def test_problem_rendering() -> None:
    problem = Problem("must be >= 1 (got -2)", "instance_count", "endpoints/blue.yml", 7)
    assert str(problem) == "endpoints/blue.yml:7: instance_count: must be >= 1 (got -2)"
    assert str(Problem("oops", file="a.yml")) == "a.yml: oops"
    assert str(Problem("oops", "x")) == "x: oops"
    error = SpecError([problem, Problem("required", "name", "endpoints/blue.yml", 2)])
    assert (
        str(error)
        == "endpoints/blue.yml:7: instance_count: must be >= 1 (got -2)\nendpoints/blue.yml:2: name: required"
    )


def test_not_a_mapping() -> None:
    assert problems_of(OnlineEndpointSpec, ["a"]) == ["must be a mapping of keys to values (got a list)"]
