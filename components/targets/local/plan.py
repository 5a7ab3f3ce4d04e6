"""Pure planning for the local target: names, limits, mounts, content digests, router config."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from components import quantities, skus
from components.specs import ModelBatchDeploymentSpec, OnlineDeploymentSpec
from components.targets.scorer_env import model_dir, scorer_env
from components.targets.serving_layout import CODE_MOUNT, ROUTER_PORT, SCORER_PORT

# Used when a deployment names no instance_type (custom containers): one core, 2 GiB.
DEFAULT_CORES, DEFAULT_MEMORY_MB = 1.0, 2048

_DNS_LABEL_MAX = 63


def local_limits(instance_type: str | None, host_cpus: int, host_memory_mb: int) -> tuple[int, int]:
    """(nano_cpus, memory MB) for one instance: the Azure size's cores and memory, capped by this host.

    Docker refuses a CPU limit above the host's cores; memory is capped at half the host so that a
    large SKU on a laptop still leaves room for the router and the other deployment.
    """
    sku = skus.find_sku(instance_type) if instance_type else None
    cores = float(sku.cores) if sku else DEFAULT_CORES
    memory_mb = int(sku.memory_gb * 1024) if sku else DEFAULT_MEMORY_MB
    cores = min(cores, float(host_cpus))
    memory_mb = min(memory_mb, host_memory_mb // 2)
    return int(cores * 1e9), memory_mb


def deployment_limits(
    spec: OnlineDeploymentSpec, host_cpus: int, host_memory_mb: int
) -> tuple[int, int, list[str]]:
    """(nano_cpus, memory MB, notes) of one instance: a Kubernetes deployment's `resources` (limits,
    else requests) as the cluster would bound its pod, else the instance type's size (local_limits).
    Both capped by this host, with a note saying so."""
    nano, memory = local_limits(spec.instance_type, host_cpus, host_memory_mb)
    if spec.resources is None:
        return nano, memory, []
    cpu, mem = spec.resources.bound()
    notes: list[str] = []
    if cpu is not None:
        cores = quantities.cpu_cores(cpu)
        if cores > host_cpus:
            notes.append(f"resources cpu {cpu} is more than this machine's {host_cpus} cores; capped")
        nano = int(min(cores, float(host_cpus)) * 1e9)
    if mem is not None:
        wanted = quantities.memory_mb(mem)
        if wanted > host_memory_mb // 2:
            notes.append(f"resources memory {mem} is more than half of this machine's memory; capped")
        # Docker refuses a memory limit under 6 MB.
        memory = max(6, min(wanted, host_memory_mb // 2))
    return nano, memory, notes


def host_resources() -> tuple[int, int]:
    """This machine's CPU count and memory in MB."""
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return os.cpu_count() or 1, pages // (1024 * 1024)


def scorer_mounts_and_env(spec: OnlineDeploymentSpec) -> tuple[dict[str, str], dict[str, str]]:
    """Read-only mounts (container path -> host path) and the Azure ML environment of one instance
    (components/targets/scorer_env.py: the same variables as on every target)."""
    return app_mounts(spec), scorer_env(spec)


def app_mounts(spec: OnlineDeploymentSpec | ModelBatchDeploymentSpec) -> dict[str, str]:
    """The model folder under AZUREML_MODEL_DIR and the code folder, read-only, as Azure lays them out."""
    mounts: dict[str, str] = {}
    if spec.model is not None and spec.model.path is not None:
        model_path = Path(spec.model.path)
        mounts[f"{model_dir(spec)}/{model_path.name}"] = str(model_path)
    if spec.code_configuration is not None:
        # Keyed by the container side: one host folder may be both the model and the code.
        mounts[CODE_MOUNT] = str(Path(spec.code_configuration.code))
    return mounts


def instance_name(endpoint: str, deployment: str, index: int, inputs_digest: str) -> str:
    """Container name of one instance; the digest makes every replacement a new name.

    With a new name the replacement can start before the old instance stops (create before
    delete), so changing a deployment never leaves it without a running instance. The router
    resolves instances by this name, so it must stay a DNS label (at most 63 characters): long
    endpoint and deployment names are cut, and a hash of both keeps the cut names apart.
    """
    tail = f"-{index}-{inputs_digest[:8]}"
    name = f"{endpoint}-{deployment}{tail}"
    if len(name) <= _DNS_LABEL_MAX:
        return name
    pair = hashlib.sha256(f"{endpoint}/{deployment}".encode()).hexdigest()[:8]
    head = f"{endpoint}-{deployment}"[: _DNS_LABEL_MAX - len(tail) - len(pair) - 1].rstrip("-")
    return f"{head}-{pair}{tail}"


# Docker runs a health check in a fresh interpreter every interval, in every container that has one.
# `-S` and `-c` skip the site-packages scan and runpy (serving is on the image's PYTHONPATH): with
# serving.probe's own lean imports a check costs ~14 ms of CPU here instead of ~70 ms.
_PROBE_SNIPPET = "import sys; from serving.probe import main; sys.exit(main(sys.argv[1:]))"


def probe_test(port: int, *paths: str) -> list[str]:
    """The health check's command: serving.probe on `port` (liveness path, then readiness path)."""
    return ["python", "-S", "-c", _PROBE_SNIPPET, str(port), *paths]


def liveness_health(spec: OnlineDeploymentSpec) -> dict[str, Any]:
    """The scorer's Docker health check from the deployment's liveness probe (Azure's semantics:
    `failure_threshold` failed probes `period` seconds apart restart the instance). It also
    records readiness (see serving.probe), which is how `mle show` reports ready instances."""
    probe = spec.liveness_probe
    return {
        "test": probe_test(SCORER_PORT, "/", "/readyz"),
        "interval_s": probe.period,
        "timeout_s": probe.timeout,
        "retries": probe.failure_threshold,
        "start_period_s": probe.initial_delay,
    }


# The router has no probe settings of its own: three failed probes ten seconds apart restart it.
ROUTER_HEALTH: Mapping[str, Any] = {
    "test": probe_test(ROUTER_PORT, "/"),
    "interval_s": 10,
    "timeout_s": 5,
    "retries": 3,
    "start_period_s": 5,
}


def docker_socket(environ: Mapping[str, str] | None = None) -> str:
    """Host path of the engine's socket, which the endpoint's agent mounts to heal containers."""
    host = (os.environ if environ is None else environ).get("DOCKER_HOST", "")
    if host.startswith("unix://"):
        return host.removeprefix("unix://")
    if host:
        raise ValueError(
            f"DOCKER_HOST={host}: the local target's agent needs the engine's unix socket on this machine"
        )
    return "/var/run/docker.sock"


def agent_container(endpoint: str, image: str, socket_path: str) -> dict[str, Any]:
    """Props of the endpoint's agent: no network, the engine socket, nothing else.

    It heals only containers labelled with its endpoint (serving.agent.engine) and takes no
    requests from anyone: nothing that parses callers' input ever holds the engine socket.
    """
    return {
        "name": f"{endpoint}-agent",
        "image": image,
        "network": "none",
        "command": ["python", "-m", "serving.agent"],
        # The socket belongs to root (or the docker group): the agent runs as root in its container.
        "user": "0:0",
        "env": {"MLE_AGENT_ENDPOINT": endpoint},
        "writable_mounts": {"/var/run/docker.sock": socket_path},
        "labels": {"io.mlendpoints.endpoint": endpoint, "io.mlendpoints.role": "agent"},
        "ready_path": None,
        "ready_port": None,
        "ready_timeout_s": 30,
    }
