"""Pure planning of the local target: digests, limits, mounts and env, instance names, router config."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from components.specs import OnlineDeploymentSpec, parse_spec
from components.targets.local import plan as local_plan
from components.targets.serving_layout import SCORER_PORT

EXAMPLES = Path(__file__).resolve().parents[4] / "examples" / "online"
GIB = 1024


def deployment(**changes: Any) -> OnlineDeploymentSpec:
    """The example blue deployment (paths resolve against examples/online), with changes."""
    data: dict[str, Any] = {
        "name": "blue",
        "endpoint_name": "shop",
        "model": {"path": "model-blue/model"},
        "code_configuration": {"code": "model-blue/onlinescoring", "scoring_script": "score.py"},
        "environment": {"image": "mlendpoints/base:bookworm-py311"},
        "instance_type": "Standard_DS2_v2",
        "instance_count": 1,
    }
    return parse_spec(OnlineDeploymentSpec, {**data, **changes}, base_dir=EXAMPLES, check_paths=True)


# ---------------------------------------------------------------- limits


@pytest.mark.parametrize(
    ("instance_type", "expected"),
    [
        ("Standard_DS2_v2", (2 * 10**9, 7 * GIB)),  # 2 cores, 7 GiB
        ("Standard_DS1_v2", (1 * 10**9, 3584)),  # 3.5 GiB: fractional sizes stay whole MB
        ("standard_f4s_v2", (4 * 10**9, 8 * GIB)),  # Azure size names are case-insensitive
        (None, (10**9, 2048)),  # custom containers: the documented default of one core, 2 GiB
        ("defaultinstancetype", (10**9, 2048)),  # a Kubernetes instance type we do not know
    ],
)
def test_limits_are_the_azure_size_on_a_big_host(
    instance_type: str | None, expected: tuple[int, int]
) -> None:
    assert local_plan.local_limits(instance_type, host_cpus=64, host_memory_mb=512 * GIB) == expected


def test_limits_are_capped_by_the_host() -> None:
    # Docker refuses more CPUs than the host has; memory keeps half the host free for the rest.
    assert local_plan.local_limits("Standard_DS5_v2", host_cpus=4, host_memory_mb=16 * GIB) == (
        4 * 10**9,
        8 * GIB,
    )


def test_host_resources_match_the_kernel() -> None:
    meminfo = Path("/proc/meminfo")
    if not meminfo.exists():
        pytest.skip("needs Linux /proc/meminfo")
    found = re.search(r"MemTotal:\s+(\d+) kB", meminfo.read_text())
    assert found is not None
    total_kb = int(found[1])
    cpus, memory_mb = local_plan.host_resources()
    assert cpus >= 1
    assert abs(memory_mb - total_kb // 1024) <= 1


# ---------------------------------------------------------------- mounts and environment


def test_model_and_code_are_mounted_where_azure_ml_puts_them() -> None:
    mounts, env = local_plan.scorer_mounts_and_env(deployment())
    model_dir = "/var/azureml-app/azureml-models/blue/1"
    assert mounts == {
        f"{model_dir}/model": str(EXAMPLES / "model-blue" / "model"),
        "/var/azureml-app/code": str(EXAMPLES / "model-blue" / "onlinescoring"),
    }
    # The folder that CONTAINS the model folder, so score.py's os.path.join(dir, "model/...") works.
    assert env["AZUREML_MODEL_DIR"] == model_dir
    assert env["AML_APP_ROOT"] == "/var/azureml-app/code"
    assert env["AZUREML_ENTRY_SCRIPT"] == "score.py"


def test_model_name_and_version_shape_the_model_dir() -> None:
    spec = deployment(model={"path": "model-blue/model", "name": "churn", "version": 7})
    mounts, env = local_plan.scorer_mounts_and_env(spec)
    assert env["AZUREML_MODEL_DIR"] == "/var/azureml-app/azureml-models/churn/7"
    assert mounts["/var/azureml-app/azureml-models/churn/7/model"] == str(EXAMPLES / "model-blue" / "model")


def test_a_folder_that_is_both_model_and_code_is_mounted_twice() -> None:
    spec = deployment(
        model={"path": "model-blue/onlinescoring"},
        code_configuration={"code": "model-blue/onlinescoring", "scoring_script": "score.py"},
    )
    mounts, _ = local_plan.scorer_mounts_and_env(spec)
    folder = str(EXAMPLES / "model-blue" / "onlinescoring")
    assert mounts == {
        "/var/azureml-app/azureml-models/blue/1/onlinescoring": folder,
        "/var/azureml-app/code": folder,
    }


def test_request_settings_and_names_become_scorer_env() -> None:
    settings = {"request_timeout_ms": 9000, "max_concurrent_requests_per_instance": 3, "max_queue_wait_ms": 0}
    _, env = local_plan.scorer_mounts_and_env(deployment(request_settings=settings))
    expected = {
        "SCORING_TIMEOUT_MS": "9000",
        "MAX_CONCURRENT_REQUESTS_PER_INSTANCE": "3",
        "MAX_QUEUE_WAIT_MS": "0",
        # One worker per concurrent request, unless the user sets WORKER_COUNT (next test).
        "WORKER_COUNT": "3",
        "SERVER_PORT": str(SCORER_PORT),
        "SERVICE_NAME": "shop",
        "SERVICE_VERSION": "blue",
    }
    assert {key: env.get(key) for key in expected} == expected


def test_user_variables_win_and_are_text() -> None:
    # YAML reads `WORKER_COUNT: 4` as a number; a container environment only holds text.
    _, env = local_plan.scorer_mounts_and_env(
        deployment(environment_variables={"WORKER_COUNT": 4, "X": True})
    )
    assert env["WORKER_COUNT"] == "4"
    assert env["X"] == "true"


def test_custom_container_gets_no_mounts_and_no_model_env() -> None:
    mounts, env = local_plan.scorer_mounts_and_env(deployment(model=None, code_configuration=None))
    assert mounts == {}
    assert not {"AZUREML_MODEL_DIR", "AML_APP_ROOT", "AZUREML_ENTRY_SCRIPT"} & env.keys()
    assert env["SERVICE_VERSION"] == "blue"


# ---------------------------------------------------------------- instance names


def test_instance_name_carries_endpoint_deployment_index_and_short_digest() -> None:
    assert local_plan.instance_name("shop", "blue", 2, "0123456789ab") == "shop-blue-2-01234567"


def test_instance_name_of_longest_allowed_names_is_a_dns_label() -> None:
    # The router resolves instances by name; Python refuses DNS labels over 63 characters.
    name = local_plan.instance_name("e" * 32, "d" * 32, 10, "0123456789ab")
    assert len(name) <= 63 and name.endswith("-10-01234567") and name.startswith("e" * 32 + "-d")
    name.encode("idna")  # what getaddrinfo does with it: raises on a label over 63 characters
    # Cut names of different deployments stay apart.
    assert name != local_plan.instance_name("e" * 32, "d" * 31 + "x", 10, "0123456789ab")
    assert len({local_plan.instance_name("e" * 32, "d" * 32, i, "0123456789ab") for i in range(3)}) == 3


# ---------------------------------------------------------------- healing


def test_liveness_probe_becomes_the_docker_health_check() -> None:
    probe = {"initial_delay": 5, "period": 3, "timeout": 1, "failure_threshold": 4}
    health = local_plan.liveness_health(deployment(liveness_probe=probe))
    assert health == {
        "test": local_plan.probe_test(5001, "/", "/readyz"),
        "interval_s": 3,
        "timeout_s": 1,
        "retries": 4,
        "start_period_s": 5,
    }
    # Azure's defaults: 30 failures 10 s apart before a restart.
    default = local_plan.liveness_health(deployment())
    assert (default["interval_s"], default["retries"]) == (10, 30)


def test_docker_socket_from_docker_host() -> None:
    assert local_plan.docker_socket({}) == "/var/run/docker.sock"
    assert local_plan.docker_socket({"DOCKER_HOST": "unix:///run/user/1000/docker.sock"}) == (
        "/run/user/1000/docker.sock"
    )
    with pytest.raises(ValueError, match="needs the engine's unix socket"):
        local_plan.docker_socket({"DOCKER_HOST": "tcp://10.0.0.1:2375"})


def test_agent_has_no_network_and_only_the_engine_socket() -> None:
    props = local_plan.agent_container("shop", "mlendpoints/serving:abc", "/var/run/docker.sock")
    assert props["network"] == "none"
    assert props["writable_mounts"] == {"/var/run/docker.sock": "/var/run/docker.sock"}
    assert "mounts" not in props and "publish" not in props
    assert props["labels"] == {"io.mlendpoints.endpoint": "shop", "io.mlendpoints.role": "agent"}
    assert props["env"] == {"MLE_AGENT_ENDPOINT": "shop"}
