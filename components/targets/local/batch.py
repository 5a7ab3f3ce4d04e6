"""Batch endpoints on the local target: controller, agent, node templates, config files, images."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pulumi

from components import environments, mlflow_models
from components.pipeline_plans import PipelinePlan
from components.specs import AmlComputeSpec, BatchEndpointSpec, ModelBatchDeploymentSpec
from components.targets.contracts import BatchDeploymentParts, BatchFront, EndpointBase, PipelineParts
from components.targets.local import batch_plan
from components.targets.local.agent import endpoint_agent
from components.targets.local.docker_image import ServingImage
from components.targets.local.docker_resources import DockerContainer
from components.targets.local.host_files import HostFiles, render
from components.targets.router_applied import RouterApplied
from serving.batch import protocol
from serving.router.config import files_digest

if TYPE_CHECKING:
    from components.targets.local.target import LocalTarget


# Roles of the containers the agent makes at run time (removed with it).
_MADE_BY_AGENT = ("node", "step")


def deployment_plan(target: LocalTarget, spec: ModelBatchDeploymentSpec) -> environments.EnvironmentPlan:
    # Its own environment, or its MLflow model's (a no-code deployment).
    return mlflow_models.plan_for_deployment(spec, base_image=target.base_image)


def deployment(
    target: LocalTarget,
    parent: pulumi.Resource,
    name: str,
    spec: ModelBatchDeploymentSpec,
    cluster: AmlComputeSpec,
    base: EndpointBase,
    datastores: dict[str, str],
) -> BatchDeploymentParts:
    """The deployment's image and the template of its nodes (nothing runs until a job needs it)."""
    plan = deployment_plan(target, spec)
    tag = environments.image_tag(plan)
    for warning in plan.warnings:
        pulumi.log.warn(f"batch deployment {spec.name}: {warning}", resource=parent)
    image = ServingImage(
        f"{name}-image", plan, tag, f"batch deployment {spec.name}", pulumi.ResourceOptions(parent=parent)
    )
    cluster_id = f"{pulumi.get_project()}-{pulumi.get_stack()}/{cluster.name}"
    template = pulumi.Output.from_input(base.placement).apply(
        lambda network: batch_plan.node_template(
            spec, cluster, tag, network, datastores, "", batch_plan.host_user(), cluster_id=cluster_id
        )
    )
    return BatchDeploymentParts(image.tag, image.tag.apply(lambda _: "Succeeded"), template)


def endpoint_front(
    target: LocalTarget,
    parent: pulumi.Resource,
    name: str,
    spec: BatchEndpointSpec,
    deployments: dict[str, tuple[ModelBatchDeploymentSpec, BatchDeploymentParts]],
    clusters: dict[str, AmlComputeSpec],
    datastores: dict[str, str],
    base: EndpointBase,
    depends_on: list[pulumi.Resource],
    pipelines: dict[str, tuple[PipelinePlan, PipelineParts]],
) -> BatchFront:
    """The controller's config and secrets, the agent's node templates, the controller and the agent."""
    child = pulumi.ResourceOptions(parent=parent)

    def controller_config(node_templates: list[dict[str, Any]]) -> dict[str, Any]:
        configs = {
            d.name: batch_plan.deployment_config(d, clusters[d.compute_name], template)
            for (d, _), template in zip(deployments.values(), node_templates, strict=True)
        }
        for plan, _ in pipelines.values():
            cluster = clusters[plan.cluster]
            configs[plan.deployment.name] = batch_plan.pipeline_deployment_config(plan, cluster)
        return batch_plan.controller_config(spec, configs, datastores)

    config = pulumi.Output.all(*(parts.node_template for _, parts in deployments.values())).apply(
        controller_config
    )
    secrets = pulumi.Output.all(base.primary_key, base.secondary_key, base.token_secret).apply(
        lambda k: {"primary_key": k[0], "secondary_key": k[1], "token_secret": k[2]}
    )
    derived: pulumi.Output[str] = base.token_secret.apply(
        lambda token: batch_plan.node_secret(token, spec.name)
    )
    node_secret: pulumi.Output[str] = pulumi.Output.secret(derived)
    folder = target.state_dir / spec.name / "batch"
    node_templates = HostFiles(
        f"{name}-node-templates",
        str(folder / "agent"),
        files={},
        secret_files=_templates(
            spec.name,
            node_secret,
            {n: parts for n, (_, parts) in deployments.items()},
            {n: parts for n, (_, parts) in pipelines.items()},
        ),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=depends_on),
    )
    controller_files = HostFiles(
        f"{name}-config",
        str(folder / "config"),
        files={batch_plan.CONFIG_FILE: config},
        secret_files=secrets.apply(lambda s: {batch_plan.SECRETS_FILE: s}),
        # After the node templates: the controller, told by its config that they changed, asks the
        # agent which nodes are of an older template, and the agent must then read the new ones.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[node_templates]),
    )
    runtime = environments.EnvironmentPlan(base_image=target.base_image)
    runtime_tag = environments.image_tag(runtime)
    runtime_image = ServingImage(
        f"{name}-controller-image", runtime, runtime_tag, "the batch controller", child
    )
    controller_props = batch_plan.controller_container(
        spec.name,
        runtime_tag,
        network_name=base.placement,
        config_dir=str(folder / "config"),
        state_dir=str(folder / "state"),
        run_dir=str(folder / "run"),
        datastores=batch_plan.datastore_mounts(datastores),
        port=target.router_port,
    )
    # A secret Output: kept encrypted in the stack's state like the keys.
    controller_props["env"] = {**controller_props["env"], "MLE_BATCH_NODE_SECRET": node_secret}
    controller = DockerContainer(
        f"{name}-controller",
        controller_props,
        pulumi.ResourceOptions(parent=parent, depends_on=[controller_files, runtime_image]),
    )
    agent = endpoint_agent(
        name,
        spec.name,
        target.base_image,
        parent,
        env=batch_plan.AGENT_NODE_ENV,
        mounts={batch_plan.AGENT_TEMPLATES_MOUNT: str(folder / "agent")},
        writable_mounts={batch_plan.AGENT_RUN_MOUNT: str(folder / "run")},
        owns=[
            {"io.mlendpoints.endpoint": spec.name, "io.mlendpoints.role": role} for role in ("node", "step")
        ],
        depends_on=[node_templates],
    )
    port = controller.ports.apply(lambda p: p[str(protocol.PUBLIC_PORT)])
    applied = RouterApplied(
        f"{name}-config-applied",
        url=port.apply(lambda p: f"http://127.0.0.1:{p}/"),
        digest=pulumi.Output.all(config, secrets).apply(lambda v: files_digest(render(v[0]), render(v[1]))),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[controller, controller_files]),
    )
    return BatchFront(
        invoke_uri=port.apply(lambda p: f"http://127.0.0.1:{p}/jobs"),
        provisioning_state=pulumi.Output.all(controller.container_id, agent.container_id, applied.urn).apply(
            lambda _: "Succeeded"
        ),
        controller=pulumi.Output.from_input(batch_plan.controller_name(spec.name)),
        agent=agent.name,
    )


def _templates(
    endpoint: str,
    node_secret: pulumi.Output[str],
    deployments: dict[str, BatchDeploymentParts],
    pipelines: dict[str, PipelineParts],
) -> pulumi.Output[dict[str, Any]]:
    """nodes.json for the agent: every deployment's node template, with the node secret filled in,
    and every pipeline step's template (steps never talk to the controller: no secret)."""
    outputs = pulumi.Output.all(
        node_secret,
        *(d.node_template for d in deployments.values()),
        *(p.step_templates for p in pipelines.values()),
    )

    def fill(values: list[Any]) -> dict[str, Any]:
        secret = values[0]
        filled = {}
        node_templates = values[1 : 1 + len(deployments)]
        for deployment_name, template in zip(deployments, node_templates, strict=True):
            container = dict(template["container"])
            container["env"] = {**container["env"], "MLE_BATCH_NODE_SECRET": secret}
            filled[deployment_name] = {**template, "container": container}
        steps = {
            f"{deployment_name}/{step}": template
            for deployment_name, templates in zip(pipelines, values[1 + len(deployments) :], strict=True)
            for step, template in templates.items()
        }
        return {batch_plan.NODE_TEMPLATES_FILE: {"endpoint": endpoint, "deployments": filled, "steps": steps}}

    return outputs.apply(fill)
