"""Docker network and container resources for the local target, as Pulumi dynamic providers.

Why dynamic providers and not pulumi-docker: the pulumi-docker provider plugin cannot be had on
machines without internet (its Go module is not on the module proxy they reach, and plugin
downloads are blocked), while dynamic providers run inside the real Pulumi engine with real
previews, diffs, state and destroy. Each provider is a thin shell over `docker_engine`.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider

from components.targets.local import docker_engine
from serving.agent.containers import spec_from_props

# The serialized provider itself: a new version of this code must not replace running containers.
_CONTAINER_IN_PLACE = frozenset({"__provider"})


class _NetworkProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        net_id = docker_engine.ensure_network(props["name"], props.get("labels") or {})
        return CreateResult(id_=net_id, outs={**props, "network_id": net_id})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in ("name", "labels") if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=changed, delete_before_replace=True)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        if not docker_engine.network_exists(id_):
            return ReadResult(id_="", outs={})
        return ReadResult(id_=id_, outs=props)

    def delete(self, id_: str, _props: dict[str, Any]) -> None:
        docker_engine.remove_network(id_)


class DockerNetwork(Resource):
    """A user-defined bridge network on the local Docker engine."""

    network_id: pulumi.Output[str]
    name: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        name: pulumi.Input[str],
        labels: pulumi.Input[dict[str, str]] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            _NetworkProvider(),
            resource_name,
            {"name": name, "labels": labels or {}, "network_id": None},
            opts,
        )


_CONTAINER_OUTPUTS = ("container_id", "ports")


class _ContainerProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        started = docker_engine.run_container(spec_from_props(props))
        return CreateResult(
            id_=started["id"], outs={**props, "container_id": started["id"], "ports": started["ports"]}
        )

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        keys = (set(olds) | set(news)) - _CONTAINER_IN_PLACE - set(_CONTAINER_OUTPUTS)
        changed = sorted(k for k in keys if olds.get(k) != news.get(k))
        # Every change replaces the container (there is no in-place update). A replacement under
        # a new name starts before the old container stops (no gap); under the
        # same name the old one has to go first.
        return DiffResult(
            changes=bool(changed), replaces=changed, delete_before_replace="name" not in changed
        )

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        if not docker_engine.container_present(id_):
            return ReadResult(id_="", outs={})
        return ReadResult(id_=id_, outs=props)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        docker_engine.remove_container(id_)
        # Containers this one made at run time (a batch endpoint's agent makes its nodes): Pulumi does
        # not know them, so they go with their maker.
        owns = props.get("owns") or []
        for labels in [owns] if isinstance(owns, dict) else owns:  # one label set (older state) or several
            docker_engine.remove_labelled(dict(labels))


class DockerContainer(Resource):
    """One running container on the local Docker engine, ready (per its probe) when created."""

    name: pulumi.Output[str]
    container_id: pulumi.Output[str]
    ports: pulumi.Output[dict[str, int]]

    def __init__(
        self,
        resource_name: str,
        props: dict[str, Any],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            _ContainerProvider(),
            resource_name,
            {**props, "container_id": None, "ports": None},
            opts,
        )
