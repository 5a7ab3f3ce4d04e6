"""Waiting until every router pod serves the config files just written, not only the one that answers.

Behind the router's Service each request reaches one pod; with `router_replicas` of 2 or more, the
kubelet refreshes each pod's ConfigMap volume in its own time, so one pod answering with the new
digest says nothing of the others. The scoring URI is checked first (the path users take), then
each live router pod is asked inside itself (kubectl exec: pod addresses are not reachable from
wherever `pulumi up` runs).
"""

from __future__ import annotations

import os
import time
from typing import Any

import pulumi
from pulumi.dynamic import Resource

from components.targets.kubernetes.rollout import kubectl, pods
from components.targets.router_applied import _AppliedProvider
from serving.router.nginx_conf import CONFIG_HEADER

_ASK = (
    "import urllib.request as u, sys\n"
    "with u.urlopen('http://127.0.0.1:' + sys.argv[1] + '/', timeout=3) as r:\n"
    "    print(r.headers.get(sys.argv[2], ''))\n"
)


def live(pod: dict[str, Any]) -> bool:
    """Running, ready and not on its way out: a pod the Service sends requests to."""
    statuses = pod.get("status", {}).get("containerStatuses") or []
    return (
        pod["metadata"].get("deletionTimestamp") is None
        and bool(statuses)
        and all(status.get("ready") for status in statuses)
    )


def reported(props: dict[str, Any]) -> dict[str, str]:
    """Pod name -> the config digest it serves (or why it could not be asked), for every live pod."""
    found: dict[str, str] = {}
    for pod in pods(props):
        if not live(pod):
            continue
        name = pod["metadata"]["name"]
        port = str(int(props["port"]))  # numbers come back from the engine as floats
        done = kubectl(
            props, "-n", props["namespace"], "exec", name, "--", "python", "-c", _ASK, port, CONFIG_HEADER
        )
        found[name] = done.stdout.strip() if done.returncode == 0 else f"exec failed: {done.stderr.strip()}"
    return found


def wait_every_pod(props: dict[str, Any]) -> None:
    deadline = time.monotonic() + float(props["timeout_s"])
    seen: dict[str, str] = {}
    while time.monotonic() < deadline:
        seen = reported(props)
        if seen and all(digest == props["digest"] for digest in seen.values()):
            return
        time.sleep(0.5)
    stale = {name: digest for name, digest in seen.items() if digest != props["digest"]} or "no live pod"
    raise RuntimeError(
        f"the router pods of {props['namespace']} did not all apply the new config within "
        f"{float(props['timeout_s']):.0f}s (still serving another: {stale}); see their logs: scripts/mle logs"
    )


class _Provider(_AppliedProvider):
    def wait(self, props: dict[str, Any]) -> None:
        started = time.monotonic()
        super().wait(props)  # the scoring URI first: the path users take
        left = max(1.0, float(props["timeout_s"]) - (time.monotonic() - started))
        wait_every_pod({**props, "timeout_s": left})


class RouterPodsApplied(Resource):
    """Completes once the scoring URI and every live router pod serve the config with `digest`."""

    def __init__(
        self,
        resource_name: str,
        url: pulumi.Input[str],
        digest: pulumi.Input[str],
        namespace: pulumi.Input[str],
        selector: dict[str, str],
        port: int,
        timeout_s: float,
        kubeconfig: str | None = None,
        context: str | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "url": url,
            "digest": digest,
            "namespace": namespace,
            "selector": selector,
            "port": port,
            "timeout_s": timeout_s,
            "kubeconfig": kubeconfig or os.environ.get("KUBECONFIG", ""),
            "context": context or "",
        }
        super().__init__(_Provider(), resource_name, props, opts)
