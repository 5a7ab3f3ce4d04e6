"""What every target's router serves: its config (from the deployments' instances) and its keys."""

from __future__ import annotations

from typing import Any

import pulumi

from components.router_plan import router_config
from components.specs import OnlineDeploymentSpec, OnlineEndpointSpec
from components.targets.contracts import DeploymentParts, EndpointBase


def router_inputs(
    spec: OnlineEndpointSpec,
    deployments: dict[str, tuple[OnlineDeploymentSpec, DeploymentParts]],
    base: EndpointBase,
) -> tuple[pulumi.Output[dict[str, Any]], pulumi.Output[dict[str, Any]]]:
    """(config, secrets) of the endpoint's router, once every deployment's instances are known."""
    # Output.all() of no outputs is a list, not a dict: an endpoint may have no deployments yet.
    instances = (
        pulumi.Output.all(**{n: parts.instances for n, (_, parts) in deployments.items()})
        if deployments
        else pulumi.Output.from_input({})
    )
    specs = [d for d, _ in deployments.values()]
    timeouts = {d.name: d.request_settings.request_timeout_ms for d in specs}
    request_logs = {d.name: d.app_insights_enabled for d in specs}
    config = instances.apply(
        lambda found: router_config(
            spec.name, spec.auth_mode, found, timeouts, spec.traffic, spec.mirror_traffic, request_logs
        )
    )
    secrets = pulumi.Output.all(base.primary_key, base.secondary_key, base.token_secret).apply(
        lambda k: {"primary_key": k[0], "secondary_key": k[1], "token_secret": k[2]}
    )
    return config, secrets
