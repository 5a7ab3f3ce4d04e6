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

PACK_DIR = Path(pack.__file__).resolve().parent
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
    "quota-fits": "mandatory",
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


def run_stack(policy: Any, resources: list[tuple[str, dict[str, Any]]], config: dict | None = None):
    found: list[tuple[str | None, str]] = []
    stack = [
        PolicyResource(t, unknown_checking_proxy(p), urn(t, f"r{i}"), f"r{i}", _opts(), None, None, [], {})
        for i, (t, p) in enumerate(resources)
    ]
    args = StackValidationArgs(stack, config)
    policy.validate(args, lambda message, urn=None: found.append((urn, message)))
    return found


def test_every_rule_is_wired_with_its_level(policies: dict[str, Any]) -> None:
    assert {name: p.enforcement_level.value for name, p in policies.items()} == EXPECTED
    for name, policy in policies.items():
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name)
        assert policy.description
        kind = StackValidationPolicy if name in ("quota-fits", "names-only-existing-deployments") else None
        assert isinstance(policy, kind or ResourceValidationPolicy)


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
