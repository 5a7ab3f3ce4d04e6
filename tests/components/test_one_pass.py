"""validate and load_stack_config tell everything in one pass: per-file, cross-file, target and environment
problems together, by file then line, with no echoes of a file that failed to load; instance types that
only `pulumi up` used to refuse."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest

from components import skus
from components.errors import Problem, SpecError, SpecWarning
from components.quota import QuotaLimits, check_quota, demands_from_stack, totals
from components.stack_config import load_stack_config
from components.targets.local import plan as local_plan
from components.validate import main, validate_paths

FIXTURES = Path(__file__).parent / "fixtures"
GOOD, ASSETS = FIXTURES / "good", FIXTURES / "assets"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "online"


@pytest.fixture
def fixtures(tmp_path: Path) -> Path:
    """A writable copy of the good fixtures (tmp/good) and their assets (tmp/assets)."""
    shutil.copytree(GOOD, tmp_path / "good")
    shutil.copytree(ASSETS, tmp_path / "assets")
    return tmp_path / "good"


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A writable copy of the example endpoint (endpoint.yml, blue-/green-deployment.yml)."""
    shutil.copytree(EXAMPLES, tmp_path / "online")
    return tmp_path / "online"


def _replace(file: Path, old: str, new: str) -> None:
    text = file.read_text()
    assert old in text, old
    file.write_text(text.replace(old, new))


def _lines(problems: list[Problem] | tuple[Problem, ...]) -> list[str]:
    return [str(problem) for problem in problems]


def _stack_problems(config: dict[str, object], base_dir: Path, target: str | None = "local") -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_stack_config(config, base_dir, target=target)
    return _lines(caught.value.problems)


# ---------------------------------------------------------------- item 3: instance types


def test_kubernetes_instance_types_are_accepted_and_resources_size_local_containers() -> None:
    config = {"endpoints": ["k8s-endpoint.yml"], "deployments": ["k8s-deployment.yml"]}
    with pytest.warns(SpecWarning) as caught:
        stack = load_stack_config(config, GOOD, target="local")
    compute, gpu, scale = [str(w.message.problem) for w in caught if isinstance(w.message, SpecWarning)]
    assert compute == (
        f"{GOOD / 'k8s-endpoint.yml'}:3: compute: 'k8s-compute' names an Azure ML attached Kubernetes "
        "cluster; the local target runs this endpoint on this machine's Docker engine (set "
        "`mlendpoints:target: kubernetes` to run it on a cluster)"
    )
    # `resources` size the containers (no warning about the instance type); only the GPU is not given.
    assert gpu == (
        f"{GOOD / 'k8s-deployment.yml'}:26: resources.limits.nvidia.com/gpu: 1 GPU(s) asked; the local "
        "target passes no GPU to containers (cpu and memory are applied)"
    )
    assert scale == (
        f"{GOOD / 'k8s-deployment.yml'}:13: scale_settings: the local target does not autoscale: it runs "
        "min_instances (2) instances all the time (max_instances 5 and target_utilization_percentage 60 "
        "are not applied; the quota check counts max_instances)"
    )
    spec = stack.online_endpoint("fixture-k8s").deployment("canary")
    assert local_plan.deployment_limits(spec, 8, 16384) == (int(1e9), 2048, [])
    assert local_plan.deployment_limits(spec, 1, 2048)[2] == [
        "resources memory 2Gi is more than half of this machine's memory; capped"
    ]
    # ... and `pulumi up` accepts it too: the quota check counts its limits (5 = max_instances).
    demands = demands_from_stack(stack, "local")
    assert demands.deployments == ()
    assert [(w.name, w.cores, w.memory_gb) for w in demands.workloads] == [("fixture-k8s/canary", 5, 10)]
    assert totals(demands)["total_cores"] == 5
    assert [v.message for v in check_quota(demands, QuotaLimits(total_cores=4))] == [
        "needs 5 cores in total: 5; available 4"
    ]


def test_an_unknown_instance_type_without_resources_runs_the_default_size() -> None:
    entry = {"file": "k8s-deployment.yml", "resources": None, "instance_type": "gpu-xl"}
    with pytest.warns(SpecWarning) as caught:
        load_stack_config({"endpoints": ["k8s-endpoint.yml"], "deployments": [entry]}, GOOD, target="local")
    found = [str(w.message.problem) for w in caught if isinstance(w.message, SpecWarning)]
    assert any(
        "'gpu-xl' is a Kubernetes instance type, not a VM size mlendpoints knows; the local "
        "target runs each instance with the default 1 core / 2 GiB" in line
        for line in found
    ), found


def test_resource_quantities_are_checked_where_they_are_written() -> None:
    entry = {"file": "k8s-deployment.yml", "resources.limits.cpu": "lots"}
    with pytest.warns(SpecWarning):  # the endpoint's compute, as in the test above
        found = _stack_problems({"endpoints": ["k8s-endpoint.yml"], "deployments": [entry]}, GOOD)
    assert found == [
        "stack config: deployments[0].resources.limits.cpu: 'lots' is not a Kubernetes quantity (e.g. cpu: "
        "500m or 0.5; memory: 200Mi, 1Gi or 512M)"
    ], found


def test_kubernetes_instance_types_need_no_warning_elsewhere() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", SpecWarning)
        assert (
            validate_paths([GOOD / "k8s-endpoint.yml", GOOD / "k8s-deployment.yml"], target="kubernetes")
            == []
        )
        assert validate_paths([GOOD / "k8s-deployment.yml"], target="azure") == []
        assert validate_paths([GOOD / "k8s-deployment.yml"]) == []


def test_default_size_is_the_local_targets() -> None:
    assert skus.DEFAULT_CORES == local_plan.DEFAULT_CORES
    assert skus.DEFAULT_MEMORY_GB * 1024 == local_plan.DEFAULT_MEMORY_MB


def test_validate_command_prints_the_warning(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(GOOD / "k8s-endpoint.yml"), str(GOOD / "k8s-deployment.yml"), "--target", "local"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{GOOD / 'k8s-endpoint.yml'}:3: warning: compute: 'k8s-compute' names")
    assert out[1].startswith(
        f"{GOOD / 'k8s-deployment.yml'}:26: warning: resources.limits.nvidia.com/gpu: 1 GPU(s) asked"
    )
    assert out[-1] == "ok: 2 file(s)"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "defaultinstancetype",
            "unknown VM size 'defaultinstancetype': not one of the sizes in components/skus.py (Kubernetes "
            "instance types such as defaultinstancetype belong in kubernetesOnlineDeployment files)",
        ),
        ("Standard_DS2_v3", "unknown VM size 'Standard_DS2_v3'; nearest known: Standard_DS2_v2, "),
        ("standard_f2_v2", "unknown VM size 'standard_f2_v2'; nearest known: Standard_F2s_v2"),
    ],
)
def test_managed_deployments_refuse_unknown_sizes(fixtures: Path, value: str, message: str) -> None:
    _replace(fixtures / "green.yml", "instance_type: Standard_F2s_v2", f"instance_type: {value}")
    (problem,) = validate_paths([fixtures / "green.yml"], target="local")
    assert (problem.line, problem.field) == (11, "instance_type")
    assert problem.message.startswith(message)


# ---------------------------------------------------------------- item 4: everything in one pass


def test_validate_reports_every_phase_at_once(example: Path) -> None:
    # A per-file problem (blue), a registered asset (green, a target problem), and traffic naming a
    # deployment no file defines (a cross-file problem): all in the first run.
    _replace(example / "blue-deployment.yml", "instance_count: 1", "instance_count: 0")
    _replace(example / "green-deployment.yml", "path: ./model-green/model", "path: azureml://models/x/1")
    _replace(example / "endpoint.yml", "green: 10", "green: 5\n  purple: 5")
    found = _lines(validate_paths([example], target="local", as_stack=True))
    assert found == [
        f"{example / 'blue-deployment.yml'}:13: instance_count: must be >= 1 (got 0)",
        f"{example / 'endpoint.yml'}:8: traffic.purple: no deployment 'purple' under endpoint 'mle-demo' "
        "(deployments: green)",
        f"{example / 'green-deployment.yml'}:4: model: 'azureml://models/x/1' is a registered Azure ML "
        "model, which only the azure target can use; for the local target point at a local folder, e.g. "
        "`model: {path: ./model}`",
    ]


def test_stack_config_reports_every_phase_at_once(example: Path) -> None:
    _replace(example / "blue-deployment.yml", "instance_count: 1", "instance_count: 0")
    _replace(example / "green-deployment.yml", "path: ./model-green/model", "path: azureml://models/x/1")
    config = {
        "endpoints": ["endpoint.yml", {"name": "other-ep", "traffic": {"ghost": 100}}],
        "deployments": ["blue-deployment.yml", "green-deployment.yml"],
    }
    found = _stack_problems(config, example)
    assert [line.split(": ")[:2] for line in found] == [
        ["stack config", "endpoints[1].traffic.ghost"],
        [f"{example / 'blue-deployment.yml'}:13", "instance_count"],
        [f"{example / 'green-deployment.yml'}:4", "model"],
    ]


def test_no_echo_of_a_deployment_that_failed_to_load(example: Path) -> None:
    _replace(example / "blue-deployment.yml", "instance_count: 1", "instance_cont: 1")
    found = _lines(validate_paths([example], target="local", as_stack=True))
    assert [line.split(": ")[1] for line in found] == ["instance_count", "instance_cont"]
    assert not any("no deployment" in line for line in found)
    with pytest.raises(SpecError) as caught:
        load_stack_config({"files": ["."]}, example, target="local")
    assert _lines(caught.value.problems) == found


def test_no_echo_of_a_file_that_is_not_even_yaml(example: Path) -> None:
    # The name still shows in a broken file: only `blue` is spared, `green` (no file at all) is not.
    _replace(example / "blue-deployment.yml", "instance_count: 1", "instance_count: [1")
    (example / "green-deployment.yml").unlink()
    found = _lines(validate_paths([example], target="local", as_stack=True))
    assert len(found) == 2
    assert found[0].startswith(f"{example / 'blue-deployment.yml'}:") and "not valid YAML" in found[0]
    assert found[1] == (
        f"{example / 'endpoint.yml'}:7: traffic.green: no deployment 'green' under endpoint 'mle-demo' "
        "(deployments: none)"
    )


def test_no_echo_of_a_missing_or_unreadable_entry(example: Path) -> None:
    (example / "blue-deployment.yml").write_bytes(b"name: blue\xff\n")
    config = {"endpoints": ["endpoint.yml"], "deployments": ["missing.yml", "blue-deployment.yml"]}
    found = _stack_problems(config, example)
    assert found == [
        f"stack config: deployments[0]: no such file: {example / 'missing.yml'} (paths are relative to "
        f"{example})",
        f"{example / 'blue-deployment.yml'}: not a UTF-8 text file (invalid start byte at byte 10)",
    ]


def test_no_echo_of_an_endpoint_or_cluster_that_failed_to_load(fixtures: Path) -> None:
    _replace(fixtures / "batch-endpoint.yml", "name: fixture-batch", "name: fixture-batch\nauth_mode: key")
    _replace(fixtures / "compute.yml", "tier: low_priority", "tier: spot")
    _replace(fixtures / "endpoint.yml", "auth_mode: key", "auth_mode: keys")
    found = validate_paths([fixtures], target="local", as_stack=True)
    assert [(Path(p.file or "").name, p.field) for p in found] == [
        ("batch-endpoint.yml", "auth_mode"),
        ("compute.yml", "tier"),
        ("endpoint.yml", "auth_mode"),
        ("teal.yml", "environment"),  # a build context: not deployable off Azure yet
    ]


def test_cross_checks_still_run_beside_problems(fixtures: Path) -> None:
    # A broken compute file does not hide the duplicate deployment names of two files that loaded.
    _replace(fixtures / "compute.yml", "tier: low_priority", "tier: spot")
    _replace(fixtures / "teal.yml", "name: teal", "name: green")
    found = validate_paths([fixtures], target="local", as_stack=True)
    assert [(Path(p.file or "").name, p.line, p.field) for p in found] == [
        ("compute.yml", 5, "tier"),
        ("endpoint.yml", 12, "mirror_traffic.teal"),
        ("teal.yml", 2, "name"),
        ("teal.yml", 9, "environment"),  # its build context: not deployable off Azure yet
    ]


def test_problems_are_ordered_by_file_then_line(fixtures: Path) -> None:
    _replace(fixtures / "blue.yml", "period: 5", "period: 0")
    _replace(fixtures / "blue.yml", "instance_count: 2", "instance_count: 0")
    _replace(fixtures / "green.yml", "instance_count: 1", "instance_count: 0")
    config = {"deployments": ["green.yml", "blue.yml"], "endpoints": ["endpoint.yml", "nope.yml"]}
    found = _stack_problems(config, fixtures)
    assert [line.rsplit(": ", 1)[0].split(": ")[0] for line in found] == [
        "stack config",
        f"{fixtures / 'green.yml'}:12",
        f"{fixtures / 'blue.yml'}:17",
        f"{fixtures / 'blue.yml'}:27",
    ]
    assert found == _stack_problems(config, fixtures)  # stable


def test_unknown_target_with_everything_else(example: Path) -> None:
    _replace(example / "blue-deployment.yml", "instance_count: 1", "instance_count: 0")
    found = _lines(validate_paths([example], target="aws", as_stack=True))
    assert found == [
        f"{example / 'blue-deployment.yml'}:13: instance_count: must be >= 1 (got 0)",
        "target: unknown target 'aws'; choose one of local, kubernetes, azure",
    ]


# ---------------------------------------------------------------- item 5: environments before `pulumi up`


@pytest.mark.parametrize(
    ("conda", "message"),
    [
        (b"name: x\ndependencies: [numpy\n", "the conda file is not valid YAML"),
        (b"name: x\ndependencies: numpy\n", "`dependencies` must be a list"),
        (b"- numpy\n", "a conda file must be a mapping with `dependencies`"),
        (b"name: caf\xe9\ndependencies: []\n", "the conda file is not a UTF-8 text file"),
    ],
)
def test_conda_file_problems_name_the_deployment_and_the_file(
    example: Path, conda: bytes, message: str
) -> None:
    conda_file = example / "model-blue" / "environment" / "conda.yaml"
    conda_file.write_bytes(conda)
    expected = f"{example / 'blue-deployment.yml'}:9: environment: {conda_file}: {message}"
    for target in ("local", "kubernetes", "azure", None):
        found = _lines(validate_paths([example], target=target, as_stack=True))
        assert len(found) == 1 and found[0].startswith(expected), (target, found)
    assert _lines(validate_paths([example / "blue-deployment.yml"])) == found
    assert _stack_problems({"files": ["."]}, example) == found
    # Without path checks a missing conda file is fine, a broken one that is there is still a problem.
    assert _lines(validate_paths([example], check_paths=False)) == found
    conda_file.unlink()
    assert validate_paths([example], check_paths=False) == []


def test_batch_deployment_environments_are_planned_too(fixtures: Path) -> None:
    (fixtures.parent / "assets" / "environment" / "conda.yaml").write_text("dependencies: {pip: [x]}\n")
    found = validate_paths([fixtures / "model-batch-deployment.yml", fixtures / "k8s-deployment.yml"])
    assert [(Path(p.file or "").name, p.line, p.field) for p in found] == [
        ("model-batch-deployment.yml", 11, "environment"),
        ("k8s-deployment.yml", 9, "environment"),
    ]


def test_build_contexts_cannot_be_deployed_by_the_local_target() -> None:
    # The local OnlineDeployment plans every environment into an image: a build context stops `pulumi up`.
    (problem,) = validate_paths([GOOD / "teal.yml"], target="local")
    assert (problem.file, problem.line, problem.field) == (str(GOOD / "teal.yml"), 9, "environment")
    assert problem.message.startswith("the local target cannot build a Docker build context (`build`) yet")
    (on_cluster,) = validate_paths([GOOD / "teal.yml"], target="kubernetes")
    assert on_cluster.message.startswith("the kubernetes target cannot build a Docker build context")
    assert validate_paths([GOOD / "teal.yml"], target="azure") == []
    assert validate_paths([GOOD / "teal.yml"]) == []


def test_the_good_fixtures_on_the_local_target() -> None:
    with pytest.warns(SpecWarning) as caught:
        found = validate_paths([GOOD], as_stack=True, target="local")
    fields = sorted(w.message.problem.field for w in caught if isinstance(w.message, SpecWarning))
    assert fields == ["compute", "resources.limits.nvidia.com/gpu", "scale_settings"]
    assert [(Path(p.file or "").name, p.field) for p in found] == [("teal.yml", "environment")]
