"""The mlendpoints policy pack: wires the pure rules in policies.rules into pulumi_policy objects."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

try:
    from policies import adapters, batch_rules, rules
except ModuleNotFoundError:  # run by `pulumi` from a checkout that is not installed in the pack's venv
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from policies import adapters, batch_rules, rules

MANDATORY = EnforcementLevel.MANDATORY
ADVISORY = EnforcementLevel.ADVISORY
ENDPOINTS = ("online_endpoint", "batch_endpoint")
NAMED = (*ENDPOINTS, "online_deployment", "batch_deployment", "compute_cluster")
PROBED = ("online_deployment", "k8s_workload")
BATCH = ("batch_deployment",)
IMAGED = ("online_deployment", "batch_deployment", "k8s_workload", "container", "image")
EXPOSED = (*ENDPOINTS, "compute_cluster", "k8s_service", "container")
JSON_TYPES = MappingProxyType({bool: "boolean", int: "integer", float: "number", str: "string"})


def plain(value: Any) -> Any:
    """The engine's proxied props as plain dicts and lists, with unknowns as adapters.UNKNOWN."""
    if isinstance(value, Mapping):
        out = {}
        for key in value:
            try:
                out[key] = plain(value[key])
            except UnknownValueError:
                out[key] = adapters.UNKNOWN
        return out
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        items = []
        for i in range(len(value)):
            try:
                items.append(plain(value[i]))
            except UnknownValueError:
                items.append(adapters.UNKNOWN)
        return items
    return value


def _options(rule: Callable[..., Any]) -> dict[str, Any]:
    """The rule's keyword options and their defaults: these are the policy's config keys."""
    params = list(inspect.signature(rule).parameters.values())[1:]
    return {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}


def _schema(rule: Callable[..., Any]) -> PolicyConfigSchema | None:
    props: dict[str, dict[str, Any]] = {}
    for key, default in _options(rule).items():
        if isinstance(default, tuple):
            props[key] = {"type": "array", "items": {"type": "string"}, "default": list(default)}
        else:
            props[key] = {"type": JSON_TYPES[type(default)], "default": default}
    return PolicyConfigSchema(properties=props) if props else None


def _kwargs(rule: Callable[..., Any], config: Mapping[str, Any]) -> dict[str, Any]:
    # Policy config arrives through protobuf Struct, where every number is a float: restore the types.
    options = _options(rule)
    return {k: type(options[k])(v) for k, v in config.items() if k in options and v is not None}


def _describe(rule: Callable[..., Any], name: str) -> str:
    # Docstrings that wrap become one line, as the engine prints descriptions.
    return " ".join((rule.__doc__ or name).split())


def resource_policy(
    name: str, level: EnforcementLevel, kinds: Sequence[str], rule: Callable[..., list[str]]
) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        resource = adapters.adapt(args.resource_type, plain(args.props), args.urn, args.name)
        if resource is None or resource["kind"] not in kinds:
            return
        for message in rule(resource, **_kwargs(rule, args.get_config())):
            report(message, None)

    return ResourceValidationPolicy(
        name=name,
        description=_describe(rule, name),
        validate=validate,
        enforcement_level=level,
        config_schema=_schema(rule),
    )


def _stack_resources(args: StackValidationArgs) -> list[dict[str, Any]]:
    found = (adapters.adapt(r.resource_type, plain(r.props), r.urn, r.name) for r in args.resources)
    return [r for r in found if r is not None]


def stack_policy(
    name: str, level: EnforcementLevel, rule: Callable[..., list[rules.Finding]]
) -> StackValidationPolicy:
    """A rule over the whole stack (cross-resource references); findings land on their resources."""

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        for urn, message in rule(_stack_resources(args), **_kwargs(rule, args.get_config())):
            report(message, urn)

    return StackValidationPolicy(
        name=name,
        description=_describe(rule, name),
        validate=validate,
        enforcement_level=level,
        config_schema=_schema(rule),
    )


def _quota_fits(args: StackValidationArgs, report: ReportViolation) -> None:
    config = args.get_config()
    checks = [plain(r.props) for r in args.resources if r.resource_type == "mlendpoints:quota:QuotaCheck"]
    limits = rules.quota_limits(config, checks)
    if limits is None:
        args.not_applicable("no quota limits: set them in this policy's config or create a QuotaCheck")
        return
    for urn, message in rules.quota_fits(_stack_resources(args), limits, str(config.get("target") or "")):
        report(message, urn)


def quota_schema() -> PolicyConfigSchema:
    return PolicyConfigSchema(
        properties={
            "family_cores": {"type": "object", "additionalProperties": {"type": "integer"}},
            "total_cores": {"type": "number"},
            "total_memory_gb": {"type": "number"},
            "low_priority_cores": {"type": "integer"},
            "target": {"type": "string", "enum": ["azure", "local", "kubernetes"]},
        }
    )


def build_policies() -> list[Policy]:
    return [
        resource_policy("traffic-sums-to-100", MANDATORY, ("online_endpoint",), rules.traffic_sums_to_100),
        resource_policy("mirror-at-most-50", MANDATORY, ("online_endpoint",), rules.mirror_at_most_50),
        resource_policy("auth-enabled", MANDATORY, ENDPOINTS, rules.auth_enabled),
        resource_policy("valid-names", MANDATORY, NAMED, rules.valid_names),
        resource_policy(
            "production-min-instances", MANDATORY, ("online_deployment",), rules.production_min_instances
        ),
        resource_policy("min-instances", ADVISORY, ("online_deployment",), rules.nonproduction_min_instances),
        resource_policy("images-pinned", MANDATORY, IMAGED, rules.images_pinned),
        resource_policy(
            "request-timeout-in-bounds", MANDATORY, ("online_deployment",), rules.request_timeout_in_bounds
        ),
        resource_policy("probe-settings-in-bounds", ADVISORY, PROBED, rules.probe_settings_in_bounds),
        resource_policy("k8s-resource-limits", MANDATORY, ("k8s_workload",), rules.k8s_resource_limits),
        resource_policy("no-public-network-access", MANDATORY, EXPOSED, rules.no_public_network_access),
        stack_policy("names-only-existing-deployments", MANDATORY, rules.names_only_existing_deployments),
        resource_policy("batch-settings-valid", MANDATORY, BATCH, batch_rules.batch_settings_valid),
        resource_policy(
            "batch-retry-settings-in-bounds", ADVISORY, BATCH, batch_rules.batch_retry_settings_in_bounds
        ),
        resource_policy(
            "batch-error-threshold-in-production", ADVISORY, BATCH, batch_rules.production_error_threshold
        ),
        stack_policy("batch-instances-within-cluster", MANDATORY, batch_rules.batch_instances_within_cluster),
        stack_policy("batch-compute-exists", MANDATORY, batch_rules.batch_compute_exists),
        stack_policy(
            "batch-default-deployment-exists", MANDATORY, batch_rules.batch_default_deployment_exists
        ),
        stack_policy(
            "batch-low-priority-in-production", ADVISORY, batch_rules.batch_low_priority_in_production
        ),
        StackValidationPolicy(
            name="quota-fits",
            description=(rules.quota_fits.__doc__ or "").strip(),
            validate=_quota_fits,
            enforcement_level=MANDATORY,
            config_schema=quota_schema(),
        ),
    ]


if __name__ == "__main__":
    # Serves the pack over gRPC until the engine stops it; this is how `pulumi` runs Python packs.
    PolicyPack(name="mlendpoints", policies=build_policies(), enforcement_level=ADVISORY)
