"""The pack's wiring: policies build, read config and proxied props, and serve over the analyzer protocol."""

# ruff: noqa: RUF001 - the quota messages print a real multiplication sign

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy import (
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.policy import PolicyCustomTimeouts, _NotApplicableError
from pulumi_policy.proxy import UNKNOWN_NUMBER_VALUE, unknown_checking_proxy

from policies import __main__ as pack
from policies.adapters import UNKNOWN
from tests.policies import component_shapes
from tests.policies.component_shapes import CLUSTER, batch_component_props, example
from tests.policies.sdk_shapes import all_shapes

PACK_DIR = Path(pack.__file__).resolve().parent
BATCH_ENDPOINT, BATCH_DEPLOYMENT = component_shapes.ENDPOINT, component_shapes.DEPLOYMENT
AZ = "azure-native:machinelearningservices:"
EXPECTED = {
    "traffic-sums-to-100": "mandatory",
    "names-only-existing-deployments": "mandatory",
    "mirror-at-most-50": "mandatory",
    "auth-enabled": "mandatory",
    "valid-names": "mandatory",
    "production-min-instances": "mandatory",
    "min-instances": "advisory",
    "images-pinned": "mandatory",
    "request-timeout-in-bounds": "mandatory",
    "probe-settings-in-bounds": "advisory",
    "k8s-resource-limits": "mandatory",
    "no-public-network-access": "mandatory",
    "batch-settings-valid": "mandatory",
    "batch-retry-settings-in-bounds": "advisory",
    "batch-error-threshold-in-production": "advisory",
    "batch-instances-within-cluster": "mandatory",
    "batch-compute-exists": "mandatory",
    "batch-default-deployment-exists": "mandatory",
    "batch-low-priority-in-production": "advisory",
    "quota-fits": "mandatory",
}
STACK_POLICIES = {
    "names-only-existing-deployments",
    "batch-instances-within-cluster",
    "batch-compute-exists",
    "batch-default-deployment-exists",
    "batch-low-priority-in-production",
    "quota-fits",
}


@pytest.fixture(scope="module")
def policies() -> dict[str, Any]:
    return {p.name: p for p in pack.build_policies()}


def urn(type_: str, name: str, stack: str = "dev") -> str:
    return f"urn:pulumi:{stack}::proj::{type_}::{name}"


def _opts() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def run_resource(
    policy: Any, type_: str, props: dict[str, Any], config: dict | None = None, stack: str = "dev"
):
    found: list[str] = []
    args = ResourceValidationArgs(
        type_, unknown_checking_proxy(props), urn(type_, "r", stack), "r", _opts(), None, config
    )
    policy.validate(args, lambda message, urn=None: found.append(message))
    return found


def run_stack(
    policy: Any, resources: list[tuple[str, dict[str, Any]]], config: dict | None = None, stack: str = "dev"
):
    found: list[tuple[str | None, str]] = []
    stack_resources = [
        PolicyResource(
            t, unknown_checking_proxy(p), urn(t, f"r{i}", stack), f"r{i}", _opts(), None, None, [], {}
        )
        for i, (t, p) in enumerate(resources)
    ]
    args = StackValidationArgs(stack_resources, config)
    policy.validate(args, lambda message, urn=None: found.append((urn, message)))
    return found


def test_every_rule_is_wired_with_its_level(policies: dict[str, Any]) -> None:
    assert {name: p.enforcement_level.value for name, p in policies.items()} == EXPECTED
    for name, policy in policies.items():
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name)
        assert policy.description
        kind = StackValidationPolicy if name in STACK_POLICIES else ResourceValidationPolicy
        assert isinstance(policy, kind)


def test_config_keys_come_from_rule_options(policies: dict[str, Any]) -> None:
    schema = policies["production-min-instances"].config_schema.properties
    assert schema == {
        "min_instances": {"type": "integer", "default": 3},
        "production_pattern": {"type": "string", "default": r"^(prod|production)([-_.].*)?$"},
    }
    assert policies["images-pinned"].config_schema.properties["forbidden_tags"] == {
        "type": "array",
        "items": {"type": "string"},
        "default": ["latest"],
    }
    assert set(policies["quota-fits"].config_schema.properties) == {
        "family_cores",
        "total_cores",
        "total_memory_gb",
        "low_priority_cores",
        "target",
    }


def test_plain_unwraps_proxies_and_marks_unknowns() -> None:
    props = unknown_checking_proxy({"a": {"b": [1, UNKNOWN_NUMBER_VALUE]}, "c": UNKNOWN_NUMBER_VALUE})
    assert pack.plain(props) == {"a": {"b": [1, UNKNOWN]}, "c": UNKNOWN}


def test_resource_policy_reports_violations(policies: dict[str, Any]) -> None:
    props = {"endpointName": "churn", "properties": {"authMode": "None", "traffic": {"blue": 100.0}}}
    assert run_resource(policies["auth-enabled"], AZ + "OnlineEndpoint", props) == [
        "endpoint 'churn' has auth_mode 'none'; use one of key, aml_token, aad_token"
    ]
    assert run_resource(policies["traffic-sums-to-100"], AZ + "OnlineEndpoint", props) == []


def test_resource_policy_ignores_other_kinds(policies: dict[str, Any]) -> None:
    assert run_resource(policies["auth-enabled"], "docker:index/image:Image", {"imageName": "x"}) == []


def test_config_numbers_get_back_their_types(policies: dict[str, Any]) -> None:
    props = {"name": "blue", "endpoint_name": "churn", "instance_count": 4.0}
    found = run_resource(
        policies["production-min-instances"],
        "mlendpoints:online:OnlineDeployment",
        props,
        {"min_instances": 5.0, "unrelated": True},
        stack="prod",
    )
    assert found == ["deployment 'blue' runs 4 instance(s) on stack 'prod'; use at least 5"]


def test_unknown_props_do_not_fail_the_policy(policies: dict[str, Any]) -> None:
    props = {"name": "blue", "instance_count": UNKNOWN_NUMBER_VALUE, "request_settings": UNKNOWN_NUMBER_VALUE}
    for name in ("production-min-instances", "request-timeout-in-bounds", "valid-names"):
        assert run_resource(policies[name], "mlendpoints:online:OnlineDeployment", props, stack="prod") == []


def test_stack_policy_checks_traffic_names(policies: dict[str, Any]) -> None:
    resources = [
        (
            "mlendpoints:online:OnlineEndpoint",
            {"name": "churn", "auth_mode": "key", "traffic": {"green": 100.0}},
        ),
        ("mlendpoints:online:OnlineDeployment", {"name": "blue", "endpoint_name": "churn"}),
    ]
    [(where, message)] = run_stack(policies["names-only-existing-deployments"], resources)
    assert where == urn("mlendpoints:online:OnlineEndpoint", "r0")
    assert message == "endpoint 'churn' traffic names 'green', which is not one of its deployments (blue)"


DEPLOYMENT = (
    "mlendpoints:online:OnlineDeployment",
    {"name": "blue", "endpoint_name": "churn", "instance_type": "Standard_DS3_v2", "instance_count": 10.0},
)


def test_quota_policy_uses_config_limits(policies: dict[str, Any]) -> None:
    found = run_stack(policies["quota-fits"], [DEPLOYMENT], {"family_cores": {"standardDSv2Family": 40.0}})
    assert found == [(None, "needs 48 cores of standardDSv2Family: ceil(1.2×10)=12 × 4; available 40")]


def test_quota_policy_falls_back_to_a_quota_check_in_the_stack(policies: dict[str, Any]) -> None:
    check = ("mlendpoints:quota:QuotaCheck", {"limits": {"family_cores": {"standardDSv2Family": 48.0}}})
    assert run_stack(policies["quota-fits"], [DEPLOYMENT, check], {"target": "azure"}) == []


def test_quota_policy_without_limits_is_not_applicable(policies: dict[str, Any]) -> None:
    with pytest.raises(_NotApplicableError) as err:
        run_stack(policies["quota-fits"], [DEPLOYMENT])
    assert "no quota limits" in (err.value.reason or "")


Registered = list[tuple[str, dict[str, Any]]]


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """What components/batch.py registers (type, props) for the example batch stack, keys replaced."""
    state = tmp_path_factory.mktemp("state")
    return lambda **overrides: batch_component_props(state, example(**overrides))


def batch_findings(
    policies: dict[str, Any], resources: Registered, stack: str = "dev", config: dict | None = None
):
    """Every finding of every batch-related policy, by policy name."""
    found: dict[str, list[str]] = {}
    for name, policy in policies.items():
        if name == "quota-fits":
            continue
        if isinstance(policy, StackValidationPolicy):
            messages = [m for _, m in run_stack(policy, resources, (config or {}).get(name), stack)]
        else:
            messages = [
                m for t, p in resources for m in run_resource(policy, t, p, (config or {}).get(name), stack)
            ]
        if messages:
            found[name] = messages
    return found


def test_example_batch_stack_passes_every_policy(policies: dict[str, Any], registered: Any) -> None:
    resources = registered()
    assert [t for t, _ in resources] == [CLUSTER, BATCH_ENDPOINT, BATCH_DEPLOYMENT]
    assert batch_findings(policies, resources, stack="local") == {}
    assert run_stack(policies["quota-fits"], resources, {"total_cores": 16.0}) == []


def test_batch_deployment_beyond_its_cluster_is_refused(policies: dict[str, Any], registered: Any) -> None:
    # The spec layer accepts it (each file is valid on its own); only the pack compares the two.
    resources = registered(deployments={"resources": {"instance_count": 3}})
    [(where, message)] = run_stack(policies["batch-instances-within-cluster"], resources)
    assert where == urn(BATCH_DEPLOYMENT, "r2")
    assert message.startswith(
        "batch deployment 'mle-batch/linear' asks for 3 instances (resources.instance_count) but compute "
        "cluster 'cpu-cluster' has at most 2 (max_instances)"
    )
    assert list(batch_findings(policies, resources)) == ["batch-instances-within-cluster"]


def test_default_deployment_and_compute_must_be_in_the_stack(
    policies: dict[str, Any], registered: Any
) -> None:
    # The local stack config refuses both mistakes before any component exists, so the props the
    # components register are edited here: the pack is the second line for stacks built another way.
    cluster, endpoint, deployment = registered()
    renamed = (CLUSTER, cluster[1] | {"name": "gpu-cluster"})
    retargeted = (BATCH_ENDPOINT, endpoint[1] | {"default_deployment": "linear-v2"})
    found = batch_findings(policies, [renamed, retargeted, deployment])
    assert found == {
        "batch-compute-exists": [
            "batch deployment 'mle-batch/linear' runs on compute 'cpu-cluster', which is not a compute "
            "cluster of this stack (clusters: gpu-cluster); on the local target jobs run only on the "
            "stack's own clusters"
        ],
        "batch-default-deployment-exists": [
            "batch endpoint 'mle-batch' default deployment 'linear-v2' is not one of its deployments "
            "(linear); invocations that name no deployment would fail"
        ],
    }


def test_production_batch_on_low_priority_without_error_threshold_is_warned(
    policies: dict[str, Any], registered: Any
) -> None:
    resources = registered(computes={"tier": "low_priority"})
    found = batch_findings(policies, resources, stack="prod")
    assert set(found) == {"batch-low-priority-in-production", "batch-error-threshold-in-production"}
    assert "runs on low-priority cluster 'cpu-cluster'" in found["batch-low-priority-in-production"][0]
    assert (
        "has error_threshold -1 on production stack 'prod'" in found["batch-error-threshold-in-production"][0]
    )
    assert {policies[name].enforcement_level.value for name in found} == {"advisory"}
    assert batch_findings(policies, resources, stack="local") == {}
    config = {"batch-low-priority-in-production": {"production_pattern": "nothing"}}
    assert "batch-low-priority-in-production" not in batch_findings(policies, resources, "prod", config)


def test_batch_retry_bounds_are_configurable(policies: dict[str, Any], registered: Any) -> None:
    settings = {"retry_settings": {"timeout": 100_000, "max_retries": 3}, "error_threshold": 0}
    resources = registered(deployments={"settings": settings})
    assert batch_findings(policies, resources, stack="prod") == {
        "batch-retry-settings-in-bounds": [
            "batch deployment 'mle-batch/linear' retry_settings.timeout is 100000 s per mini-batch; "
            "keep it within 1 to 86400 s"
        ]
    }
    config = {"batch-retry-settings-in-bounds": {"max_timeout_s": 172_800.0}}
    assert batch_findings(policies, resources, "prod", config) == {}


def test_raw_azure_batch_resources_are_reviewed(policies: dict[str, Any]) -> None:
    shapes = all_shapes()
    deployment = shapes["azure-batch-deployment"]
    bad = deployment | {"properties": deployment["properties"] | {"errorThreshold": -5.0}}
    assert run_resource(policies["batch-settings-valid"], AZ + "BatchDeployment", bad) == [
        "batch deployment 'scoring/nightly' error_threshold is -5; it must be at least -1 "
        "(-1 ignores every failure)"
    ]
    compute = (AZ + "Compute", shapes["azure-compute"])  # cpu-cluster: low priority, at most 4 nodes
    resources = [compute, (AZ + "BatchEndpoint", shapes["azure-batch"]), (AZ + "BatchDeployment", deployment)]
    [(_, message)] = run_stack(policies["batch-instances-within-cluster"], resources)
    assert "asks for 5 instances" in message and "cluster 'cpu-cluster' has at most 4" in message
    # On Azure the compute may be a workspace cluster outside the stack; the endpoint's default must exist.
    assert run_stack(policies["batch-compute-exists"], resources[1:]) == []
    assert run_stack(policies["batch-default-deployment-exists"], resources) == []
    [(_, message)] = run_stack(policies["batch-default-deployment-exists"], resources[:2])
    assert message.startswith(
        "batch endpoint 'scoring' default deployment 'nightly' is not one of its deployments"
    )


def test_batch_names_are_validated(policies: dict[str, Any], registered: Any) -> None:
    cluster, endpoint, deployment = registered()
    assert run_resource(policies["valid-names"], *deployment) == []
    renamed = [
        (CLUSTER, cluster[1] | {"name": "c"}),
        (BATCH_ENDPOINT, endpoint[1] | {"name": "9batch"}),
        (BATCH_DEPLOYMENT, deployment[1] | {"name": "linear_v2"}),
    ]
    found = [m for t, p in renamed for m in run_resource(policies["valid-names"], t, p)]
    assert [m.split(" is invalid")[0] for m in found] == [
        "compute cluster name 'c'",
        "batch endpoint name '9batch'",
        "batch deployment name 'linear_v2'",
    ]


def test_batch_images_are_pinned(policies: dict[str, Any], registered: Any) -> None:
    *_, deployment = registered()
    assert run_resource(policies["images-pinned"], *deployment) == []
    moving = deployment[1] | {"image": "mlendpoints/serving:latest"}
    assert run_resource(policies["images-pinned"], BATCH_DEPLOYMENT, moving) == [
        "image 'mlendpoints/serving:latest' uses the moving tag 'latest'; pin a digest or a content tag"
    ]


# quota-fits: compute clusters as the ComputeCluster component registers them
def test_quota_counts_the_component_cluster_at_max_instances(
    policies: dict[str, Any], registered: Any
) -> None:
    resources = registered(computes={"max_instances": 8})  # Standard_DS2_v2: 2 cores, 7 GB
    found = run_stack(policies["quota-fits"], resources, {"total_cores": 12.0, "total_memory_gb": 64.0})
    assert found == [(None, "needs 16 cores in total: max 8 × 2; available 12")]
    # Beside an online deployment: the sum of both, each term named.
    assert run_stack(policies["quota-fits"], [*resources, DEPLOYMENT], {"total_cores": 56.0}) == []
    assert run_stack(policies["quota-fits"], [*resources, DEPLOYMENT], {"total_cores": 55.0}) == [
        (None, "needs 56 cores in total: 10 × 4 [blue] + max 8 × 2 [cpu-cluster]; available 55")
    ]


def test_quota_counts_a_local_low_priority_cluster_against_the_machine(
    policies: dict[str, Any], registered: Any
) -> None:
    resources = registered(computes={"max_instances": 8, "tier": "low_priority"})
    found = run_stack(policies["quota-fits"], resources, {"total_cores": 12.0, "low_priority_cores": 100.0})
    assert found == [(None, "needs 16 cores in total: max 8 × 2; available 12")]


def test_quota_counts_an_azure_low_priority_cluster_apart(policies: dict[str, Any]) -> None:
    compute = (AZ + "Compute", all_shapes()["azure-compute"])  # Standard_DS3_v2 low priority, max 4
    config = {"family_cores": {"standardDSv2Family": 4.0}, "low_priority_cores": 8.0}
    assert run_stack(policies["quota-fits"], [compute], config) == [
        (None, "needs 16 low-priority cores: max 4 × 4; available 8")
    ]
    assert run_stack(policies["quota-fits"], [compute], config | {"low_priority_cores": 16.0}) == []


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(value)
    return out


@pytest.fixture(scope="module")
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    """The pack served the way `pulumi preview --policy-pack policies` runs it: python -m pulumi.policy."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    # From outside the checkout, so the pack has to find `policies` and `components` on its own.
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", str(PACK_DIR)],
        cwd="/",
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        port = proc.stdout.readline().decode().strip()
        if not port.isdigit():
            raise AssertionError(
                f"pack did not start: {port!r} {proc.stderr.read().decode() if proc.stderr else ''}"
            )
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_served_pack_describes_its_policies(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == "mlendpoints"
    levels = {p.name: analyzer_pb2.EnforcementLevel.Name(p.enforcementLevel).lower() for p in info.policies}
    assert levels == EXPECTED
    assert analyzer.GetPluginInfo(empty_pb2.Empty()).version


def test_served_pack_fails_mandatory_rules_by_name(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    request = analyzer_pb2.AnalyzeRequest(
        type=AZ + "OnlineEndpoint",
        name="ep",
        urn=urn(AZ + "OnlineEndpoint", "ep"),
        properties=_struct(
            {"endpointName": "churn", "properties": {"authMode": "None", "traffic": {"blue": 70}}}
        ),
    )
    diagnostics = analyzer.Analyze(request).diagnostics
    named = {(d.policyName, analyzer_pb2.EnforcementLevel.Name(d.enforcementLevel)) for d in diagnostics}
    assert named == {("auth-enabled", "MANDATORY"), ("traffic-sums-to-100", "MANDATORY")}


def test_served_pack_checks_quota_with_stack_config(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    config = analyzer_pb2.PolicyConfig(
        enforcementLevel=analyzer_pb2.MANDATORY,
        properties=_struct({"family_cores": {"standardDSv2Family": 40}}),
    )
    analyzer.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig={"quota-fits": config}))
    resource = analyzer_pb2.AnalyzerResource(
        type=DEPLOYMENT[0], name="blue", urn=urn(DEPLOYMENT[0], "blue"), properties=_struct(DEPLOYMENT[1])
    )
    diagnostics = analyzer.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=[resource])).diagnostics
    [quota] = [d for d in diagnostics if d.policyName == "quota-fits"]
    assert "needs 48 cores of standardDSv2Family: ceil(1.2×10)=12 × 4; available 40" in quota.message
    assert quota.enforcementLevel == analyzer_pb2.MANDATORY


def test_served_pack_refuses_a_batch_deployment_beyond_its_cluster(
    analyzer: analyzer_pb2_grpc.AnalyzerStub, registered: Any
) -> None:
    resources = [
        analyzer_pb2.AnalyzerResource(type=t, name=f"r{i}", urn=urn(t, f"r{i}"), properties=_struct(p))
        for i, (t, p) in enumerate(registered(deployments={"resources": {"instance_count": 3}}))
    ]
    diagnostics = analyzer.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=resources)).diagnostics
    [found] = [d for d in diagnostics if d.policyName == "batch-instances-within-cluster"]
    assert found.enforcementLevel == analyzer_pb2.MANDATORY
    assert found.urn == urn(BATCH_DEPLOYMENT, "r2")
    assert "asks for 3 instances" in found.message
