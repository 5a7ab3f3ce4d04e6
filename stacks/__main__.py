"""The mlendpoints Pulumi program: stack config -> validated specs -> components -> exports."""

import os
from pathlib import Path

import pulumi
import pydantic

from components.errors import SpecError
from components.online import LocalTarget, OnlineEndpoint, OnlineEndpointArgs
from components.quota import QuotaCheck, QuotaCheckArgs, QuotaLimits, demands_from_stack
from components.stack_config import load_stack_config

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    config = pulumi.Config("mlendpoints")
    target = config.get("target") or "local"
    stack = load_stack_config(config.get_object("serving"), base_dir=PROJECT_ROOT, target=target)
    quota = QuotaCheck(
        "quota",
        QuotaCheckArgs(
            demands=demands_from_stack(stack, target),
            limits=QuotaLimits(**(config.get_object("quota") or {})),
        ),
    )
    cache = Path(os.environ.get("MLENDPOINTS_CACHE", Path.home() / ".cache" / "mlendpoints"))
    local = LocalTarget(
        state_dir=cache / "endpoints" / f"{pulumi.get_project()}-{pulumi.get_stack()}",
        router_port=config.get_int("router_port") or 0,
    )
    ports = config.get_object("router_ports") or {}
    for group in stack.online:
        endpoint = OnlineEndpoint(
            group.endpoint.name,
            OnlineEndpointArgs(
                endpoint=group.endpoint,
                deployments=tuple(group.deployments),
                target=LocalTarget(local.state_dir, int(ports.get(group.endpoint.name, local.router_port))),
                key_rotation=config.get_int("key_rotation") or 0,
            ),
            pulumi.ResourceOptions(depends_on=[quota]),
        )
        prefix = group.endpoint.name
        pulumi.export(f"{prefix}.scoring_uri", endpoint.scoring_uri)
        pulumi.export(f"{prefix}.swagger_uri", endpoint.swagger_uri)
        pulumi.export(f"{prefix}.provisioning_state", endpoint.provisioning_state)
        pulumi.export(f"{prefix}.primary_key", endpoint.primary_key)
        pulumi.export(f"{prefix}.secondary_key", endpoint.secondary_key)
        pulumi.export(f"{prefix}.auth_mode", group.endpoint.auth_mode)
        if group.endpoint.auth_mode != "key":
            # Signs the endpoint's tokens (`scripts/mle token`); a secret like the keys.
            pulumi.export(f"{prefix}.token_secret", endpoint.token_secret)
        pulumi.export(f"{prefix}.deployments", endpoint.deployment_states)
        pulumi.export(f"{prefix}.traffic", dict(group.endpoint.traffic))
        pulumi.export(f"{prefix}.router_container", endpoint.router_container)


try:
    main()
except SpecError as exc:
    # A bad spec is the user's input, not our bug: the problems, no traceback.
    raise pulumi.RunError(f"invalid mlendpoints configuration:\n{exc}") from None
except pydantic.ValidationError as exc:
    problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    raise pulumi.RunError(f"invalid mlendpoints:quota config: {problems}") from None
