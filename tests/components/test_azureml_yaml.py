"""Azure ML YAML loading: kinds, paths, line numbers, registered assets, and a fuzz test."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.azureml_yaml import (
    Document,
    guess_kinds,
    kind_of,
    load_paths,
    load_yaml_file,
    load_yaml_files,
    load_yaml_text,
    require_local_assets,
    schema_name,
    yaml_files,
)
from components.errors import SpecError, SpecWarning
from components.specs import (
    AmlComputeSpec,
    BatchEndpointSpec,
    ModelBatchDeploymentSpec,
    OnlineDeploymentSpec,
    OnlineEndpointSpec,
    PipelineComponentBatchDeploymentSpec,
)

FIXTURES = Path(__file__).parent / "fixtures"
GOOD, BAD, ASSETS, REGISTERED = (FIXTURES / name for name in ("good", "bad", "assets", "registered"))


def problems(error: pytest.ExceptionInfo[SpecError]) -> list[str]:
    return [str(problem) for problem in error.value.problems]


# ---------------------------------------------------------------- every kind


def test_managed_online_endpoint() -> None:
    spec = load_yaml_file(GOOD / "endpoint.yml")
    assert isinstance(spec, OnlineEndpointSpec) and kind_of(spec) == "managedOnlineEndpoint"
    assert (spec.name, spec.auth_mode, spec.description) == (
        "fixture-online",
        "key",
        "Online endpoint of the test fixtures.",
    )
    assert spec.tags == {"team": "serving", "tier": "1"}
    assert spec.traffic == {"blue": 80, "green": 20} and spec.mirror_traffic == {"teal": 10}


def test_managed_online_deployment_with_every_setting() -> None:
    spec = load_yaml_file(GOOD / "blue.yml")
    assert isinstance(spec, OnlineDeploymentSpec) and kind_of(spec) == "managedOnlineDeployment"
    assert (spec.name, spec.endpoint_name, spec.instance_type, spec.instance_count) == (
        "blue",
        "fixture-online",
        "Standard_DS2_v2",
        2,
    )
    assert spec.model is not None and spec.model.path == ASSETS / "model"
    assert spec.code_configuration is not None
    assert spec.code_configuration.code == ASSETS / "onlinescoring"
    assert spec.code_configuration.scoring_script == "score.py"
    assert spec.environment.image == "mlendpoints/base:bookworm-py311"
    assert spec.environment.conda_file == ASSETS / "environment" / "conda.yaml"
    assert spec.environment_variables == {"WORKER_COUNT": "2", "LOG_JSON": "true"}
    assert spec.request_settings.model_dump() == {
        "request_timeout_ms": 3000,
        "max_concurrent_requests_per_instance": 2,
        "max_queue_wait_ms": 1000,
    }
    assert spec.liveness_probe.failure_threshold == 3 and spec.readiness_probe.success_threshold == 2


def test_model_file_and_build_context() -> None:
    green = load_yaml_file(GOOD / "green.yml")
    assert isinstance(green, OnlineDeploymentSpec) and green.model is not None
    assert green.model.path == ASSETS / "model" / "model.txt"
    teal = load_yaml_file(GOOD / "teal.yml")
    assert isinstance(teal, OnlineDeploymentSpec) and teal.environment.build is not None
    assert (
        teal.environment.build.path == ASSETS / "docker"
        and teal.environment.build.dockerfile_path == "Dockerfile"
    )


def test_kubernetes_endpoint_and_deployment() -> None:
    endpoint = load_yaml_file(GOOD / "k8s-endpoint.yml")
    assert isinstance(endpoint, OnlineEndpointSpec) and kind_of(endpoint) == "kubernetesOnlineEndpoint"
    assert (endpoint.compute, endpoint.auth_mode) == ("k8s-compute", "aml_token")
    spec = load_yaml_file(GOOD / "k8s-deployment.yml")
    assert isinstance(spec, OnlineDeploymentSpec) and kind_of(spec) == "kubernetesOnlineDeployment"
    assert spec.instance_type == "defaultinstancetype" and spec.instance_count is None
    assert spec.scale_settings.type == "target_utilization" and spec.effective_instance_count == 2
    assert (
        spec.resources is not None
        and spec.resources.requests is not None
        and spec.resources.limits is not None
    )
    assert (spec.resources.requests.cpu, spec.resources.limits.memory, spec.resources.limits.gpu) == (
        "500m",
        "2Gi",
        "1",
    )


def test_batch_endpoint() -> None:
    spec = load_yaml_file(GOOD / "batch-endpoint.yml")
    assert isinstance(spec, BatchEndpointSpec) and kind_of(spec) == "batchEndpoint"
    assert spec.defaults.deployment_name == "scorer"


def test_model_batch_deployment() -> None:
    spec = load_yaml_file(GOOD / "model-batch-deployment.yml")
    assert isinstance(spec, ModelBatchDeploymentSpec) and kind_of(spec) == "modelBatchDeployment"
    assert spec.model.name == "fixture-model" and spec.model.path == ASSETS / "model"
    assert spec.code_configuration is not None and spec.code_configuration.code == ASSETS / "batchscoring"
    assert (spec.compute, spec.compute_name, spec.resources.instance_count) == (
        "azureml:batch-cluster",
        "batch-cluster",
        2,
    )
    assert spec.settings.model_dump() == {
        "mini_batch_size": 5,
        "max_concurrency_per_instance": 2,
        "output_action": "append_row",
        "output_file_name": "scores.csv",
        "retry_settings": {"max_retries": 2, "timeout": 60},
        "error_threshold": 10,
        "logging_level": "debug",
        "environment_variables": {"BATCH_MODE": "1"},
    }


def test_legacy_batch_deployment() -> None:
    spec = load_yaml_file(GOOD / "legacy-batch-deployment.yml")
    assert isinstance(spec, ModelBatchDeploymentSpec) and spec.model.type == "mlflow_model"
    assert (spec.settings.mini_batch_size, spec.settings.max_concurrency_per_instance) == (7, 3)
    assert (spec.settings.output_action, spec.settings.logging_level) == ("summary_only", "warning")
    assert spec.settings.retry_settings.timeout == 90 and spec.code_configuration is None


def test_pipeline_component_batch_deployment() -> None:
    spec = load_yaml_file(GOOD / "pipeline-batch-deployment.yml")
    assert isinstance(spec, PipelineComponentBatchDeploymentSpec)
    assert kind_of(spec) == "pipelineComponentBatchDeployment"
    assert spec.component == ASSETS / "pipeline" / "component.yaml"
    assert (
        spec.settings.default_compute == "batch-cluster" and spec.settings.continue_on_step_failure is False
    )


def test_aml_compute() -> None:
    spec = load_yaml_file(GOOD / "compute.yml")
    assert isinstance(spec, AmlComputeSpec) and kind_of(spec) == "amlCompute"
    assert (spec.size, spec.tier, spec.min_instances, spec.max_instances) == (
        "Standard_DS3_v2",
        "low_priority",
        0,
        4,
    )
    assert spec.idle_time_before_scale_down == 300


# ---------------------------------------------------------------- kinds


@pytest.mark.parametrize(
    ("schema", "name"),
    [
        (
            "https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json",
            "managedonlinedeployment",
        ),
        ("http://azureml/sdk-2-0/BatchDeployment.json", "batchdeployment"),
        ("managedOnlineEndpoint", "managedonlineendpoint"),
    ],
)
def test_schema_names(schema: str, name: str) -> None:
    assert schema_name(schema) == name


def test_unknown_schema() -> None:
    text = "$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json\nname: job\n"
    with pytest.raises(SpecError) as caught:
        load_yaml_text(text, file="job.yml")
    assert problems(caught)[0].startswith("job.yml:1: $schema: unsupported kind")
    assert "managedOnlineEndpoint" in problems(caught)[0]


def test_short_schema_names_and_generic_schemas() -> None:
    spec = load_yaml_text("$schema: kubernetesOnlineEndpoint\nname: ep1\ncompute: k8s\n")
    assert isinstance(spec, OnlineEndpointSpec) and spec.kind == "kubernetes"
    spec = load_yaml_text("$schema: http://azureml/sdk-2-0/OnlineEndpoint.json\nname: ep1\n")
    assert isinstance(spec, OnlineEndpointSpec) and spec.kind == "managed"


@pytest.mark.parametrize(
    ("data", "kinds"),
    [
        ({"name": "b", "endpoint_name": "e", "instance_type": "x"}, {"managedOnlineDeployment"}),
        ({"name": "b", "endpoint_name": "e", "resources": {"requests": {}}}, {"kubernetesOnlineDeployment"}),
        ({"name": "b", "endpoint_name": "e", "compute": "c"}, {"modelBatchDeployment"}),
        ({"name": "b", "endpoint_name": "e", "type": "pipeline"}, {"pipelineComponentBatchDeployment"}),
        ({"name": "e", "traffic": {}}, {"managedOnlineEndpoint"}),
        ({"name": "e", "compute": "k"}, {"kubernetesOnlineEndpoint"}),
        ({"name": "e", "defaults": {}}, {"batchEndpoint"}),
        ({"name": "c", "size": "Standard_DS2_v2"}, {"amlCompute"}),
        ({"name": "e"}, {"managedOnlineEndpoint", "batchEndpoint"}),
    ],
)
def test_kind_heuristics_without_schema(data: dict[str, Any], kinds: set[str]) -> None:
    assert guess_kinds(data) == kinds


def test_ambiguous_document_says_to_add_schema() -> None:
    with pytest.raises(SpecError) as caught:
        load_yaml_text("name: ep1\ndescription: which one?\n", file="ep.yml")
    (problem,) = problems(caught)
    assert problem.startswith("ep.yml:1: cannot tell what kind of document this is; add `$schema: https://")
    assert "batchEndpoint.schema.json" in problem and "managedOnlineEndpoint.schema.json" in problem


def test_kind_key_must_agree_with_schema() -> None:
    text = "$schema: managedOnlineEndpoint\nname: ep1\nkind: kubernetes\n"
    with pytest.raises(SpecError) as caught:
        load_yaml_text(text, file="ep.yml")
    assert problems(caught) == [
        "ep.yml:3: kind: must be 'managed' for a managedOnlineEndpoint (got 'kubernetes')"
    ]


# ---------------------------------------------------------------- errors with lines


def test_all_problems_of_a_file_with_lines() -> None:
    with pytest.raises(SpecError) as caught:
        load_yaml_file(BAD / "deployment.yml")
    file = str(BAD / "deployment.yml")
    found = problems(caught)
    missing = ASSETS / "onlinescoring" / "missing.py"
    assert found[0] == f"{file}:8: code_configuration.scoring_script: no such file: {missing}"
    assert found[1].startswith(
        f"{file}:11: instance_type: unknown VM size 'Standard_DS3_v3'; nearest known: "
    )
    assert found[2] == f"{file}:12: instance_count: must be >= 1 (got -2)"
    assert found[3].startswith(
        f"{file}:14: request_settings.request_timout_ms: unknown key 'request_timout_ms'"
    )
    assert found[4] == f"{file}:16: liveness_probe.failure_threshold: must be >= 1 (got 0)"
    assert len(found) == 5


def test_endpoint_problems_with_lines() -> None:
    with pytest.raises(SpecError) as caught:
        load_yaml_file(BAD / "endpoint.yml")
    file = str(BAD / "endpoint.yml")
    assert problems(caught) == [
        f"{file}:2: name: must be 3-32 characters long (got 'x', 1 long)",
        f"{file}:3: auth_mode: must be one of 'key', 'aml_token' or 'aad_token' (got 'password')",
        f"{file}:4: traffic: weights must add up to 100, or all be 0 (got blue=90, green=20: 110)",
        f"{file}:8: mirror_traffic.green: must be <= 50 (got 60)",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "name: ep1\ntraffic:\n  blue: 100\n   green: 0\n",
            "f.yml:4: not valid YAML: mapping values are not allowed here",
        ),
        ("", "f.yml: the file is empty"),
        ("# only a comment\n", "f.yml: the file is empty"),
        ("- a\n- b\n", "f.yml:1: must be a mapping of keys to values (got a list)"),
        (
            "name: a\n---\nname: b\n",
            "f.yml:2: not valid YAML: expected a single document in the stream but found another document",
        ),
        (
            "name: a\nname: b\n",
            "f.yml:2: name: duplicate key 'name' (first at line 1); YAML would silently keep the last",
        ),
        ("when: 2024-13-45\n", "f.yml: not valid YAML: month must be in 1..12"),
        (
            "x: !!python/object:os.system {}\n",
            "f.yml:1: not valid YAML: could not determine a constructor for the tag",
        ),
        (
            "key: [unclosed\n",
            "f.yml:2: not valid YAML: while parsing a flow sequence expected ',' or ']', but got",
        ),
    ],
)
def test_bad_yaml(text: str, expected: str) -> None:
    with pytest.raises(SpecError) as caught:
        load_yaml_text(text, file="f.yml")
    assert problems(caught)[0].startswith(expected)


def test_unreadable_files(tmp_path: Path) -> None:
    binary = tmp_path / "junk.yml"
    binary.write_bytes(b"\xff\xfe\x00garbage\x81")
    with pytest.raises(SpecError) as caught:
        load_yaml_file(binary)
    assert problems(caught)[0].startswith(f"{binary}: not a UTF-8 text file")
    with pytest.raises(SpecError) as caught:
        load_yaml_file(tmp_path / "missing.yml")
    assert problems(caught)[0].startswith(f"{tmp_path / 'missing.yml'}: cannot read: No such file")


def test_paths_resolve_against_the_yaml_folder(tmp_path: Path) -> None:
    folder = tmp_path / "a" / "b"
    folder.mkdir(parents=True)
    (tmp_path / "a" / "model").mkdir()
    text = (GOOD / "green.yml").read_text().replace("../assets/model/model.txt", "../model")
    (folder / "d.yml").write_text(text)
    with pytest.raises(SpecError) as caught:
        load_yaml_file(folder / "d.yml")  # code and conda paths do not exist from there
    assert all(":7: code_configuration.code: no such folder" in p for p in problems(caught))
    spec = load_yaml_file(folder / "d.yml", check_paths=False)
    assert isinstance(spec, OnlineDeploymentSpec) and spec.model is not None
    assert spec.model.path == tmp_path / "a" / "model"


def test_overrides_replace_top_level_keys() -> None:
    spec = load_yaml_file(
        GOOD / "green.yml", overrides={"endpoint_name": "other-endpoint", "instance_count": 3}
    )
    assert isinstance(spec, OnlineDeploymentSpec)
    assert (spec.endpoint_name, spec.instance_count) == ("other-endpoint", 3)


def test_load_many_files_collects_every_problem() -> None:
    documents, found = load_paths([GOOD, BAD, FIXTURES / "nowhere"])
    assert len(documents) == 11 and all(isinstance(d, Document) for d in documents)
    assert {Path(p.file).name for p in found if p.file} == {
        "deployment.yml",
        "endpoint.yml",
        "syntax.yml",
        "nowhere",
    }
    with pytest.raises(SpecError) as caught:
        load_yaml_files([BAD])
    assert len(caught.value.problems) == 10


def test_folders_only_yield_our_documents(tmp_path: Path) -> None:
    # conda files have no `$schema`; pipeline components are Azure ML documents, but not ours
    assert yaml_files([ASSETS]) == []
    assert yaml_files([ASSETS / "environment" / "conda.yaml"]) == [ASSETS / "environment" / "conda.yaml"]
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "x.yml").write_text("$schema: managedOnlineEndpoint\n")
    (tmp_path / "typo.yml").write_text("$schema: managedOnlineEndpont\n")  # a typo is still reported
    (tmp_path / "job.yml").write_text(
        "$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json\n"
    )
    assert yaml_files([tmp_path]) == [tmp_path / "typo.yml"]


# ---------------------------------------------------------------- registered assets and targets


def test_registered_assets_load_and_stay_references() -> None:
    spec = load_yaml_file(REGISTERED / "deployment.yml")
    assert isinstance(spec, OnlineDeploymentSpec) and spec.model is not None
    assert spec.model.reference == "azureml:my-model:1" and not spec.model.is_local
    assert spec.environment.reference == "azureml://registries/azureml/environments/sklearn-1.5/labels/latest"


def test_registered_assets_are_refused_off_azure() -> None:
    documents = load_yaml_files([REGISTERED])
    require_local_assets(documents, "azure")
    for target in ("local", "kubernetes"):
        with pytest.raises(SpecError) as caught:
            require_local_assets(documents, target)
        found = problems(caught)
        assert len(found) == 4
        expected = (
            "deployment.yml:4: model: 'azureml:my-model:1' is a registered Azure ML model, which only the "
            f"azure target can use; for the {target} target point at a local folder, e.g. "
            "`model: {path: ./model}`"
        )
        assert any(p.endswith(expected) for p in found)
        assert any("pipeline-deployment.yml:4: component: 'azureml:hello_batch@latest'" in p for p in found)


def test_require_local_assets_takes_single_specs_and_checks_the_target() -> None:
    require_local_assets(load_yaml_file(GOOD / "blue.yml"), "local")
    with pytest.raises(SpecError) as caught:
        require_local_assets(load_yaml_file(REGISTERED / "deployment.yml"), "local")
    assert problems(caught)[0].startswith("model: 'azureml:my-model:1' is a registered Azure ML model")
    with pytest.raises(SpecError, match="unknown target 'aws'"):
        require_local_assets([], "aws")


def test_azure_only_settings_warn_off_azure() -> None:
    text = (
        GOOD / "green.yml"
    ).read_text() + "app_insights_enabled: true\negress_public_network_access: disabled\n"
    spec = load_yaml_text(text, file="g.yml", base_dir=GOOD)
    with pytest.warns(SpecWarning) as caught:
        require_local_assets(spec, "local")
    # app_insights_enabled is honoured locally (the router's request log): no warning for it.
    assert [str(w.message) for w in caught] == [
        "egress_public_network_access: only used by the azure target; ignored on the local target",
    ]


def test_ignored_keys_warn_with_file_and_line() -> None:
    text = (GOOD / "green.yml").read_text() + "provisioning_state: Succeeded\n"
    with pytest.warns(SpecWarning) as caught:
        load_yaml_text(text, file="g.yml", base_dir=GOOD)
    (warning,) = caught
    assert (warning.filename, warning.lineno) == ("g.yml", 13)
    assert str(warning.message.problem) == (  # type: ignore[union-attr]
        "g.yml:13: provisioning_state: read-only, reported by Azure ML (as in `az ml ... show` output); "
        "ignored"
    )


# ---------------------------------------------------------------- fuzzing

BASES = {path.name: yaml.safe_load(path.read_text()) for path in sorted(GOOD.glob("*.yml"))}
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=8), st.integers(), max_size=3),
)


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            found += _paths(value, (*prefix, key))
    return found


def _set(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    for key in path[:-1]:
        data = data[key]
    data[path[-1]] = value


def _delete(data: dict[str, Any], path: tuple[Any, ...]) -> None:
    for key in path[:-1]:
        data = data[key]
    del data[path[-1]]


def _random_mutation(draw: st.DrawFn, data: dict[str, Any]) -> Any:
    paths = _paths(data)
    choice = draw(st.integers(0, 4))
    if choice == 0 and paths:
        _set(data, draw(st.sampled_from(paths)), draw(JUNK))
    elif choice == 1 and paths:
        _delete(data, draw(st.sampled_from(paths)))
    elif choice == 2:
        data[draw(st.text(min_size=1, max_size=12))] = draw(JUNK)
    elif choice == 3:
        data["name"] = draw(st.text(max_size=40))
    else:
        return draw(JUNK)
    return data


def _breaking_mutation(draw: st.DrawFn, data: dict[str, Any]) -> bool:
    """Apply a mutation from the brief's list; True when it certainly makes the document invalid."""
    choice = draw(st.integers(0, 4))
    if choice == 0:
        weights = draw(
            st.dictionaries(st.sampled_from(["blue", "green", "teal"]), st.integers(-50, 150), min_size=1)
        )
        data["traffic"] = weights
        return sum(weights.values()) not in (0, 100) or any(not 0 <= w <= 100 for w in weights.values())
    if choice == 1:
        data["mirror_traffic"] = {"green": draw(st.integers(51, 1000))}
        return True
    if choice == 2:
        data[draw(st.sampled_from(["instance_count", "max_instances", "min_instances"]))] = draw(
            st.integers(max_value=-1)
        )
        return True
    if choice == 3:
        key = "size" if "size" in data else "instance_type"
        data[key] = draw(st.sampled_from(["Standard_DS9_v2", "Standard_Nope", "Basic_A0", ""]))
        return str(data.get("$schema", "")).endswith(
            ("managedOnlineDeployment.schema.json", "amlCompute.schema.json")
        )
    data["name"] = draw(st.sampled_from(["", "x", "9lives", "has space", "under_score", "a" * 40]))
    return True


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bool]:
    """A mutated fixture as YAML text, and whether the mutations certainly make it invalid."""
    data: Any = copy.deepcopy(BASES[draw(st.sampled_from(sorted(BASES)))])
    for _ in range(draw(st.integers(0, 3))):
        if isinstance(data, dict):
            data = _random_mutation(draw, data)
    invalid = isinstance(data, dict) and draw(st.booleans()) and _breaking_mutation(draw, data)
    # YAML block style, or Python's repr (which YAML reads as flow style with odd scalars).
    text = yaml.safe_dump(data, sort_keys=False) if draw(st.booleans()) else repr(data)
    return text, invalid


@pytest.mark.filterwarnings("ignore::components.errors.SpecWarning")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_fuzz_mutated_documents_only_raise_spec_errors(case: tuple[str, bool]) -> None:
    text, invalid = case
    try:
        load_yaml_text(text, file="fuzz.yml", base_dir=GOOD)
    except SpecError as error:
        assert error.problems and all(str(problem) for problem in error.problems)
        assert str(error).count("\n") == len(error.problems) - 1
    else:
        assert not invalid, f"accepted an invalid document:\n{text}"


@pytest.mark.filterwarnings("ignore::components.errors.SpecWarning")
@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200), st.sampled_from(sorted(BASES)), st.integers(0, 400), st.integers(0, 20))
def test_fuzz_junk_text_only_raises_spec_errors(junk: str, base: str, at: int, cut: int) -> None:
    original = (GOOD / base).read_text()
    for text in (junk, original[:at] + junk + original[at + cut :]):
        try:
            load_yaml_text(text, file="fuzz.yml", base_dir=GOOD)
        except SpecError as error:
            assert error.problems
