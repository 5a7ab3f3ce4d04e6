"""Pure planning of batch endpoints on the local target: controller config, node templates, containers."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from components.pipeline_plans import PipelinePlan
from components.specs import AmlComputeSpec, BatchEndpointSpec, ModelBatchDeploymentSpec
from components.targets.local import plan as local_plan
from components.targets.local.host_files import render
from components.targets.scorer_env import app_env
from serving.batch import protocol

CONTROLLER_CONFIG_MOUNT = "/etc/mlendpoints/batch"
CONTROLLER_STATE_MOUNT = "/var/lib/mlendpoints/batch"
AGENT_RUN_MOUNT = "/run/mlendpoints/agent"
AGENT_SOCKET = f"{AGENT_RUN_MOUNT}/agent.sock"
AGENT_TEMPLATES_MOUNT = "/etc/mlendpoints/agent"
NODE_TEMPLATES_FILE = "nodes.json"
CONFIG_FILE = "config.json"
# What makes a batch endpoint's agent serve the node API (serving.agent.settings).
AGENT_NODE_ENV = {
    "MLE_AGENT_NODE_TEMPLATES": f"{AGENT_TEMPLATES_MOUNT}/{NODE_TEMPLATES_FILE}",
    "MLE_AGENT_NODE_SOCKET": AGENT_SOCKET,
}
SECRETS_FILE = "secrets.json"
# The cluster's tier on each node container: `mle batch preempt` takes away low_priority nodes only.
TIER_LABEL = "io.mlendpoints.tier"


def controller_name(endpoint: str) -> str:
    """Container name of the endpoint's controller; nodes reach it by this name on the private network."""
    return f"{endpoint}-controller"


def node_secret(token_secret: str, endpoint: str) -> str:
    """The secret nodes present to the controller's internal API, derived from the endpoint's token
    secret (rotating the endpoint's keys rotates it too)."""
    return hmac.new(token_secret.encode(), f"nodes:{endpoint}".encode(), hashlib.sha256).hexdigest()


def cluster_limits(size: str, host_cpus: int, host_memory_mb: int) -> tuple[int, int]:
    """(nano_cpus, memory MB) of one node: the cluster's VM size, capped by this host."""
    return local_plan.local_limits(size, host_cpus, host_memory_mb)


def datastore_mounts(datastores: Mapping[str, str]) -> dict[str, str]:
    """Container path -> host folder of every datastore (mounted read-write in controller and nodes)."""
    return {
        f"{protocol.DATASTORES_ROOT}/{name}": str(Path(path)) for name, path in sorted(datastores.items())
    }


def deployment_config(
    spec: ModelBatchDeploymentSpec, cluster: AmlComputeSpec, node_template: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """One deployment's entry of the controller config (protocol.DeploymentConfig)."""
    settings = spec.settings
    return {
        "name": spec.name,
        "template": template_version(node_template) if node_template is not None else "",
        "settings": {
            "mini_batch_size": settings.mini_batch_size,
            "max_concurrency_per_instance": settings.max_concurrency_per_instance,
            "instance_count": spec.resources.instance_count,
            "output_action": settings.output_action,
            "output_file_name": settings.output_file_name,
            "retry_settings": {
                "max_retries": settings.retry_settings.max_retries,
                "timeout": settings.retry_settings.timeout,
            },
            "error_threshold": settings.error_threshold,
            "logging_level": settings.logging_level,
        },
        "cluster": cluster_config(cluster),
    }


def template_version(node_template: Mapping[str, Any]) -> str:
    """A digest of what a deployment's nodes are made from, for the controller config: a new image or
    cluster size changes the config, so `pulumi up` waits until the controller knows the old nodes."""
    return hashlib.sha256(render(node_template).encode()).hexdigest()[:16]


def cluster_config(cluster: AmlComputeSpec) -> dict[str, Any]:
    """What the controller knows of a deployment's cluster (protocol.ClusterLimits)."""
    return {
        "name": cluster.name,
        "min_instances": cluster.min_instances,
        "max_instances": cluster.max_instances,
        "idle_time_before_scale_down": cluster.idle_time_before_scale_down,
        "low_priority": cluster.tier == "low_priority",
    }


def pipeline_deployment_config(plan: PipelinePlan, cluster: AmlComputeSpec) -> dict[str, Any]:
    """A pipeline deployment's entry of the controller config: its steps (protocol.PipelineConfig)."""
    return {
        "name": plan.deployment.name,
        "settings": protocol.JobSettings().model_dump(mode="json"),
        "cluster": cluster_config(cluster),
        "pipeline": plan.config,
    }


def controller_config(
    endpoint: BatchEndpointSpec,
    deployments: Mapping[str, dict[str, Any]],
    datastores: Mapping[str, str],
) -> dict[str, Any]:
    """The controller's config file (protocol.ControllerConfig), validated here as the controller will."""
    config = {
        "endpoint": endpoint.name,
        "default_deployment": endpoint.defaults.deployment_name,
        "deployments": dict(sorted(deployments.items())),
        "datastores": {name: f"{protocol.DATASTORES_ROOT}/{name}" for name in sorted(datastores)},
    }
    protocol.ControllerConfig.model_validate(config)
    return config


def node_env(spec: ModelBatchDeploymentSpec, endpoint: str) -> tuple[dict[str, str], dict[str, str]]:
    """(read-only mounts, environment) of a node: the driver and model as Azure lays them out."""
    mounts = local_plan.app_mounts(spec)
    env = app_env(spec)
    env.update(
        {
            "MLE_BATCH_CONTROLLER_URL": f"http://{controller_name(endpoint)}:{protocol.INTERNAL_PORT}",
            "MLE_BATCH_DEPLOYMENT": spec.name,
            "MLE_BATCH_PROCESSES": str(spec.settings.max_concurrency_per_instance),
        }
    )
    env.update({k: str(v) for k, v in spec.settings.environment_variables.items()})
    return mounts, env


def node_template(
    spec: ModelBatchDeploymentSpec,
    cluster: AmlComputeSpec,
    image: str,
    network: str,
    datastores: Mapping[str, str],
    secret: str,
    user: str,
    cluster_id: str | None = None,
) -> dict[str, Any]:
    """The agent's template for this deployment's nodes (serving.agent.nodes.NodeTemplate).

    `cluster_id` tells clusters apart across stacks (two stacks may both have a `cpu-cluster`): the
    agent counts a cluster's nodes by it, over every endpoint, against `max_instances`.
    """
    mounts, env = node_env(spec, spec.endpoint_name)
    nano_cpus, mem_mb = cluster_limits(cluster.size, *local_plan.host_resources())
    return {
        "cluster": cluster_id or cluster.name,
        "max_instances": cluster.max_instances,
        "container": {
            "name": "node",
            "image": image,
            "network": network,
            "command": ["python", "-m", "serving.batch.node"],
            "env": {**env, "MLE_BATCH_NODE_SECRET": secret},
            # The tier tells `mle batch preempt` which nodes it may take away (low_priority only).
            "labels": {"io.mlendpoints.endpoint": spec.endpoint_name, TIER_LABEL: cluster.tier},
            "mounts": mounts,
            "writable_mounts": datastore_mounts(datastores),
            "nano_cpus": nano_cpus,
            "mem_limit_mb": mem_mb,
            # Files the nodes write (outputs, logs) belong to whoever runs `pulumi up`.
            "user": user,
            "ready_timeout_s": 60,
        },
    }


def host_user() -> str:
    return f"{os.getuid()}:{os.getgid()}"


def controller_container(
    endpoint: str,
    image: str,
    *,
    network_name: Any,
    config_dir: str,
    state_dir: str,
    run_dir: str,
    datastores: Mapping[str, str],
    port: int,
) -> dict[str, Any]:
    """Props of the endpoint's controller container (the jobs API on 127.0.0.1:`port`, 0: any)."""
    name = controller_name(endpoint)
    return {
        "name": name,
        "image": image,
        "network": network_name,
        "aliases": [name],
        "command": ["python", "-m", "serving.batch.controller"],
        "user": host_user(),
        "env": {
            "MLE_BATCH_CONFIG": f"{CONTROLLER_CONFIG_MOUNT}/{CONFIG_FILE}",
            "MLE_BATCH_SECRETS_FILE": f"{CONTROLLER_CONFIG_MOUNT}/{SECRETS_FILE}",
            "MLE_BATCH_STATE_DIR": CONTROLLER_STATE_MOUNT,
            "MLE_BATCH_AGENT_SOCKET": AGENT_SOCKET,
            "MLE_BATCH_DATASTORES_ROOT": protocol.DATASTORES_ROOT,
        },
        "mounts": {CONTROLLER_CONFIG_MOUNT: config_dir},
        "writable_mounts": {CONTROLLER_STATE_MOUNT: state_dir, AGENT_RUN_MOUNT: run_dir, **datastores},
        "publish": {str(protocol.PUBLIC_PORT): port},
        "labels": {"io.mlendpoints.endpoint": endpoint, "io.mlendpoints.role": "controller"},
        "ready_path": "/",
        "ready_port": protocol.PUBLIC_PORT,
        "ready_timeout_s": 60,
        "health": {
            "test": local_plan.probe_test(protocol.PUBLIC_PORT, "/"),
            "interval_s": 10,
            "timeout_s": 5,
            "retries": 3,
            "start_period_s": 5,
        },
    }
