"""PipelineDeployment: a pipeline component batch deployment (type: pipeline) of a batch endpoint.

Its steps' images are built at `pulumi up`; what runs a job's steps is the endpoint's controller,
which starts each step as a container of its cluster when the steps it reads from are done.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.pipeline_plans import PipelinePlan
from components.specs import AmlComputeSpec
from components.targets.contracts import BatchTarget, PipelineParts

TYPE_TOKEN = "mlendpoints:batch:PipelineDeployment"


@dataclass(frozen=True)
class PipelineDeploymentArgs:
    """Inputs of PipelineDeployment (created by its endpoint): the planned pipeline and its cluster."""

    plan: PipelinePlan
    cluster: AmlComputeSpec
    target: BatchTarget
    datastores: dict[str, str]


class PipelineDeployment(pulumi.ComponentResource):
    """A pipeline deployment: its steps' images and templates (nothing runs until a job)."""

    images: pulumi.Output[list[str]]
    provisioning_state: pulumi.Output[str]
    step_templates: pulumi.Output[dict[str, dict[str, object]]]

    def __init__(
        self, name: str, args: PipelineDeploymentArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        plan = args.plan
        spec = plan.deployment
        # What a reviewer (and the policy pack) sees of it.
        props = {
            "name": spec.name,
            "endpoint_name": spec.endpoint_name,
            "type": "pipeline",
            "compute": plan.cluster,
            "max_instances": args.cluster.max_instances,
            "cluster_size": args.cluster.size,
            "cluster_tier": args.cluster.tier,
            "steps": {step.name: step.component.name for step in plan.steps},
            "continue_on_step_failure": bool(plan.config["continue_on_step_failure"]),
            "target": args.target.name,
        }
        super().__init__(TYPE_TOKEN, name, props, opts)
        self.parts: PipelineParts = args.target.pipeline_deployment(
            self, name, plan, args.cluster, args.datastores
        )
        self.images = self.parts.images
        self.provisioning_state = self.parts.provisioning_state
        self.step_templates = self.parts.step_templates
        self.register_outputs(
            {
                **props,
                "images": self.images,
                "provisioning_state": self.provisioning_state,
                "step_templates": self.step_templates,
            }
        )
