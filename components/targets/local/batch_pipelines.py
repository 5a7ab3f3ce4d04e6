"""Pipeline deployments on the local target: an image per step environment, and the agent's step
templates (what a step's container is; the controller gives each run its command)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pulumi

from components import environments
from components.pipeline_plans import PipelinePlan, StepPlan
from components.specs import AmlComputeSpec
from components.targets.contracts import PipelineParts
from components.targets.local import batch_plan
from components.targets.local import plan as local_plan
from components.targets.local.docker_image import ServingImage

if TYPE_CHECKING:
    from components.targets.local.target import LocalTarget


def step_template(
    step: StepPlan,
    endpoint: str,
    image: str,
    cluster: AmlComputeSpec,
    datastores: dict[str, str],
    user: str,
    cluster_id: str,
) -> dict[str, Any]:
    """The agent's template for a step's container (serving.agent.nodes.NodeTemplate): no network (a
    step reads and writes the datastores and its mounts only), the cluster's size as its limits."""
    nano_cpus, mem_mb = batch_plan.cluster_limits(cluster.size, *local_plan.host_resources())
    return {
        "cluster": cluster_id,
        "max_instances": cluster.max_instances,
        "container": {
            "name": "step",
            "image": image,
            "network": "none",
            "env": dict(step.env),
            "labels": {"io.mlendpoints.endpoint": endpoint},
            "mounts": dict(step.mounts),
            "writable_mounts": batch_plan.datastore_mounts(datastores),
            "nano_cpus": nano_cpus,
            "mem_limit_mb": mem_mb,
            "user": user,
            "ready_timeout_s": 60,
        },
    }


def pipeline_deployment(
    target: LocalTarget,
    parent: pulumi.Resource,
    name: str,
    plan: PipelinePlan,
    cluster: AmlComputeSpec,
    datastores: dict[str, str],
) -> PipelineParts:
    """Every step's image (one per distinct environment) and its template; nothing runs until a job."""
    spec = plan.deployment
    for warning in plan.warnings:
        pulumi.log.warn(f"pipeline deployment {spec.name}: {warning}", resource=parent)
    images: dict[str, ServingImage] = {}
    templates: dict[str, dict[str, Any]] = {}
    cluster_id = f"{pulumi.get_project()}-{pulumi.get_stack()}/{cluster.name}"
    for step in plan.steps:
        env_plan = environments.plan_for_spec(step.environment, base_image=target.base_image)
        for warning in env_plan.warnings:
            pulumi.log.warn(f"pipeline deployment {spec.name} step {step.name}: {warning}", resource=parent)
        tag = environments.image_tag(env_plan)
        if tag not in images:
            images[tag] = ServingImage(
                f"{name}-image-{len(images)}",
                env_plan,
                tag,
                f"pipeline deployment {spec.name} ({step.component.name})",
                pulumi.ResourceOptions(parent=parent),
            )
        templates[step.name] = step_template(
            step, spec.endpoint_name, tag, cluster, datastores, batch_plan.host_user(), cluster_id
        )
    built = pulumi.Output.all(*(image.tag for image in images.values()))
    return PipelineParts(
        images=built.apply(list),
        provisioning_state=built.apply(lambda _: "Succeeded"),
        step_templates=built.apply(lambda _: templates),
    )
