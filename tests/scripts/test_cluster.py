"""The project's single-node Kubernetes cluster (scripts/cluster, the bootstrap's "kubernetes cluster"
step), for real: the node is Ready, an image pushed to the cluster's registry with `docker push` runs
in a pod that the host reaches through a NodePort and that its Deployment replaces when it is killed,
metrics-server answers `kubectl top node` and feeds a CPU HorizontalPodAutoscaler, and `down` puts
the host back as it was (interfaces, iptables, sysctls, folders, mounts, cgroups) before `up` brings
the same cluster back. The teardown test runs last and leaves the cluster up for the other suites.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
CLUSTER = REPO / "scripts" / "cluster"
NAMESPACE = "mle-cluster-test"
NODE = "mle-node"
SOURCE_IMAGE = os.environ.get("MLENDPOINTS_BASE_IMAGE", "mlendpoints/base:bookworm-py311")


def _project_env() -> dict[str, str]:
    """The environment `source scripts/env` gives (the Makefile's), whatever pytest was started with."""
    out = subprocess.run(
        ["bash", "-c", f"source {REPO}/scripts/env && env -0"], capture_output=True, check=True
    ).stdout
    return dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)


ENV = _project_env()
KUBECTL = str(Path(ENV["MLENDPOINTS_KUBE_BIN"]) / "kubectl")
NODE_IP = ENV.get("MLENDPOINTS_NODE_ADDRESS", "10.231.0.1")
REGISTRY = ENV.get("MLENDPOINTS_REGISTRY", "127.0.0.1:5000")
HOST_STATE = Path(ENV["MLENDPOINTS_CACHE"]) / "kubernetes" / "cluster" / "host-state.json"


def run(*argv: str, check: bool = True, timeout: float = 300, input: str | None = None) -> str:
    proc = subprocess.run(
        list(argv), env=ENV, capture_output=True, text=True, timeout=timeout, check=False, input=input
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def kubectl(*args: str, check: bool = True, input: str | None = None) -> str:
    return run(KUBECTL, "--request-timeout=30s", *args, check=check, input=input)


def wait_for(what: str, probe: Callable[[], Any], timeout: float, interval: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except Exception as err:  # a probe that raises has not succeeded yet
            last = err
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout:.0f}s (last: {last!r})")


def http_get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.status, resp.read().decode(errors="replace")


def node_ready() -> bool:
    out = kubectl("get", "node", NODE, "-o", 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')
    return out.strip() == "True"


@pytest.fixture(scope="module", autouse=True)
def cluster() -> Iterator[None]:
    if ENV.get("KUBECONFIG") != ENV.get("MLENDPOINTS_KUBECONFIG"):
        pytest.skip(f"KUBECONFIG={ENV.get('KUBECONFIG')} names a cluster of your own, not the project's")
    # make test bootstraps the cluster; started by hand otherwise.
    if subprocess.run([str(CLUSTER), "status", "--quiet"], env=ENV, check=False).returncode != 0:
        run(str(CLUSTER), "up", timeout=600)
    yield
    kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false", check=False)


@pytest.fixture(scope="module")
def image() -> str:
    """The base image, pushed to the cluster's registry the way the Kubernetes target pushes."""
    ref = f"{REGISTRY}/mlendpoints/base:bookworm-py311"
    run("docker", "tag", SOURCE_IMAGE, ref)
    out = run("docker", "push", ref, timeout=600)
    digest = re.search(r"digest: (sha256:[0-9a-f]{64})", out)
    assert digest, out
    return f"{ref}@{digest.group(1)}"


WEB = """
apiVersion: v1
kind: Namespace
metadata: {name: %(ns)s}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: %(ns)s}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: %(image)s
        imagePullPolicy: IfNotPresent
        command: ["python3", "-m", "http.server", "8000", "--directory", "/etc"]
        ports: [{containerPort: 8000}]
        readinessProbe: {httpGet: {path: /hostname, port: 8000}, periodSeconds: 1}
        resources:
          requests: {cpu: 50m, memory: 32Mi}
          limits: {cpu: 500m, memory: 128Mi}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: %(ns)s}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 8000}]
"""


@pytest.fixture(scope="module")
def web(image: str) -> dict[str, str]:
    """A Deployment of the pushed image (python3 -m http.server) behind a NodePort Service."""
    kubectl("apply", "-f", "-", input=WEB % {"ns": NAMESPACE, "image": image})
    kubectl("-n", NAMESPACE, "rollout", "status", "deployment/web", "--timeout=180s")
    port = kubectl("-n", NAMESPACE, "get", "service", "web", "-o", "jsonpath={.spec.ports[0].nodePort}")
    return {"url": f"http://{NODE_IP}:{port.strip()}/hostname", "image": image}


def ready_pods() -> list[str]:
    pods = json.loads(kubectl("-n", NAMESPACE, "get", "pods", "-l", "app=web", "-o", "json"))["items"]
    return [
        p["metadata"]["name"]
        for p in pods
        if not p["metadata"].get("deletionTimestamp")
        and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))
    ]


def test_node_is_ready() -> None:
    node = json.loads(kubectl("get", "node", NODE, "-o", "json"))
    ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}
    assert ready["Ready"] == "True", node["status"]["conditions"]
    addresses = {a["type"]: a["address"] for a in node["status"]["addresses"]}
    assert addresses["InternalIP"] == NODE_IP
    assert node["status"]["nodeInfo"]["kubeletVersion"] == "v" + ENV["MLENDPOINTS_KUBERNETES_VERSION"]
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")


def test_pod_from_registry_answers_on_node_port_and_is_replaced_when_killed(web: dict[str, str]) -> None:
    # The pod runs the image the registry served (the digest docker push reported).
    pods = json.loads(kubectl("-n", NAMESPACE, "get", "pods", "-l", "app=web", "-o", "json"))["items"]
    digest = web["image"].split("@")[1]
    assert any(digest in c.get("imageID", "") for p in pods for c in p["status"]["containerStatuses"])
    # From the host, through kube-proxy's NodePort on the node address.
    status, body = wait_for("NodePort answers", lambda: http_get(web["url"]), 30)
    first = body.strip()
    assert status == 200 and first in ready_pods()
    # Killed: the Deployment's ReplicaSet makes another pod, which answers in turn.
    kubectl("-n", NAMESPACE, "delete", "pod", first, "--grace-period=0", "--force", "--wait=false")
    replacement = wait_for(
        "a replacement pod is Ready", lambda: [p for p in ready_pods() if p != first], 120
    )[0]
    status, body = wait_for(
        "the replacement answers on the NodePort",
        lambda: (r := http_get(web["url"]))[1].strip() == replacement and r,
        60,
    )
    assert status == 200


def test_metrics_server_answers_top_and_feeds_an_hpa(web: dict[str, str]) -> None:
    top = wait_for(
        "kubectl top node",
        lambda: (out := kubectl("top", "node", NODE, "--no-headers", check=False)) and NODE in out and out,
        180,
        interval=3,
    )
    cores, _cpu_pct, memory, _mem_pct = top.split()[1:5]
    assert cores.endswith("m") and memory.endswith("Mi"), top
    raw = json.loads(kubectl("get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes"))
    assert [n["metadata"]["name"] for n in raw["items"]] == [NODE]
    # A CPU HorizontalPodAutoscaler reads the pods' utilisation through the same API.
    kubectl("-n", NAMESPACE, "autoscale", "deployment", "web", "--min=1", "--max=2", "--cpu-percent=80")

    def current_utilization() -> int | None:
        hpa = json.loads(kubectl("-n", NAMESPACE, "get", "hpa", "web", "-o", "json"))
        for metric in hpa["status"].get("currentMetrics") or []:
            value = metric.get("resource", {}).get("current", {}).get("averageUtilization")
            if value is not None:
                return int(value) + 1  # 0 % is an answer too
        return None

    wait_for("the HPA reads the pods' CPU utilisation", current_utilization, 180, interval=3)


def test_status_reports_every_component_and_the_node() -> None:
    out = run(str(CLUSTER), "status")
    for name in (
        "registry",
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "containerd",
        "kubelet",
        "kube-proxy",
    ):
        assert re.search(rf"{name}\s+ready\s+running, pid \d+", out), out
    assert f"node {NODE} ({NODE_IP}): Ready=True" in out
    assert "metrics.k8s.io (metrics-server) available: True" in out
    assert re.search(r"memory: \d+ MiB RSS", out)


def _host() -> dict[str, Any]:
    links = {}
    for line in run("ip", "-o", "link").splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        links[name] = " master " in line
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    return {
        "links": links,
        "iptables": run("iptables-save") + run("ip6tables-save"),
        "mounts": mounts,
        "cgroups": sorted(str(p) for p in Path("/sys/fs/cgroup").glob("*/kubepods")),
    }


def test_down_restores_the_host_and_up_brings_the_cluster_back(web: dict[str, str]) -> None:
    """Last in the module: down, check the host, up again (the other suites use the cluster)."""
    recorded = json.loads(HOST_STATE.read_text())
    before_links = set(recorded["links"])
    out = run(str(CLUSTER), "down", timeout=300)
    assert "stopped" in out, out
    try:
        host = _host()
        assert "mlek8s0" not in host["links"] and "mlek8s1" not in host["links"]
        assert "mlecni0" not in host["links"]
        # A veth left behind by a pod has no bridge; Docker's have theirs.
        stray = [
            n
            for n, has_master in host["links"].items()
            if n.startswith("veth") and not has_master and n not in before_links
        ]
        assert stray == [], stray
        assert "KUBE-" not in host["iptables"]
        assert "mlendpoints cluster" not in host["iptables"]
        assert 'name: \\"mlendpoints\\"' not in host["iptables"]
        for key, value in recorded["sysctls"].items():
            assert Path("/proc/sys", *key.split(".")).read_text().strip() == value, key
        for folder, existed in recorded["dirs"].items():
            assert Path(folder).exists() == existed, folder
        assert not [m for m in host["mounts"] if m.startswith(("/var/lib/kubelet", "/run/mlendpoints-k8s"))]
        assert host["cgroups"] == []
        assert not Path("/run/mlendpoints-k8s").exists()
        assert subprocess.run([str(CLUSTER), "status", "--quiet"], env=ENV, check=False).returncode == 1
    finally:
        out = run(str(CLUSTER), "up", timeout=600)
    assert "Ready" in out, out
    assert node_ready()
    # The cluster's state survived: the Deployment is back and answers on the same NodePort.
    wait_for("the web Deployment is back", ready_pods, 180)
    wait_for("the NodePort answers again", lambda: http_get(web["url"])[0] == 200, 60)
