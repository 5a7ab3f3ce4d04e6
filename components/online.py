"""OnlineEndpoint and OnlineDeployment components: specs in, a target builds them (no platform here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from components.specs import OnlineDeploymentSpec, OnlineEndpointSpec
from components.targets.contracts import DeploymentParts, EndpointBase, OnlineTarget


@dataclass(frozen=True)
class OnlineDeploymentArgs:
    """Inputs of OnlineDeployment (created by its endpoint, which places it)."""

    spec: OnlineDeploymentSpec
    base: EndpointBase
    target: OnlineTarget


def _deployment_props(spec: OnlineDeploymentSpec, target: OnlineTarget) -> dict[str, Any]:
    # What the policy pack reviews (policies/adapters.py reads these names).
    return {
        "name": spec.name,
        "endpoint_name": spec.endpoint_name,
        "instance_type": spec.instance_type,
        "instance_count": spec.effective_instance_count,
        "image": target.deployment_image(spec),
        "target": target.name,
        "request_settings": spec.request_settings.model_dump(mode="json"),
        "liveness_probe": spec.liveness_probe.model_dump(mode="json"),
        "readiness_probe": spec.readiness_probe.model_dump(mode="json"),
        "scale_settings": spec.scale_settings.model_dump(mode="json"),
    }


class OnlineDeployment(pulumi.ComponentResource):
    """One deployment: its image and `instance_count` instances, placed where its endpoint says."""

    instances: pulumi.Output[list[str]]
    container_names: pulumi.Output[list[str]]
    image: pulumi.Output[str]
    provisioning_state: pulumi.Output[str]

    def __init__(
        self, name: str, args: OnlineDeploymentArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        props = _deployment_props(args.spec, args.target)
        super().__init__("mlendpoints:online:OnlineDeployment", name, props, opts)
        self.parts: DeploymentParts = args.target.online_deployment(self, name, args.spec, args.base)
        self.instances = self.parts.instances
        self.container_names = self.parts.names
        self.image = self.parts.image
        self.provisioning_state = self.parts.provisioning_state
        # The props stay among the outputs: stack policies see a component's outputs only.
        self.register_outputs(
            {
                **props,
                "instances": self.instances,
                "container_names": self.container_names,
                "image": self.image,
                "provisioning_state": self.provisioning_state,
            }
        )


@dataclass(frozen=True)
class OnlineEndpointArgs:
    """Inputs of OnlineEndpoint: the endpoint spec, its deployments' specs, and the target."""

    endpoint: OnlineEndpointSpec
    deployments: tuple[OnlineDeploymentSpec, ...]
    target: OnlineTarget
    key_rotation: int = 0


def _endpoint_props(spec: OnlineEndpointSpec, target: OnlineTarget) -> dict[str, Any]:
    return {
        "name": spec.name,
        "auth_mode": spec.auth_mode,
        "traffic": dict(spec.traffic),
        "mirror_traffic": dict(spec.mirror_traffic),
        "public_network_access": spec.public_network_access,
        "target": target.name,
    }


class OnlineEndpoint(pulumi.ComponentResource):
    """A stable scoring URL with key/token auth in front of its deployments, with traffic and mirroring.

    Order, as on every target: placement and keys, then the deployments, then traffic (the router's
    config, which names every deployment's instances), then the router that serves it.
    """

    scoring_uri: pulumi.Output[str]
    swagger_uri: pulumi.Output[str]
    provisioning_state: pulumi.Output[str]
    primary_key: pulumi.Output[str]
    secondary_key: pulumi.Output[str]
    token_secret: pulumi.Output[str]
    deployment_states: pulumi.Output[dict[str, str]]
    router_container: pulumi.Output[str]
    agent_container: pulumi.Output[str]

    def __init__(
        self, name: str, args: OnlineEndpointArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        spec, target = args.endpoint, args.target
        props = _endpoint_props(spec, target)
        super().__init__("mlendpoints:online:OnlineEndpoint", name, props, opts)
        base = target.online_base(self, name, spec, args.key_rotation)
        deployments = {
            d.name: OnlineDeployment(
                f"{name}-{d.name}", OnlineDeploymentArgs(d, base, target), pulumi.ResourceOptions(parent=self)
            )
            for d in args.deployments
        }
        front = target.online_front(
            self,
            name,
            spec,
            {d.name: (d, deployments[d.name].parts) for d in args.deployments},
            base,
            depends_on=list(deployments.values()),
        )
        self.scoring_uri = front.scoring_uri
        self.swagger_uri = front.swagger_uri
        self.provisioning_state = front.provisioning_state
        self.primary_key = base.primary_key
        self.secondary_key = base.secondary_key
        self.token_secret = base.token_secret
        self.deployment_states = pulumi.Output.all(
            **{n: d.provisioning_state for n, d in deployments.items()}
        ).apply(dict)
        self.router_container = front.router
        self.agent_container = front.agent
        self.register_outputs(
            {
                **props,
                "scoring_uri": self.scoring_uri,
                "swagger_uri": self.swagger_uri,
                "provisioning_state": self.provisioning_state,
                "primary_key": self.primary_key,
                "secondary_key": self.secondary_key,
                "token_secret": self.token_secret,
                "deployment_states": self.deployment_states,
                "router_container": self.router_container,
                "agent_container": self.agent_container,
            }
        )
