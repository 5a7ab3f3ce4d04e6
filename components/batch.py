"""ComputeCluster, BatchEndpoint and BatchDeployment components (local Docker target).

A batch endpoint runs a controller (jobs API, durable job store, scheduler) and an agent (starts
and stops the nodes, heals the controller); a deployment is an image and a node template; a
cluster is a size and limits. Nothing of a deployment runs at rest: nodes start when a job needs
them and stop after the cluster's idle time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi

from components import environments
from components.online import LocalTarget
from components.specs import AmlComputeSpec, BatchEndpointSpec, ModelBatchDeploymentSpec
from components.targets import batch_plan
from components.targets.docker_image import ServingImage
from components.targets.docker_resources import DockerContainer
from components.targets.endpoint_keys import EndpointKeys
from components.targets.host_files import HostFiles, render
from components.targets.local import EndpointNetwork, EndpointNetworkArgs
from components.targets.local_agent import endpoint_agent
from components.targets.router_files import RouterApplied
from serving.batch import protocol
from serving.router.config import files_digest


@dataclass(frozen=True)
class ComputeClusterArgs:
    """Inputs of ComputeCluster."""

    spec: AmlComputeSpec


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
        cores, memory_gb = batch_plan.cluster_cores(spec)
        props = {
            "name": spec.name,
            "size": spec.size,
            "tier": spec.tier,
            "min_instances": spec.min_instances,
            "max_instances": spec.max_instances,
            "idle_time_before_scale_down": spec.idle_time_before_scale_down,
            "target": "local",
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
    """Inputs of BatchDeployment (created by its endpoint)."""

    spec: ModelBatchDeploymentSpec
    cluster: AmlComputeSpec
    network: pulumi.Input[str]
    target: LocalTarget
    datastores: dict[str, str]


class BatchDeployment(pulumi.ComponentResource):
    """A model batch deployment: its image (driver environment) and the template of its nodes."""

    image: pulumi.Output[str]
    provisioning_state: pulumi.Output[str]
    node_template: pulumi.Output[dict[str, Any]]

    def __init__(
        self, name: str, args: BatchDeploymentArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        spec = args.spec
        if spec.environment is None:
            # MLflow no-code deployments (no environment) come with the registered-assets issue.
            raise pulumi.RunError(
                f"batch deployment {spec.name}: an environment is required on the local target "
                "(MLflow no-code deployments are not supported yet)"
            )
        plan = environments.plan_for_spec(spec.environment, base_image=args.target.base_image)
        tag = environments.image_tag(plan)
        props = {
            "name": spec.name,
            "endpoint_name": spec.endpoint_name,
            "compute": args.cluster.name,
            "instance_count": spec.resources.instance_count,
            "max_instances": args.cluster.max_instances,
            "cluster_size": args.cluster.size,
            "cluster_tier": args.cluster.tier,
            "settings": spec.settings.model_dump(mode="json"),
            "image": tag,
            "target": "local",
        }
        super().__init__("mlendpoints:batch:BatchDeployment", name, props, opts)
        for warning in plan.warnings:
            pulumi.log.warn(f"batch deployment {spec.name}: {warning}", resource=self)
        image = ServingImage(
            f"{name}-image", plan, tag, f"batch deployment {spec.name}", pulumi.ResourceOptions(parent=self)
        )
        self.image = image.tag
        self.provisioning_state = image.tag.apply(lambda _: "Succeeded")
        self.node_template = pulumi.Output.from_input(args.network).apply(
            lambda network: batch_plan.node_template(
                spec,
                args.cluster,
                tag,
                network,
                args.datastores,
                "",
                batch_plan.host_user(),
                cluster_id=f"{pulumi.get_project()}-{pulumi.get_stack()}/{args.cluster.name}",
            )
        )
        self.register_outputs(
            {
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
    target: LocalTarget
    # Datastore name -> host folder; jobs read inputs from and write outputs to these.
    datastores: dict[str, str] = field(default_factory=dict)
    key_rotation: int = 0


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
        spec = args.endpoint
        props = {
            "name": spec.name,
            "auth_mode": spec.auth_mode,
            "default_deployment": spec.defaults.deployment_name,
            "target": "local",
        }
        super().__init__("mlendpoints:batch:BatchEndpoint", name, props, opts)
        child = pulumi.ResourceOptions(parent=self)
        network = EndpointNetwork(f"{name}-net", EndpointNetworkArgs(endpoint_name=spec.name), child)
        keys = EndpointKeys(f"{name}-keys", endpoint=spec.name, rotation=args.key_rotation, opts=child)
        deployments = {
            d.name: BatchDeployment(
                f"{name}-{d.name}",
                BatchDeploymentArgs(
                    d, args.clusters[d.compute_name], network.network_name, args.target, args.datastores
                ),
                child,
            )
            for d in args.deployments
        }
        config = batch_plan.controller_config(
            spec,
            {
                d.name: batch_plan.deployment_config(d, args.clusters[d.compute_name])
                for d in args.deployments
            },
            args.datastores,
        )
        secrets = pulumi.Output.all(keys.primary_key, keys.secondary_key, keys.token_secret).apply(
            lambda k: {"primary_key": k[0], "secondary_key": k[1], "token_secret": k[2]}
        )
        derived: pulumi.Output[str] = keys.token_secret.apply(
            lambda token: batch_plan.node_secret(token, spec.name)
        )
        node_secret: pulumi.Output[str] = pulumi.Output.secret(derived)
        folder = args.target.state_dir / spec.name / "batch"
        controller_files = HostFiles(
            f"{name}-config",
            str(folder / "config"),
            files={batch_plan.CONFIG_FILE: config},
            secret_files=secrets.apply(lambda s: {batch_plan.SECRETS_FILE: s}),
            opts=child,
        )
        node_templates = HostFiles(
            f"{name}-node-templates",
            str(folder / "agent"),
            files={},
            secret_files=_templates(spec.name, node_secret, deployments),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(deployments.values())),
        )
        runtime = environments.EnvironmentPlan(base_image=args.target.base_image)
        runtime_tag = environments.image_tag(runtime)
        runtime_image = ServingImage(
            f"{name}-controller-image", runtime, runtime_tag, "the batch controller", child
        )
        datastore_mounts = batch_plan.datastore_mounts(args.datastores)
        controller_props = batch_plan.controller_container(
            spec.name,
            runtime_tag,
            network_name=network.network_name,
            config_dir=str(folder / "config"),
            state_dir=str(folder / "state"),
            run_dir=str(folder / "run"),
            datastores=datastore_mounts,
            port=args.target.router_port,
        )
        # A secret Output: kept encrypted in the stack's state like the keys.
        controller_props["env"] = {**controller_props["env"], "MLE_BATCH_NODE_SECRET": node_secret}
        controller = DockerContainer(
            f"{name}-controller",
            controller_props,
            pulumi.ResourceOptions(parent=self, depends_on=[controller_files, runtime_image]),
        )
        agent = endpoint_agent(
            name,
            spec.name,
            args.target.base_image,
            self,
            env=batch_plan.AGENT_NODE_ENV,
            mounts={batch_plan.AGENT_TEMPLATES_MOUNT: str(folder / "agent")},
            writable_mounts={batch_plan.AGENT_RUN_MOUNT: str(folder / "run")},
            owns={"io.mlendpoints.endpoint": spec.name, "io.mlendpoints.role": "node"},
            depends_on=[node_templates],
        )
        port = controller.ports.apply(lambda p: p[str(protocol.PUBLIC_PORT)])
        applied = RouterApplied(
            f"{name}-config-applied",
            url=port.apply(lambda p: f"http://127.0.0.1:{p}/"),
            digest=secrets.apply(lambda s: files_digest(render(config), render(s))),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[controller, controller_files]),
        )
        self.invoke_uri = port.apply(lambda p: f"http://127.0.0.1:{p}/jobs")
        self.default_deployment = pulumi.Output.from_input(spec.defaults.deployment_name or "")
        self.provisioning_state = pulumi.Output.all(
            controller.container_id, agent.container_id, applied.urn
        ).apply(lambda _: "Succeeded")
        self.primary_key = keys.primary_key
        self.secondary_key = keys.secondary_key
        self.token_secret = keys.token_secret
        self.deployment_states = (
            pulumi.Output.all(**{n: d.provisioning_state for n, d in deployments.items()}).apply(dict)
            if deployments
            else pulumi.Output.from_input({})
        )
        self.controller_container = pulumi.Output.from_input(batch_plan.controller_name(spec.name))
        self.agent_container = agent.name
        self.register_outputs(
            {
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


def _templates(
    endpoint: str, node_secret: pulumi.Output[str], deployments: dict[str, BatchDeployment]
) -> pulumi.Output[dict[str, Any]]:
    """nodes.json for the agent: every deployment's node template, with the node secret filled in."""
    outputs = pulumi.Output.all(node_secret, *(d.node_template for d in deployments.values()))

    def fill(values: list[Any]) -> dict[str, Any]:
        secret = values[0]
        filled = {}
        for deployment, template in zip(deployments, values[1:], strict=True):
            container = dict(template["container"])
            container["env"] = {**container["env"], "MLE_BATCH_NODE_SECRET": secret}
            filled[deployment] = {**template, "container": container}
        return {batch_plan.NODE_TEMPLATES_FILE: {"endpoint": endpoint, "deployments": filled}}

    return outputs.apply(fill)
