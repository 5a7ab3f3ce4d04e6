"""KubernetesTarget: which cluster, which registry, how callers reach it, and how it builds endpoints."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from components import environments
from components.specs import OnlineDeploymentSpec, OnlineEndpointSpec
from components.targets.contracts import DeploymentParts, EndpointBase, EndpointFront
from components.targets.kubernetes import images, online


@dataclass(frozen=True)
class KubernetesTarget:
    """Any Kubernetes cluster the kubeconfig reaches (an OnlineTarget, components/targets/contracts.py)."""

    registry: str = field(metadata={"description": "Registry the cluster pulls from, host:port (pushed to)."})
    node_address: str = field(
        metadata={"description": "Address of a node: the endpoints' NodePorts are there."}
    )
    provider: pulumi.ProviderResource | None = field(
        default=None, metadata={"description": "kubernetes provider."}
    )
    service_type: str = field(default="NodePort", metadata={"description": "NodePort or LoadBalancer."})
    router_replicas: int = field(default=1, metadata={"description": "Router pods per endpoint."})
    kubeconfig: str | None = field(default=None, metadata={"description": "kubeconfig file (kubectl's)."})
    context: str | None = field(default=None, metadata={"description": "kubeconfig context."})
    base_image: str = environments.DEFAULT_BASE_IMAGE
    ready_timeout_s: float = 300.0

    @property
    def name(self) -> str:
        return "kubernetes"

    def deployment_image(self, spec: OnlineDeploymentSpec) -> str:
        plan = online.deployment_image_plan(self, spec)
        return images.reference(self.registry, environments.image_tag(plan), online.layers(spec))

    def online_base(
        self, parent: pulumi.Resource, name: str, spec: OnlineEndpointSpec, key_rotation: int
    ) -> EndpointBase:
        return online.endpoint_base(self, parent, name, spec, key_rotation)

    def online_deployment(
        self, parent: pulumi.Resource, name: str, spec: OnlineDeploymentSpec, base: EndpointBase
    ) -> DeploymentParts:
        return online.deployment(self, parent, name, spec, base)

    def online_front(
        self,
        parent: pulumi.Resource,
        name: str,
        spec: OnlineEndpointSpec,
        deployments: dict[str, tuple[OnlineDeploymentSpec, DeploymentParts]],
        base: EndpointBase,
        depends_on: list[pulumi.Resource],
    ) -> EndpointFront:
        return online.endpoint_front(self, parent, name, spec, deployments, base, depends_on)
