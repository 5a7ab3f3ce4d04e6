"""LocalTarget: where the local target puts things on this machine, and how it builds endpoints."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pulumi

from components import environments, mlflow_models
from components.pipeline_plans import PipelinePlan
from components.specs import (
    AmlComputeSpec,
    BatchEndpointSpec,
    ModelBatchDeploymentSpec,
    OnlineDeploymentSpec,
    OnlineEndpointSpec,
)
from components.targets.contracts import (
    BatchDeploymentParts,
    BatchFront,
    DeploymentParts,
    EndpointBase,
    EndpointFront,
    PipelineParts,
)
from components.targets.local import batch, batch_pipelines, online


@dataclass(frozen=True)
class LocalTarget:
    """This machine's Docker engine (an OnlineTarget and a BatchTarget, components/targets/contracts.py)."""

    state_dir: Path = field(metadata={"description": "Host folder for router config and secrets."})
    router_port: int = field(default=0, metadata={"description": "127.0.0.1 port of the endpoint (0: any)."})
    base_image: str = environments.DEFAULT_BASE_IMAGE
    ready_timeout_s: float = 180.0

    @property
    def name(self) -> str:
        return "local"

    def deployment_image(self, spec: OnlineDeploymentSpec) -> str:
        return environments.image_tag(mlflow_models.plan_for_deployment(spec, base_image=self.base_image))

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

    def batch_deployment_image(self, spec: ModelBatchDeploymentSpec) -> str:
        return environments.image_tag(batch.deployment_plan(self, spec))

    def batch_base(
        self, parent: pulumi.Resource, name: str, spec: BatchEndpointSpec, key_rotation: int
    ) -> EndpointBase:
        # The same private network and keys as an online endpoint's.
        return online.endpoint_base(self, parent, name, spec, key_rotation)

    def batch_deployment(
        self,
        parent: pulumi.Resource,
        name: str,
        spec: ModelBatchDeploymentSpec,
        cluster: AmlComputeSpec,
        base: EndpointBase,
        datastores: dict[str, str],
    ) -> BatchDeploymentParts:
        return batch.deployment(self, parent, name, spec, cluster, base, datastores)

    def pipeline_deployment(
        self,
        parent: pulumi.Resource,
        name: str,
        plan: PipelinePlan,
        cluster: AmlComputeSpec,
        datastores: dict[str, str],
    ) -> PipelineParts:
        return batch_pipelines.pipeline_deployment(self, parent, name, plan, cluster, datastores)

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
    ) -> BatchFront:
        return batch.endpoint_front(
            self, parent, name, spec, deployments, clusters, datastores, base, depends_on, pipelines or {}
        )
