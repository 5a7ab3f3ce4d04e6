"""OnlineEndpoint and OnlineDeployment components (local Docker target)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi

from components import environments
from components.specs import OnlineDeploymentSpec, OnlineEndpointSpec
from components.targets import local_plan
from components.targets.docker_image import ServingImage
from components.targets.docker_resources import DockerContainer
from components.targets.endpoint_keys import EndpointKeys
from components.targets.local import EndpointNetwork, EndpointNetworkArgs
from components.targets.local_agent import endpoint_agent
from components.targets.router_files import RouterApplied, RouterFiles, expected_digest


@dataclass(frozen=True)
class LocalTarget:
    """Where the local target puts things on this machine."""

    state_dir: Path = field(metadata={"description": "Host folder for router config and secrets."})
    router_port: int = field(default=0, metadata={"description": "127.0.0.1 port of the endpoint (0: any)."})
    base_image: str = environments.DEFAULT_BASE_IMAGE
    ready_timeout_s: float = 180.0


@dataclass(frozen=True)
class OnlineDeploymentArgs:
    """Inputs of OnlineDeployment."""

    spec: OnlineDeploymentSpec
    network: pulumi.Input[str]
    target: LocalTarget


def _policy_props(spec: OnlineDeploymentSpec, image: pulumi.Input[str]) -> dict[str, Any]:
    # The inputs the policy pack reviews (policies/adapters.py reads these names).
    return {
        "name": spec.name,
        "endpoint_name": spec.endpoint_name,
        "instance_type": spec.instance_type,
        "instance_count": spec.effective_instance_count,
        "image": image,
        "target": "local",
        "request_settings": spec.request_settings.model_dump(mode="json"),
        "liveness_probe": spec.liveness_probe.model_dump(mode="json"),
        "readiness_probe": spec.readiness_probe.model_dump(mode="json"),
        "scale_settings": spec.scale_settings.model_dump(mode="json"),
    }


class OnlineDeployment(pulumi.ComponentResource):
    """One deployment: its image and `instance_count` scorer containers on the endpoint's network."""

    instances: pulumi.Output[list[str]]
    container_names: pulumi.Output[list[str]]
    image: pulumi.Output[str]
    provisioning_state: pulumi.Output[str]

    def __init__(
        self, name: str, args: OnlineDeploymentArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        spec = args.spec
        plan = environments.plan_for_spec(spec.environment, base_image=args.target.base_image)
        image_tag = environments.image_tag(plan)
        super().__init__("mlendpoints:online:OnlineDeployment", name, _policy_props(spec, image_tag), opts)
        for warning in plan.warnings:
            pulumi.log.warn(f"deployment {spec.name}: {warning}", resource=self)

        image = ServingImage(
            f"{name}-image",
            plan,
            image_tag,
            purpose=f"deployment {spec.name}",
            opts=pulumi.ResourceOptions(parent=self),
        )
        mounts, env = local_plan.scorer_mounts_and_env(spec)
        nano_cpus, mem_mb = local_plan.local_limits(spec.instance_type, *local_plan.host_resources())
        content = local_plan.tree_digest(Path(p) for p in mounts.values())
        probe = spec.readiness_probe
        # A script that never gets ready fails the update after Azure's own budget for the probe.
        ready_timeout = max(
            args.target.ready_timeout_s, probe.initial_delay + probe.period * probe.failure_threshold
        )
        base = {
            "image": image_tag,
            "network": args.network,
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
            "ready_port": local_plan.SCORER_PORT,
            "ready_timeout_s": ready_timeout,
            "health": local_plan.liveness_health(spec),
        }
        containers = []
        for index in range(spec.effective_instance_count):
            cname = local_plan.instance_name(
                spec.endpoint_name, spec.name, index, local_plan.digest({**base, "network": "", "i": index})
            )
            containers.append(
                DockerContainer(
                    f"{name}-{index}",
                    {**base, "name": cname, "aliases": [cname]},
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[image]),
                )
            )
        names = [c.name for c in containers]
        self.container_names = pulumi.Output.all(*names).apply(list)
        self.instances = self.container_names.apply(lambda ns: [f"{n}:{local_plan.SCORER_PORT}" for n in ns])
        self.image = image.tag
        self.provisioning_state = pulumi.Output.all(*[c.container_id for c in containers]).apply(
            lambda _: "Succeeded"
        )
        self.register_outputs(
            {
                "instances": self.instances,
                "container_names": self.container_names,
                "image": self.image,
                "provisioning_state": self.provisioning_state,
            }
        )


@dataclass(frozen=True)
class OnlineEndpointArgs:
    """Inputs of OnlineEndpoint: the endpoint spec and its deployments' specs."""

    endpoint: OnlineEndpointSpec
    deployments: tuple[OnlineDeploymentSpec, ...]
    target: LocalTarget
    key_rotation: int = 0


def _endpoint_props(spec: OnlineEndpointSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "auth_mode": spec.auth_mode,
        "traffic": dict(spec.traffic),
        "mirror_traffic": dict(spec.mirror_traffic),
        "public_network_access": spec.public_network_access,
        "target": "local",
    }


class OnlineEndpoint(pulumi.ComponentResource):
    """A stable scoring URL with key/token auth in front of its deployments, with traffic and mirroring.

    Order, as on every target: network and keys, then the deployments, then traffic (the router's
    config, which names every deployment's instances), then the router that serves it.
    """

    scoring_uri: pulumi.Output[str]
    swagger_uri: pulumi.Output[str]
    provisioning_state: pulumi.Output[str]
    primary_key: pulumi.Output[str]
    secondary_key: pulumi.Output[str]
    token_secret: pulumi.Output[str]
    deployment_states: pulumi.Output[dict[str, str]]
    router_container: pulumi.Output[str]
    agent_container: pulumi.Output[str]

    def __init__(
        self, name: str, args: OnlineEndpointArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        spec = args.endpoint
        super().__init__("mlendpoints:online:OnlineEndpoint", name, _endpoint_props(spec), opts)
        child = pulumi.ResourceOptions(parent=self)
        network = EndpointNetwork(f"{name}-net", EndpointNetworkArgs(endpoint_name=spec.name), child)
        keys = EndpointKeys(f"{name}-keys", endpoint=spec.name, rotation=args.key_rotation, opts=child)

        deployments = {
            d.name: OnlineDeployment(
                f"{name}-{d.name}",
                OnlineDeploymentArgs(spec=d, network=network.network_name, target=args.target),
                child,
            )
            for d in args.deployments
        }
        # Output.all() of no outputs is a list, not a dict: an endpoint may have no deployments yet.
        instances = (
            pulumi.Output.all(**{n: d.instances for n, d in deployments.items()})
            if deployments
            else pulumi.Output.from_input({})
        )
        timeouts = {d.name: d.request_settings.request_timeout_ms for d in args.deployments}
        request_logs = {d.name: d.app_insights_enabled for d in args.deployments}
        config = instances.apply(
            lambda inst: local_plan.router_config(
                spec.name, spec.auth_mode, inst, timeouts, spec.traffic, spec.mirror_traffic, request_logs
            )
        )
        secrets = pulumi.Output.all(keys.primary_key, keys.secondary_key, keys.token_secret).apply(
            lambda k: {"primary_key": k[0], "secondary_key": k[1], "token_secret": k[2]}
        )
        folder = args.target.state_dir / spec.name / "router"
        traffic = RouterFiles(
            f"{name}-traffic",
            folder=str(folder),
            config=config,
            secrets=secrets,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(deployments.values())),
        )
        router_plan = environments.EnvironmentPlan(base_image=args.target.base_image)
        router_tag = environments.image_tag(router_plan)
        router_image = ServingImage(f"{name}-router-image", router_plan, router_tag, "the router", child)
        agent = endpoint_agent(name, spec.name, args.target.base_image, self)
        mount = local_plan.ROUTER_CONFIG_MOUNT
        router = DockerContainer(
            f"{name}-router",
            {
                "name": f"{spec.name}-router",
                "image": router_tag,
                "network": network.network_name,
                "command": ["python", "-m", "serving.router"],
                "user": f"{os.getuid()}:{os.getgid()}",
                "env": {
                    "MLE_ROUTER_CONFIG": f"{mount}/config.json",
                    "MLE_ROUTER_SECRETS_FILE": f"{mount}/secrets.json",
                    "MLE_ROUTER_PORT": str(local_plan.ROUTER_PORT),
                },
                "mounts": {mount: str(folder)},
                # 0 (not None: Pulumi drops None from maps) lets the engine pick a free port.
                "publish": {str(local_plan.ROUTER_PORT): args.target.router_port},
                "labels": {"io.mlendpoints.endpoint": spec.name, "io.mlendpoints.role": "router"},
                "ready_path": "/",
                "ready_port": local_plan.ROUTER_PORT,
                "ready_timeout_s": args.target.ready_timeout_s,
                "health": dict(local_plan.ROUTER_HEALTH),
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[traffic, router_image]),
        )
        port = router.ports.apply(lambda p: p[str(local_plan.ROUTER_PORT)])
        # The update returns only once the router serves exactly these files (traffic, keys).
        applied = RouterApplied(
            f"{name}-traffic-applied",
            url=port.apply(lambda p: f"http://127.0.0.1:{p}/"),
            digest=pulumi.Output.all(config, secrets).apply(lambda cs: expected_digest(cs[0], cs[1])),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[router, traffic]),
        )
        self.scoring_uri = port.apply(lambda p: f"http://127.0.0.1:{p}/score")
        self.swagger_uri = port.apply(lambda p: f"http://127.0.0.1:{p}/swagger.json")
        self.provisioning_state = pulumi.Output.all(router.container_id, applied.urn).apply(
            lambda _: "Succeeded"
        )
        self.primary_key = keys.primary_key
        self.secondary_key = keys.secondary_key
        self.token_secret = keys.token_secret
        self.deployment_states = pulumi.Output.all(
            **{n: d.provisioning_state for n, d in deployments.items()}
        ).apply(dict)
        self.router_container = pulumi.Output.from_input(f"{spec.name}-router")
        self.agent_container = agent.name
        self.register_outputs(
            {
                "scoring_uri": self.scoring_uri,
                "swagger_uri": self.swagger_uri,
                "provisioning_state": self.provisioning_state,
                "primary_key": self.primary_key,
                "secondary_key": self.secondary_key,
                "token_secret": self.token_secret,
                "deployment_states": self.deployment_states,
                "router_container": self.router_container,
                "agent_container": self.agent_container,
            }
        )
