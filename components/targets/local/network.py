"""Local Docker target: turns validated specs into Docker resources on this machine's engine."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from components.targets.local.docker_resources import DockerNetwork


def network_name(endpoint_name: str) -> str:
    """Docker network of one endpoint; the router and every scorer instance of it join this network."""
    return f"mle-{endpoint_name}"


@dataclass(frozen=True)
class EndpointNetworkArgs:
    """Inputs of EndpointNetwork."""

    endpoint_name: str
    labels: dict[str, str] = field(default_factory=dict)


class EndpointNetwork(pulumi.ComponentResource):
    """The private bridge network an endpoint's router and scorer containers share."""

    network_name: pulumi.Output[str]
    network_id: pulumi.Output[str]

    def __init__(
        self, name: str, args: EndpointNetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlendpoints:local:EndpointNetwork", name, None, opts)
        net = DockerNetwork(
            f"{name}-network",
            name=network_name(args.endpoint_name),
            labels={"io.mlendpoints.endpoint": args.endpoint_name, **args.labels},
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.network_name = net.name
        self.network_id = net.network_id
        self.register_outputs({"network_name": self.network_name, "network_id": self.network_id})
