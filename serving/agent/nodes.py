"""Batch nodes on request of the endpoint's controller: created from templates `pulumi up` wrote.

The controller may only say how many nodes of a deployment it wants and which idle node to stop;
what a node is (image, mounts, limits, network) comes from the templates file alone, and the agent
never touches a container that is not a node of its endpoint.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from serving.agent.containers import create_kwargs, spec_from_props
from serving.agent.engine import ENDPOINT_LABEL, MANAGED_LABEL, ROLE_LABEL

log = logging.getLogger("serving.agent")
NODE_ROLE = "node"
DEPLOYMENT_LABEL = "io.mlendpoints.deployment"
CLUSTER_LABEL = "io.mlendpoints.cluster"
# Digest of the template a node was made from: nodes of an older template (new image, new size,
# rotated secret: `pulumi up` changed the deployment or its cluster) are drained and replaced by the
# controller (GET /nodes says which are `current`), never handed new work.
TEMPLATE_LABEL = "io.mlendpoints.template"
# The node's own name, for its logs and leases (set by the agent: names are chosen at creation).
NODE_NAME_ENV = "MLE_BATCH_NODE_NAME"


class NodeError(Exception):
    """A request the agent refuses or cannot carry out; the message says why."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class NodeTemplate(BaseModel):
    """How to create one node of a deployment: container props (name is chosen per node)."""

    model_config = ConfigDict(extra="forbid")

    cluster: str = Field(description="Compute cluster the node belongs to.")
    max_instances: int = Field(ge=1, description="The cluster's most nodes (all deployments together).")
    container: dict[str, Any] = Field(description="ContainerSpec props (serving.agent.containers).")


class NodeTemplates(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoint: str
    deployments: dict[str, NodeTemplate] = Field(default_factory=dict)
    # Pipeline deployments' steps, by "<deployment>/<step>" (serving.agent.steps).
    steps: dict[str, NodeTemplate] = Field(default_factory=dict)


@dataclass(frozen=True)
class Node:
    name: str
    deployment: str
    cluster: str
    status: str
    started_at: str
    template: str = ""

    def as_json(self, current: bool) -> dict[str, str | bool]:
        return {
            "name": self.name,
            "deployment": self.deployment,
            "status": self.status,
            "started_at": self.started_at,
            "current": current,
        }


def template_digest(template: NodeTemplate) -> str:
    return hashlib.sha256(template.model_dump_json().encode()).hexdigest()[:16]


def load_templates(path: Path) -> NodeTemplates:
    try:
        return NodeTemplates.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, ValidationError) as exc:
        raise NodeError(f"node templates {path} cannot be read: {exc}", status=503) from None


def to_create(
    live: Sequence[Node], deployment: str, cluster: str, wanted: int, max_instances: int, digest: str = ""
) -> int:
    """How many nodes of `deployment` to create so that `wanted` of its current template run, within
    the cluster's limit.

    `live` are the nodes that run or are starting, of every deployment on the cluster (another
    endpoint's included): together they never exceed max_instances. A node of an older template
    (`digest` given) still takes its place on the cluster while it drains, but counts for nothing.
    """
    mine = sum(
        1 for node in live if node.deployment == deployment and (not digest or node.template == digest)
    )
    on_cluster = sum(1 for node in live if node.cluster == cluster)
    return max(0, min(wanted - mine, max_instances - on_cluster))


_LIVE = frozenset({"created", "running", "restarting"})


def remove_container(client: Any, name: str) -> None:
    """Remove a container the agent made (gone already is fine)."""
    try:
        client.containers.get(name).remove(force=True)
    except docker.errors.NotFound:
        return


def live_on_cluster(client: Any, cluster: str) -> int:
    """Containers running on a cluster now, nodes and pipeline steps of every endpoint together."""
    summaries = client.api.containers(all=True, filters={"label": [f"{CLUSTER_LABEL}={cluster}"]})
    return sum(1 for summary in summaries if str(summary.get("State") or "") in _LIVE)


class NodeManager:
    """Creates and removes the endpoint's batch nodes on the engine."""

    def __init__(self, endpoint: str, templates_path: Path, client: Any = None) -> None:
        self.endpoint = endpoint
        self.templates_path = templates_path
        self.client = client or docker.from_env()
        self._lock = threading.Lock()  # one ensure at a time: counts and creations stay consistent

    def _nodes(self, filters: dict[str, Any]) -> list[Node]:
        found = []
        for summary in self.client.api.containers(all=True, filters=filters):
            labels = summary.get("Labels") or {}
            found.append(
                Node(
                    name=str((summary.get("Names") or ["?"])[0]).lstrip("/"),
                    deployment=labels.get(DEPLOYMENT_LABEL, ""),
                    cluster=labels.get(CLUSTER_LABEL, ""),
                    status=str(summary.get("State") or "unknown"),
                    started_at=str(summary.get("Created") or ""),
                    template=labels.get(TEMPLATE_LABEL, ""),
                )
            )
        return sorted(found, key=lambda node: node.name)

    def nodes(self) -> list[Node]:
        """This endpoint's nodes, whatever their state."""
        return self._nodes(
            {
                "label": [
                    f"{ENDPOINT_LABEL}={self.endpoint}",
                    f"{ROLE_LABEL}={NODE_ROLE}",
                    f"{MANAGED_LABEL}=true",
                ]
            }
        )

    def ensure(self, deployment: str, count: int) -> list[str]:
        """At least min(count, what the cluster allows) running nodes of `deployment`; their names."""
        if count < 0 or count > 1000:
            raise NodeError(f"count must be between 0 and 1000 (got {count})")
        templates = load_templates(self.templates_path)
        template = templates.deployments.get(deployment)
        if template is None:
            known = ", ".join(sorted(templates.deployments)) or "none"
            raise NodeError(f"no batch deployment {deployment!r} (deployments: {known})", status=404)
        digest = template_digest(template)
        with self._lock:
            # Nodes that died (killed, preempted, OOM) are replaced, not restarted: their leases went
            # back to the controller, and a fresh node starts clean. A live node of an older template
            # stays until the controller removes it: it may be finishing a mini-batch.
            for node in self.nodes():
                if node.status not in _LIVE:
                    self._remove(node.name)
            # Pipeline steps on the cluster count too: together they stay within max_instances.
            cluster_nodes = self._nodes({"label": [f"{CLUSTER_LABEL}={template.cluster}"]})
            live = [node for node in cluster_nodes if node.status in _LIVE]
            missing = to_create(live, deployment, template.cluster, count, template.max_instances, digest)
            for _ in range(missing):
                self._create(deployment, template)
            return [
                n.name
                for n in self.nodes()
                if n.deployment == deployment and n.status in _LIVE and n.template == digest
            ]

    def listing(self) -> list[dict[str, str | bool]]:
        """GET /nodes: every node, and whether it was made from its deployment's current template (a
        node of a deployment the templates no longer name counts as current: the controller removes
        those as the deployment's, and unreadable templates change nothing)."""
        try:
            digests = {
                name: template_digest(template)
                for name, template in load_templates(self.templates_path).deployments.items()
            }
        except NodeError as exc:
            log.warning("%s; every node counts as current", exc)
            digests = {}
        return [
            node.as_json(current=digests.get(node.deployment, node.template) == node.template)
            for node in self.nodes()
        ]

    def _create(self, deployment: str, template: NodeTemplate) -> None:
        digest = template_digest(template)
        name = f"{self.endpoint}-{deployment}-node-{uuid.uuid4().hex[:8]}"
        props = dict(template.container)
        props["name"] = name
        props["env"] = {**(props.get("env") or {}), NODE_NAME_ENV: name}
        props["labels"] = {
            **(props.get("labels") or {}),
            ENDPOINT_LABEL: self.endpoint,
            DEPLOYMENT_LABEL: deployment,
            CLUSTER_LABEL: template.cluster,
            ROLE_LABEL: NODE_ROLE,
            TEMPLATE_LABEL: digest,
        }
        props["restart_policy"] = "no"
        props["publish"] = {}
        spec = spec_from_props(props)
        try:
            container = self.client.containers.create(**create_kwargs(spec))
            container.start()
        except docker.errors.DockerException as exc:
            raise NodeError(f"node of {deployment} could not start: {exc}", status=503) from None
        log.info("started node %s of deployment %s (cluster %s)", name, deployment, template.cluster)

    def remove(self, name: str) -> None:
        if name not in {node.name for node in self.nodes()}:
            raise NodeError(f"no node {name!r} of endpoint {self.endpoint}", status=404)
        self._remove(name)
        log.info("stopped node %s", name)

    def _remove(self, name: str) -> None:
        remove_container(self.client, name)
