"""The `mle` command line: grouping outputs, choosing an endpoint, the curl it prints, mixed stacks."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from components import endpoint_cli
from components.endpoint_cli import (
    CliError,
    credential,
    curl_command,
    endpoints_of,
    main,
    pick_endpoint,
    request_file_for,
)
from components.targets.kubernetes import status as k8s_status
from components.targets.local.status import ContainerState
from serving.router.errors import TokenError
from serving.router.tokens import verify_token

OUTPUTS = {
    "shop.scoring_uri": "http://127.0.0.1:1/score",
    "shop.deployments": {"blue": "Succeeded"},
    "fraud.scoring_uri": "http://127.0.0.1:2/score",
}


def test_outputs_group_by_endpoint() -> None:
    grouped = endpoints_of(OUTPUTS)
    assert grouped["shop"] == {
        "scoring_uri": "http://127.0.0.1:1/score",
        "deployments": {"blue": "Succeeded"},
    }
    assert set(grouped) == {"shop", "fraud"}


def test_pick_endpoint_names_the_choices() -> None:
    with pytest.raises(CliError, match="several endpoints, name one: fraud, shop"):
        pick_endpoint(OUTPUTS, None)
    with pytest.raises(CliError, match=r"no endpoint 'nope'.*fraud, shop"):
        pick_endpoint(OUTPUTS, "nope")
    assert pick_endpoint(OUTPUTS, "fraud")[1]["scoring_uri"].endswith(":2/score")
    with pytest.raises(CliError, match="no endpoints"):
        pick_endpoint({}, None)


def test_curl_reads_the_key_from_the_shell_never_inline() -> None:
    cmd = curl_command("http://127.0.0.1:8631/score", "req file.json", deployment="green")
    assert '"Authorization: Bearer $KEY"' in cmd
    assert "'azureml-model-deployment: green'" in cmd
    assert "@'req file.json'" in cmd


def test_credential_is_the_key_or_a_token_for_this_endpoint() -> None:
    assert credential("shop", {"auth_mode": "key", "primary_key": "k1"}) == "k1"
    secret = "s" * 40
    token = credential("shop", {"auth_mode": "aml_token", "token_secret": secret}, ttl_s=60)
    assert verify_token(secret, token, audience="shop")
    with pytest.raises(TokenError):
        verify_token(secret, token, audience="other")
    with pytest.raises(CliError, match="exports no token secret"):
        credential("shop", {"auth_mode": "aml_token"})


# ---------------------------------------------------------------- stacks with online and batch endpoints

MIXED = {
    "shop.scoring_uri": "http://127.0.0.1:1/score",
    "shop.swagger_uri": "http://127.0.0.1:1/swagger.json",
    "shop.auth_mode": "key",
    "shop.primary_key": "k1",
    "shop.deployments": {"blue": "Succeeded"},
    "shop.traffic": {"blue": 100},
    "shop.router_container": "shop-router",
    "shop.agent_container": "shop-agent",
    "scores.kind": "batch",
    "scores.invoke_uri": "http://127.0.0.1:2/jobs",
    "scores.auth_mode": "aad_token",
    "scores.token_secret": "s" * 40,
    "scores.default_deployment": "linear",
    "scores.deployments": {"linear": "Succeeded", "tree": "Succeeded"},
    "scores.controller_container": "scores-controller",
    "scores.agent_container": "scores-agent",
    "scores.datastores": {"workspaceblobstore": "/data/ws"},
    "scores.provisioning_state": "Succeeded",
}


def _state(name: str, role: str, deployment: str | None = None) -> ContainerState:
    return ContainerState(name, role, deployment, "running", None, None, 0, "2026-01-02T03:04:05.000Z")


@pytest.fixture
def mixed(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """A stack with the online `shop` and the batch `scores`; `docker logs` calls are recorded."""
    monkeypatch.setattr(endpoint_cli, "stack_outputs", lambda stack, secrets=False: MIXED)
    live = {
        "shop": [
            _state("shop-router", "router"),
            _state("shop-agent", "agent"),
            _state("shop-blue-0-ab", "instance", "blue"),
        ],
        "scores": [
            _state("scores-controller", "controller"),
            _state("scores-agent", "agent"),
            _state("scores-linear-node-1a2b", "node", "linear"),
        ],
    }
    monkeypatch.setattr(endpoint_cli, "_live_containers", lambda endpoint: live[endpoint])
    calls: list[list[str]] = []

    def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append(cmd)
        names = "scores-linear-node-1a2b\n" if "label=io.mlendpoints.role=node" in cmd else "shop-blue-0-ab\n"
        return subprocess.CompletedProcess(cmd, 0, names if cmd[1] == "ps" else "", "")

    monkeypatch.setattr(subprocess, "run", run)
    return calls


def test_pick_endpoint_can_take_the_only_online_endpoint() -> None:
    assert pick_endpoint(MIXED, None, online_only=True)[0] == "shop"
    with pytest.raises(CliError, match="several endpoints, name one: scores, shop"):
        pick_endpoint(MIXED, None)
    batch_only = {k: v for k, v in MIXED.items() if k.startswith("scores.")}
    with pytest.raises(CliError, match="the stack has no online endpoints; endpoints: scores"):
        pick_endpoint(batch_only, None, online_only=True)
    assert pick_endpoint(MIXED, "scores", online_only=True)[0] == "scores"  # a name is always honoured


def test_the_example_request_file_only_for_the_example_endpoint(tmp_path: Path) -> None:
    assert request_file_for("mle-demo") == "examples/online/model-blue/sample-request.json"
    assert request_file_for("mle-k8s") == "examples/online/model-blue/sample-request.json"
    assert request_file_for("shop") == "request.json"
    assert request_file_for("mle-demo", root=tmp_path) == "request.json"  # no such file there
    # Each deployment of the example with its own sample request.
    assert (
        request_file_for("mle-demo", deployment="green") == "examples/online/model-green/sample-request.json"
    )
    assert request_file_for("mle-demo", deployment="teal") == "examples/online/model-blue/sample-request.json"
    assert request_file_for("shop", deployment="green") == "request.json"


def test_show_without_a_name_shows_every_endpoint(
    mixed: list[list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["show"]) == 0
    out = capsys.readouterr().out
    online, batch = out.split("\n\nendpoint:")
    assert online.startswith("endpoint:           shop\n")  # online endpoints first
    assert "shop-blue-0-ab: running/starting" in online and "-d @request.json" in online
    assert "sample-request.json" not in out
    assert batch.startswith("           scores (batch)\n")
    for line in (
        "invoke_uri:         http://127.0.0.1:2/jobs",
        "default deployment: linear",
        "deployment linear: Succeeded (last pulumi up); cluster nodes now:\n"
        "  scores-linear-node-1a2b: running",
        "deployment tree: Succeeded (last pulumi up); cluster nodes now:\n"
        "  none (nodes start when a job needs them)",
        "controller:\n  scores-controller: running, restarts 0",
        "agent:\n  scores-agent: running",
        "scripts/mle batch invoke scores --input <folder or file> --wait",
        '"InputData": {"input_data": {"JobInputType": "UriFolder"',
    ):
        assert line in batch, line
    assert main(["show", "scores"]) == 0
    assert capsys.readouterr().out.startswith("endpoint:           scores (batch)")


def test_invoke_and_logs_pick_the_only_online_endpoint(
    mixed: list[list[str]], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["logs", "--tail", "5"]) == 0
    assert mixed[-1] == ["docker", "logs", "--tail", "5", "shop-router"]
    assert main(["logs", "--agent"]) == 0
    assert mixed[-1][-1] == "shop-agent"
    assert main(["logs", "scores"]) == 0
    assert mixed[-1][-1] == "scores-controller"
    assert main(["logs", "scores", "--agent"]) == 0
    assert mixed[-1][-1] == "scores-agent"
    assert main(["logs", "scores", "--deployment", "linear"]) == 0
    assert mixed[-2][:2] == ["docker", "ps"] and "label=io.mlendpoints.role=node" in mixed[-2]
    assert mixed[-1][-1] == "scores-linear-node-1a2b"
    assert main(["logs", "scores", "--deployment", "nope"]) == 1
    assert "endpoint scores has no deployment 'nope'; deployments: linear, tree" in capsys.readouterr().err
    request = tmp_path / "r.json"
    request.write_text("{}")
    assert main(["invoke", "scores", "--request-file", str(request)]) == 1
    assert (
        "scores is a batch endpoint: start a job with `scripts/mle batch invoke scores"
        in capsys.readouterr().err
    )


def test_logs_refuse_what_they_cannot_honour_on_the_local_target(
    mixed: list[list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["logs", "shop", "--instance", "0"]) == 1
    assert "--instance picks one instance of a deployment: give --deployment D too" in capsys.readouterr().err
    assert main(["logs", "scores", "--deployment", "linear", "--instance", "0"]) == 1
    assert "scores is a batch endpoint: it has nodes, not instances" in capsys.readouterr().err
    assert not [call for call in mixed if call[:2] == ["docker", "logs"]]


@pytest.fixture
def on_kubernetes(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """A stack with the online `k8s-shop` on the Kubernetes target (blue: two pods); commands recorded."""
    outputs = {
        "k8s-shop.scoring_uri": "http://10.0.0.1:30080/score",
        "k8s-shop.target": "kubernetes",
        "k8s-shop.deployments": {"blue": "Succeeded"},
    }
    monkeypatch.setattr(endpoint_cli, "stack_outputs", lambda stack, secrets=False: outputs)
    pods = [
        k8s_status.PodState("blue-7f9-b", "blue", "running/ready", 0, ""),
        k8s_status.PodState("router-5c4-a", None, "running/ready", 0, ""),
        k8s_status.PodState("blue-7f9-a", "blue", "running/ready", 0, ""),
    ]
    monkeypatch.setattr(k8s_status, "endpoint_pods", lambda endpoint: pods)
    calls: list[list[str]] = []

    def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(subprocess, "run", run)
    return calls


def test_logs_on_kubernetes_take_one_pod_by_index_and_refuse_the_agent(
    on_kubernetes: list[list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    namespace = k8s_status.plan.namespace("k8s-shop")
    assert main(["logs", "--deployment", "blue", "--instance", "1", "--tail", "7"]) == 0
    assert on_kubernetes[-1] == [
        "kubectl", "-n", namespace, "logs", "blue-7f9-b", "--prefix", "--tail", "7"
    ]  # fmt: skip
    assert main(["logs", "--deployment", "blue"]) == 0
    assert on_kubernetes[-1][:4] == ["kubectl", "-n", namespace, "logs"] and "-l" in on_kubernetes[-1]
    calls = len(on_kubernetes)
    assert main(["logs", "--deployment", "blue", "--instance", "2"]) == 1
    assert "deployment blue has pods 0..1" in capsys.readouterr().err
    assert main(["logs", "--instance", "0"]) == 1
    assert "--instance picks one pod of a deployment: give --deployment D too" in capsys.readouterr().err
    assert main(["logs", "--agent"]) == 1
    assert "k8s-shop runs on Kubernetes, which has no endpoint agent" in capsys.readouterr().err
    assert len(on_kubernetes) == calls  # nothing run for what was refused


def test_token_picks_the_only_endpoint_that_takes_tokens(
    mixed: list[list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert verify_token("s" * 40, answer["accessToken"], audience="scores")
