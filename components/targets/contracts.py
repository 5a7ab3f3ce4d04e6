"""What a target builds for the target-neutral components, and hands back to them.

A component (components/online.py, components/batch.py) knows no platform: it validates nothing,
creates its children through its target, and exposes what the target returns as its outputs.
Each target package (components/targets/local/, later kubernetes/ and azure/) implements these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import pulumi

if TYPE_CHECKING:
    from components.pipeline_plans import PipelinePlan

from components.specs import (
    AmlComputeSpec,
    BatchEndpointSpec,
    ModelBatchDeploymentSpec,
    OnlineDeploymentSpec,
    OnlineEndpointSpec,
)


@dataclass(frozen=True)
class DeploymentParts:
    """A deployment as its endpoint's router addresses it."""

    instances: pulumi.Output[list[str]]  # host:port of each instance, as the router reaches them
    names: pulumi.Output[list[str]]  # the instances' names on the platform (containers, pods)
    image: pulumi.Output[str]
    provisioning_state: pulumi.Output[str]


@dataclass(frozen=True)
class EndpointBase:
    """What an endpoint's deployments are placed in, and its credentials (Pulumi secrets)."""

    placement: Any  # the target's own: a network name (local), a namespace (kubernetes)
    primary_key: pulumi.Output[str]
    secondary_key: pulumi.Output[str]
    token_secret: pulumi.Output[str]


@dataclass(frozen=True)
class EndpointFront:
    """The endpoint's front door: where it is reached, and when the traffic split is in force."""

    scoring_uri: pulumi.Output[str]
    swagger_uri: pulumi.Output[str]
    provisioning_state: pulumi.Output[str]
    router: pulumi.Output[str]  # the router's name on the platform (for logs)
    agent: pulumi.Output[str]  # what heals the endpoint ("" where the platform does it)


class OnlineTarget(Protocol):
    """A platform online endpoints run on."""

    @property
    def name(self) -> str: ...

    def deployment_image(self, spec: OnlineDeploymentSpec) -> str:
        """The image the deployment will run (known before anything is created: the policy pack reads it)."""
        ...

    def online_base(
        self, parent: pulumi.Resource, name: str, spec: OnlineEndpointSpec, key_rotation: int
    ) -> EndpointBase: ...

    def online_deployment(
        self, parent: pulumi.Resource, name: str, spec: OnlineDeploymentSpec, base: EndpointBase
    ) -> DeploymentParts: ...

    def online_front(
        self,
        parent: pulumi.Resource,
        name: str,
        spec: OnlineEndpointSpec,
        deployments: dict[str, tuple[OnlineDeploymentSpec, DeploymentParts]],
        base: EndpointBase,
        depends_on: list[pulumi.Resource],
    ) -> EndpointFront: ...


@dataclass(frozen=True)
class BatchDeploymentParts:
    """A batch deployment as its endpoint's controller and agent know it."""

    image: pulumi.Output[str]
    provisioning_state: pulumi.Output[str]
    node_template: pulumi.Output[dict[str, Any]]  # what a node of it is made from (no secrets)


@dataclass(frozen=True)
class PipelineParts:
    """A pipeline deployment as its endpoint's controller and agent know it."""

    images: pulumi.Output[list[str]]
    provisioning_state: pulumi.Output[str]
    step_templates: pulumi.Output[dict[str, dict[str, Any]]]  # step -> what its container is made from


@dataclass(frozen=True)
class BatchFront:
    """A batch endpoint's jobs API and what runs it."""

    invoke_uri: pulumi.Output[str]
    provisioning_state: pulumi.Output[str]
    controller: pulumi.Output[str]
    agent: pulumi.Output[str]


class BatchTarget(Protocol):
    """A platform batch endpoints run on."""

    @property
    def name(self) -> str: ...

    def batch_deployment_image(self, spec: ModelBatchDeploymentSpec) -> str: ...

    def batch_base(
        self, parent: pulumi.Resource, name: str, spec: BatchEndpointSpec, key_rotation: int
    ) -> EndpointBase: ...

    def batch_deployment(
        self,
        parent: pulumi.Resource,
        name: str,
        spec: ModelBatchDeploymentSpec,
        cluster: AmlComputeSpec,
        base: EndpointBase,
        datastores: dict[str, str],
    ) -> BatchDeploymentParts: ...

    def pipeline_deployment(
        self,
        parent: pulumi.Resource,
        name: str,
        plan: PipelinePlan,
        cluster: AmlComputeSpec,
        datastores: dict[str, str],
    ) -> PipelineParts: ...

    def batch_front(
        self,
        parent: pulumi.Resource,
        name: str,
        spec: BatchEndpointSpec,
        deployments: dict[str, tuple[ModelBatchDeploymentSpec, BatchDeploymentParts]],
        clusters: dict[str, AmlComputeSpec],
        datastores: dict[str, str],
        base: EndpointBase,
        depends_on: list[pulumi.Resource],
        pipelines: dict[str, tuple[PipelinePlan, PipelineParts]] | None = None,
    ) -> BatchFront: ...
