"""The endpoint's agent container on the local target (serving.agent): heals, and starts batch nodes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi

from components import environments
from components.targets.local import plan as local_plan
from components.targets.local.docker_image import ServingImage
from components.targets.local.docker_resources import DockerContainer

# The agent's image: the serving runtime plus the Docker SDK (not in the scorer images, where it
# could clash with what users' environments pin).
AGENT_REQUIREMENTS = ("docker==7.2.0",)


def endpoint_agent(
    name: str,
    endpoint: str,
    base_image: str,
    parent: pulumi.Resource,
    *,
    env: Mapping[str, str] | None = None,
    mounts: Mapping[str, str] | None = None,
    writable_mounts: Mapping[str, str] | None = None,
    owns: Sequence[Mapping[str, str]] = (),
    depends_on: Sequence[pulumi.Resource] = (),
) -> DockerContainer:
    """`<name>-agent` (and its image) under `parent`; extra env and mounts for batch endpoints."""
    plan = environments.EnvironmentPlan(requirements=AGENT_REQUIREMENTS, base_image=base_image)
    tag = environments.image_tag(plan)
    image = ServingImage(
        f"{name}-agent-image", plan, tag, "the endpoint's agent", pulumi.ResourceOptions(parent=parent)
    )
    try:
        socket_path = local_plan.docker_socket()
    except ValueError as exc:
        raise pulumi.RunError(str(exc)) from None
    props = local_plan.agent_container(endpoint, tag, socket_path)
    props["env"] = {**props["env"], **(env or {})}
    if mounts:
        props["mounts"] = dict(mounts)
    props["writable_mounts"] = {**props["writable_mounts"], **(writable_mounts or {})}
    if owns:
        # Removed with the agent: the containers it creates itself (batch nodes, pipeline steps).
        props["owns"] = [dict(labels) for labels in owns]
    return DockerContainer(
        f"{name}-agent", props, pulumi.ResourceOptions(parent=parent, depends_on=[image, *depends_on])
    )
