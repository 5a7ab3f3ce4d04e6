"""One online endpoint suite, two targets: what differs between local Docker and Kubernetes, per target.

Each driver writes the stack config the target's users would (managed deployments locally, Azure's
kubernetesOnline* documents on Kubernetes) and looks at scorer instances the way the target keeps
them (containers, pods).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker

from tests.integration.fixtures.tiny_endpoint import local_stack

SMALL = {"requests": {"cpu": "0.1", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}
AUTOSCALED = {
    "type": "target_utilization",
    "min_instances": 1,
    "max_instances": 3,
    "target_utilization_percentage": 65,
}


def kubectl(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", *args], capture_output=True, text=True, check=check, timeout=60)


def scorer_deployment(endpoint: str, name: str, root: Path) -> dict[str, Any]:
    """A deployment of examples/online/model-<name> copied under `root`: model, code, environment."""
    return {
        "name": name,
        "endpoint_name": endpoint,
        "model": {"path": str(root / f"model-{name}" / "model")},
        "code_configuration": {
            "code": str(root / f"model-{name}" / "onlinescoring"),
            "scoring_script": "score.py",
        },
        "environment": {
            "conda_file": str(root / f"model-{name}" / "environment" / "conda.yaml"),
            "image": "mlendpoints/base:bookworm-py311",
        },
    }


def kubernetes_deployment(endpoint: str, name: str, root: Path, count: int | None) -> dict[str, Any]:
    """Azure's kubernetesOnlineDeployment; `count=None` autoscales (AUTOSCALED)."""
    doc = {
        "$schema": "https://azuremlschemas.azureedge.net/latest/kubernetesOnlineDeployment.schema.json",
        "type": "kubernetes",
        **scorer_deployment(endpoint, name, root),
        "instance_type": "defaultinstancetype",
        "resources": SMALL,
    }
    if count is None:
        doc["scale_settings"] = AUTOSCALED
    else:
        doc["instance_count"] = count
    return doc


class LocalDriver:
    """Scorer instances are containers of the endpoint's label; the agent restarts a killed one."""

    target = "local"
    endpoint = "it-on-local"
    workload_type = "mlendpoints:online:OnlineDeployment"

    def require(self) -> None:
        docker.from_env().ping()

    def clear_leftovers(self) -> None:
        """Nothing to clear: containers of an interrupted run are replaced by name on the next up."""

    def deployment(self, name: str, root: Path, count: int) -> dict[str, Any]:
        return {
            **scorer_deployment(self.endpoint, name, root),
            "instance_type": "Standard_DS1_v2",
            "instance_count": count,
        }

    def config(self, endpoint: dict[str, Any], deployments: list[dict[str, Any]]) -> dict[str, Any]:
        return local_stack({"endpoints": [endpoint], "deployments": deployments})

    def _containers(self, deployment: str | None = None) -> list[Any]:
        labels = [f"io.mlendpoints.endpoint={self.endpoint}"]
        labels.append(
            f"io.mlendpoints.deployment={deployment}" if deployment else "io.mlendpoints.deployment"
        )
        return docker.from_env().containers.list(all=True, filters={"label": labels})

    def instances(self, deployment: str | None = None) -> dict[str, str]:
        """name -> id of the scorer instances (ids change when an instance is replaced)."""
        return {c.name: c.id for c in self._containers(deployment)}

    def generations(self) -> dict[str, str]:
        """name -> what changes when an instance restarts or is replaced."""
        return {c.name: f"{c.id}@{c.attrs['State']['StartedAt']}" for c in self._containers()}

    def scored(self, instance: str) -> int:
        logs = docker.from_env().containers.get(instance).logs().decode("utf-8", "replace")
        return sum(1 for line in logs.splitlines() if '"path": "/score"' in line)

    def kill(self, instance: str) -> Callable[[], bool]:
        """SIGKILL the instance; the returned check is true once it serves again as a new process."""
        container = docker.from_env().containers.get(instance)
        started = container.attrs["State"]["StartedAt"]
        container.kill()

        def replaced() -> bool:
            container.reload()
            health = container.attrs["State"].get("Health", {}).get("Status", "healthy")
            return (
                bool(container.status == "running" and container.attrs["State"]["StartedAt"] != started)
                and health == "healthy"
            )

        return replaced

    def autoscaled_instances(self, name: str, up_output: str) -> int:
        """How the local target runs an autoscaled deployment: its minimum, with a warning saying so."""
        assert "the local target does not autoscale: it runs min_instances (1)" in up_output, up_output[
            -3000:
        ]
        return len(self.instances(name))

    def gone(self) -> None:
        client = docker.from_env()
        label = f"io.mlendpoints.endpoint={self.endpoint}"
        assert not client.containers.list(all=True, filters={"label": label})
        assert not client.networks.list(filters={"label": label})


class KubernetesDriver:
    """Scorer instances are pods in the endpoint's namespace; Kubernetes replaces a deleted one."""

    target = "kubernetes"
    endpoint = "it-on-k8s"
    workload_type = "kubernetes:apps/v1:Deployment"

    @property
    def namespace(self) -> str:
        return f"mle-{self.endpoint}"

    def require(self) -> None:
        missing = [
            v
            for v in ("KUBECONFIG", "MLENDPOINTS_REGISTRY", "MLENDPOINTS_NODE_ADDRESS")
            if not os.environ.get(v)
        ]
        if missing or shutil.which("kubectl") is None:
            raise AssertionError(
                f"no cluster set up ({', '.join(missing) or 'kubectl'}): run the tests with `make test`"
            )
        kubectl("get", "nodes")

    def clear_leftovers(self) -> None:
        # An interrupted earlier run (its stack state gone with its temporary stack) may have left the
        # namespace: its objects would conflict with this stack's (server-side apply field managers).
        kubectl("delete", "namespace", self.namespace, "--ignore-not-found", "--wait=true", "--timeout=50s")

    def deployment(self, name: str, root: Path, count: int) -> dict[str, Any]:
        return kubernetes_deployment(self.endpoint, name, root, count)

    def config(self, endpoint: dict[str, Any], deployments: list[dict[str, Any]]) -> dict[str, Any]:
        schema = "https://azuremlschemas.azureedge.net/latest/kubernetesOnlineEndpoint.schema.json"
        return {
            "mlendpoints:target": "kubernetes",
            "mlendpoints:serving": {
                "endpoints": [{"$schema": schema, **endpoint}],
                "deployments": deployments,
            },
            "mlendpoints:quota": {"total_cores": 16, "total_memory_gb": 64},
            # Two router pods: a traffic change must be in force in both before `up` returns.
            "mlendpoints:kubernetes": {"router_replicas": 2},
        }

    def _items(self, kind: str, *selector: str) -> list[dict[str, Any]]:
        found = kubectl("-n", self.namespace, "get", kind, *selector, "-o", "json").stdout
        items: list[dict[str, Any]] = json.loads(found)["items"]
        return items

    def instances(self, deployment: str | None = None) -> dict[str, str]:
        label = f"io.mlendpoints.deployment={deployment}" if deployment else "io.mlendpoints.deployment"
        return {
            p["metadata"]["name"]: p["metadata"]["uid"]
            for p in self._items("pods", "-l", label)
            if p["metadata"].get("deletionTimestamp") is None
        }

    def generations(self) -> dict[str, str]:
        # Pods and the Deployments that own them: a rollout would change both.
        pods = {f"pod/{n}": uid for n, uid in self.instances().items()}
        owners = {
            f"deployment/{d['metadata']['name']}": d["metadata"]["uid"] for d in self._items("deployments")
        }
        return {**pods, **owners}

    def scored(self, instance: str) -> int:
        logs = kubectl("-n", self.namespace, "logs", instance).stdout
        return sum(1 for line in logs.splitlines() if '"path": "/score"' in line)

    def kill(self, instance: str) -> Callable[[], bool]:
        deployment = next(
            p["metadata"]["labels"]["io.mlendpoints.deployment"]
            for p in self._items("pods")
            if p["metadata"]["name"] == instance
        )
        count = len(self.instances(deployment))
        kubectl(
            "-n", self.namespace, "delete", "pod", instance, "--grace-period=0", "--force", "--wait=false"
        )

        def replaced() -> bool:
            ready = [
                p["metadata"]["name"]
                for p in self._items("pods", "-l", f"io.mlendpoints.deployment={deployment}")
                if all(c.get("ready") for c in p["status"].get("containerStatuses") or [{}])
                and p["metadata"].get("deletionTimestamp") is None
            ]
            return len(ready) == count and instance not in ready

        return replaced

    def autoscaled_instances(self, name: str, up_output: str) -> int:
        """The HorizontalPodAutoscaler Kubernetes scales the deployment with, checked against AUTOSCALED."""
        hpa = json.loads(
            kubectl("-n", self.namespace, "get", "hpa", f"{self.endpoint}-{name}", "-o", "json").stdout
        )
        spec = hpa["spec"]
        assert (spec["minReplicas"], spec["maxReplicas"]) == (1, 3)
        assert spec["metrics"][0]["resource"]["target"]["averageUtilization"] == 65
        assert spec["scaleTargetRef"]["name"] == f"{self.endpoint}-{name}"
        deadline = time.monotonic() + 120
        while len(self.instances(name)) < 1:
            assert time.monotonic() < deadline, "the autoscaled deployment started no pod"
            time.sleep(1)
        return len(self.instances(name))

    def gone(self) -> None:
        gone = kubectl("get", "namespace", self.namespace, check=False)
        assert gone.returncode != 0 or "Terminating" in gone.stdout, gone.stdout


DRIVERS: dict[str, type[LocalDriver] | type[KubernetesDriver]] = {
    "local": LocalDriver,
    "kubernetes": KubernetesDriver,
}
