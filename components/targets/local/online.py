"""Online endpoints on the local target: a private network, scorer containers, the router, the agent."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pulumi

from components import environments, mlflow_models
from components.specs import BatchEndpointSpec, OnlineDeploymentSpec, OnlineEndpointSpec
from components.targets.contracts import DeploymentParts, EndpointBase, EndpointFront
from components.targets.endpoint_keys import EndpointKeys
from components.targets.local import plan as local_plan
from components.targets.local.agent import endpoint_agent
from components.targets.local.docker_image import ServingImage
from components.targets.local.docker_resources import DockerContainer
from components.targets.local.network import EndpointNetwork, EndpointNetworkArgs
from components.targets.local.router_files import RouterFiles
from components.targets.rendering import digest, expected_digest, tree_digest
from components.targets.router_applied import RouterApplied
from components.targets.router_inputs import router_inputs
from components.targets.serving_layout import ROUTER_CONFIG_MOUNT, ROUTER_PORT, SCORER_PORT

if TYPE_CHECKING:
    from components.targets.local.target import LocalTarget


def endpoint_base(
    target: LocalTarget,
    parent: pulumi.Resource,
    name: str,
    spec: OnlineEndpointSpec | BatchEndpointSpec,
    key_rotation: int,
) -> EndpointBase:
    """The endpoint's private network and its keys (online and batch endpoints alike)."""
    child = pulumi.ResourceOptions(parent=parent)
    network = EndpointNetwork(f"{name}-net", EndpointNetworkArgs(endpoint_name=spec.name), child)
    keys = EndpointKeys(f"{name}-keys", endpoint=spec.name, rotation=key_rotation, opts=child)
    return EndpointBase(network.network_name, keys.primary_key, keys.secondary_key, keys.token_secret)


def deployment(
    target: LocalTarget, parent: pulumi.Resource, name: str, spec: OnlineDeploymentSpec, base: EndpointBase
) -> DeploymentParts:
    """The deployment's image and `instance_count` scorer containers on the endpoint's network."""
    plan = mlflow_models.plan_for_deployment(spec, base_image=target.base_image)
    image_tag = environments.image_tag(plan)
    for warning in plan.warnings:
        pulumi.log.warn(f"deployment {spec.name}: {warning}", resource=parent)
    image = ServingImage(
        f"{name}-image",
        plan,
        image_tag,
        purpose=f"deployment {spec.name}",
        opts=pulumi.ResourceOptions(parent=parent),
    )
    mounts, env = local_plan.scorer_mounts_and_env(spec)
    nano_cpus, mem_mb, notes = local_plan.deployment_limits(spec, *local_plan.host_resources())
    for note in notes:
        pulumi.log.warn(f"deployment {spec.name}: {note}", resource=parent)
    content = tree_digest(Path(p) for p in mounts.values())
    probe = spec.readiness_probe
    # A script that never gets ready fails the update after Azure's own budget for the probe.
    ready_timeout = max(target.ready_timeout_s, probe.initial_delay + probe.period * probe.failure_threshold)
    props = {
        "image": image_tag,
        "network": base.placement,
        "env": env,
        "mounts": mounts,
        "nano_cpus": nano_cpus,
        "mem_limit_mb": mem_mb,
        "labels": {
            "io.mlendpoints.endpoint": spec.endpoint_name,
            "io.mlendpoints.deployment": spec.name,
            "io.mlendpoints.content": content,
        },
        "ready_path": "/readyz",
        "ready_port": SCORER_PORT,
        "ready_timeout_s": ready_timeout,
        "health": local_plan.liveness_health(spec),
    }
    containers = []
    for index in range(spec.effective_instance_count):
        cname = local_plan.instance_name(
            spec.endpoint_name, spec.name, index, digest({**props, "network": "", "i": index})
        )
        containers.append(
            DockerContainer(
                f"{name}-{index}",
                {**props, "name": cname, "aliases": [cname]},
                opts=pulumi.ResourceOptions(parent=parent, depends_on=[image]),
            )
        )
    names = pulumi.Output.all(*[c.name for c in containers]).apply(list)
    return DeploymentParts(
        instances=names.apply(lambda ns: [f"{n}:{SCORER_PORT}" for n in ns]),
        names=names,
        image=image.tag,
        provisioning_state=pulumi.Output.all(*[c.container_id for c in containers]).apply(
            lambda _: "Succeeded"
        ),
    )


def endpoint_front(
    target: LocalTarget,
    parent: pulumi.Resource,
    name: str,
    spec: OnlineEndpointSpec,
    deployments: dict[str, tuple[OnlineDeploymentSpec, DeploymentParts]],
    base: EndpointBase,
    depends_on: list[pulumi.Resource],
) -> EndpointFront:
    """Traffic (the router's config file), the router that serves it, and the endpoint's agent."""
    child = pulumi.ResourceOptions(parent=parent)
    config, secrets = router_inputs(spec, deployments, base)
    folder = target.state_dir / spec.name / "router"
    traffic = RouterFiles(
        f"{name}-traffic",
        folder=str(folder),
        config=config,
        secrets=secrets,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=depends_on),
    )
    router_plan = environments.EnvironmentPlan(base_image=target.base_image)
    router_tag = environments.image_tag(router_plan)
    router_image = ServingImage(f"{name}-router-image", router_plan, router_tag, "the router", child)
    agent = endpoint_agent(name, spec.name, target.base_image, parent)
    mount = ROUTER_CONFIG_MOUNT
    router = DockerContainer(
        f"{name}-router",
        {
            "name": f"{spec.name}-router",
            "image": router_tag,
            "network": base.placement,
            "command": ["python", "-m", "serving.router"],
            "user": f"{os.getuid()}:{os.getgid()}",
            "env": {
                "MLE_ROUTER_CONFIG": f"{mount}/config.json",
                "MLE_ROUTER_SECRETS_FILE": f"{mount}/secrets.json",
                "MLE_ROUTER_PORT": str(ROUTER_PORT),
            },
            "mounts": {mount: str(folder)},
            # 0 (not None: Pulumi drops None from maps) lets the engine pick a free port.
            "publish": {str(ROUTER_PORT): target.router_port},
            "labels": {"io.mlendpoints.endpoint": spec.name, "io.mlendpoints.role": "router"},
            "ready_path": "/",
            "ready_port": ROUTER_PORT,
            "ready_timeout_s": target.ready_timeout_s,
            "health": dict(local_plan.ROUTER_HEALTH),
        },
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[traffic, router_image]),
    )
    port = router.ports.apply(lambda p: p[str(ROUTER_PORT)])
    # The update returns only once the router serves exactly these files (traffic, keys).
    applied = RouterApplied(
        f"{name}-traffic-applied",
        url=port.apply(lambda p: f"http://127.0.0.1:{p}/"),
        digest=pulumi.Output.all(config, secrets).apply(lambda cs: expected_digest(cs[0], cs[1])),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[router, traffic]),
    )
    return EndpointFront(
        scoring_uri=port.apply(lambda p: f"http://127.0.0.1:{p}/score"),
        swagger_uri=port.apply(lambda p: f"http://127.0.0.1:{p}/swagger.json"),
        provisioning_state=pulumi.Output.all(router.container_id, applied.urn).apply(lambda _: "Succeeded"),
        router=pulumi.Output.from_input(f"{spec.name}-router"),
        agent=agent.name,
    )
