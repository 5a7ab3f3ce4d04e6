"""ComputeCluster, BatchEndpoint and BatchDeployment components: specs in, a target builds them.

A batch endpoint takes jobs and runs them on its deployments' nodes; a deployment is an image and
what its nodes are made from; a cluster is a size and limits. Nothing of a deployment runs at rest
on any target: nodes start when a job needs them and stop after the cluster's idle time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi

from components import skus
from components.batch_pipelines import PipelineDeployment, PipelineDeploymentArgs
from components.pipeline_plans import PipelinePlan
from components.specs import AmlComputeSpec, BatchEndpointSpec, ModelBatchDeploymentSpec
from components.targets.contracts import BatchDeploymentParts, BatchTarget, EndpointBase


@dataclass(frozen=True)
class ComputeClusterArgs:
    """Inputs of ComputeCluster."""

    spec: AmlComputeSpec
    target: str = field(default="local", metadata={"description": "The stack's target (for reviews)."})


class ComputeCluster(pulumi.ComponentResource):
    """A compute cluster: the size and the limits of the nodes batch deployments run jobs on.

    Locally a node is a container of a deployment's image with the cores and memory of `size`
    (capped by this machine); `min_instances: 0` runs nothing at rest.
    """

    size: pulumi.Output[str]
    tier: pulumi.Output[str]
    min_instances: pulumi.Output[int]
    max_instances: pulumi.Output[int]
    cores_per_node: pulumi.Output[int]
    memory_gb_per_node: pulumi.Output[float]

    def __init__(
        self, name: str, args: ComputeClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        spec = args.spec
        sku = skus.find_sku(spec.size)
        if sku is None:  # validated specs only carry known sizes
            raise pulumi.RunError(f"compute cluster {spec.name}: unknown VM size {spec.size!r}")
        cores, memory_gb = sku.cores, sku.memory_gb
        props = {
            "name": spec.name,
            "size": spec.size,
            "tier": spec.tier,
            "min_instances": spec.min_instances,
            "max_instances": spec.max_instances,
            "idle_time_before_scale_down": spec.idle_time_before_scale_down,
            "target": args.target,
        }
        super().__init__("mlendpoints:batch:ComputeCluster", name, props, opts)
        self.size = pulumi.Output.from_input(spec.size)
        self.tier = pulumi.Output.from_input(spec.tier)
        self.min_instances = pulumi.Output.from_input(spec.min_instances)
        self.max_instances = pulumi.Output.from_input(spec.max_instances)
        self.cores_per_node = pulumi.Output.from_input(cores)
        self.memory_gb_per_node = pulumi.Output.from_input(memory_gb)
        self.register_outputs(
            {
                **props,
                "size": self.size,
                "tier": self.tier,
                "min_instances": self.min_instances,
                "max_instances": self.max_instances,
                "cores_per_node": self.cores_per_node,
                "memory_gb_per_node": self.memory_gb_per_node,
            }
        )


@dataclass(frozen=True)
class BatchDeploymentArgs:
    """Inputs of BatchDeployment (created by its endpoint, which places it)."""

    spec: ModelBatchDeploymentSpec
    cluster: AmlComputeSpec
    base: EndpointBase
    target: BatchTarget
    datastores: dict[str, str]


class BatchDeployment(pulumi.ComponentResource):
    """A model batch deployment: its image (driver environment) and the template of its nodes."""

    image: pulumi.Output[str]
    provisioning_state: pulumi.Output[str]
    node_template: pulumi.Output[dict[str, Any]]

    def __init__(
        self, name: str, args: BatchDeploymentArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        spec, cluster = args.spec, args.cluster
        # What the policy pack reviews (policies/adapters.py reads these names).
        props = {
            "name": spec.name,
            "endpoint_name": spec.endpoint_name,
            "compute": cluster.name,
            "instance_count": spec.resources.instance_count,
            "max_instances": cluster.max_instances,
            "cluster_size": cluster.size,
            "cluster_tier": cluster.tier,
            "settings": spec.settings.model_dump(mode="json"),
            "image": args.target.batch_deployment_image(spec),
            "target": args.target.name,
        }
        super().__init__("mlendpoints:batch:BatchDeployment", name, props, opts)
        self.parts: BatchDeploymentParts = args.target.batch_deployment(
            self, name, spec, cluster, args.base, args.datastores
        )
        self.image = self.parts.image
        self.provisioning_state = self.parts.provisioning_state
        self.node_template = self.parts.node_template
        # The props stay among the outputs: stack policies see a component's outputs only.
        self.register_outputs(
            {
                **props,
                "image": self.image,
                "provisioning_state": self.provisioning_state,
                "node_template": self.node_template,
            }
        )


@dataclass(frozen=True)
class BatchEndpointArgs:
    """Inputs of BatchEndpoint: the endpoint, its deployments, the clusters they name, the datastores."""

    endpoint: BatchEndpointSpec
    deployments: tuple[ModelBatchDeploymentSpec, ...]
    clusters: dict[str, AmlComputeSpec]
    target: BatchTarget
    # Datastore name -> host folder; jobs read inputs from and write outputs to these.
    datastores: dict[str, str] = field(default_factory=dict)
    key_rotation: int = 0
    # Pipeline component deployments (type: pipeline), planned from the stack's registry.
    pipelines: tuple[PipelinePlan, ...] = ()


class BatchEndpoint(pulumi.ComponentResource):
    """A batch endpoint: a stable invoke URI taking jobs with a token, run by its default (or a named)
    deployment on its cluster's nodes."""

    invoke_uri: pulumi.Output[str]
    default_deployment: pulumi.Output[str]
    provisioning_state: pulumi.Output[str]
    primary_key: pulumi.Output[str]
    secondary_key: pulumi.Output[str]
    token_secret: pulumi.Output[str]
    deployment_states: pulumi.Output[dict[str, str]]
    controller_container: pulumi.Output[str]
    agent_container: pulumi.Output[str]

    def __init__(
        self, name: str, args: BatchEndpointArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        spec, target = args.endpoint, args.target
        props = {
            "name": spec.name,
            "auth_mode": spec.auth_mode,
            "default_deployment": spec.defaults.deployment_name,
            "target": target.name,
        }
        super().__init__("mlendpoints:batch:BatchEndpoint", name, props, opts)
        base = target.batch_base(self, name, spec, args.key_rotation)
        deployments = {
            d.name: BatchDeployment(
                f"{name}-{d.name}",
                BatchDeploymentArgs(d, args.clusters[d.compute_name], base, target, args.datastores),
                pulumi.ResourceOptions(parent=self),
            )
            for d in args.deployments
        }
        pipelines = {
            plan.deployment.name: PipelineDeployment(
                f"{name}-{plan.deployment.name}",
                PipelineDeploymentArgs(plan, args.clusters[plan.cluster], target, args.datastores),
                pulumi.ResourceOptions(parent=self),
            )
            for plan in args.pipelines
        }
        front = target.batch_front(
            self,
            name,
            spec,
            {d.name: (d, deployments[d.name].parts) for d in args.deployments},
            args.clusters,
            args.datastores,
            base,
            depends_on=[*deployments.values(), *pipelines.values()],
            pipelines={
                plan.deployment.name: (plan, pipelines[plan.deployment.name].parts) for plan in args.pipelines
            },
        )
        self.invoke_uri = front.invoke_uri
        self.default_deployment = pulumi.Output.from_input(spec.defaults.deployment_name or "")
        self.provisioning_state = front.provisioning_state
        self.primary_key = base.primary_key
        self.secondary_key = base.secondary_key
        self.token_secret = base.token_secret
        states = {n: d.provisioning_state for n, d in deployments.items()}
        states |= {n: p.provisioning_state for n, p in pipelines.items()}
        self.deployment_states = (
            pulumi.Output.all(**states).apply(dict) if states else pulumi.Output.from_input({})
        )
        self.controller_container = front.controller
        self.agent_container = front.agent
        self.register_outputs(
            {
                **props,
                "invoke_uri": self.invoke_uri,
                "default_deployment": self.default_deployment,
                "provisioning_state": self.provisioning_state,
                "primary_key": self.primary_key,
                "secondary_key": self.secondary_key,
                "token_secret": self.token_secret,
                "deployment_states": self.deployment_states,
                "controller_container": self.controller_container,
                "agent_container": self.agent_container,
            }
        )
