"""Waiting until a router (or a batch controller) serves exactly the config files just written.

Shared by every target: the router's `GET /` answer carries the digest of the files in force, so
`pulumi up` returns only once a traffic change is really in force (however the files travel).
"""

from __future__ import annotations

import time
import urllib.request
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider, UpdateResult

from serving.router.nginx_conf import CONFIG_HEADER

APPLY_TIMEOUT_S = 60.0


def wait_applied(url: str, digest: str, timeout_s: float = APPLY_TIMEOUT_S) -> None:
    """Poll the router's health answer until it reports `digest` (the files now in force)."""
    deadline = time.monotonic() + timeout_s
    seen = "no answer"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                seen = resp.headers.get(CONFIG_HEADER, "") or "no config digest"
                if seen == digest:
                    return
        except OSError as exc:
            seen = str(exc)
        time.sleep(0.2)
    raise RuntimeError(
        f"the router at {url} did not apply the new config within {timeout_s:.0f}s (it reports: {seen}); "
        "see its log: scripts/mle logs"
    )


# The name stays: stack states hold this provider pickled by reference (module path and name).
class _AppliedProvider(ResourceProvider):
    """Creating or updating waits until the config with `digest` is in force; a target may ask more."""

    def wait(self, props: dict[str, Any]) -> None:
        wait_applied(props["url"], props["digest"], float(props.get("timeout_s") or APPLY_TIMEOUT_S))

    def create(self, props: dict[str, Any]) -> CreateResult:
        self.wait(props)
        return CreateResult(id_=props["url"], outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in ("url", "digest") if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        self.wait(news)
        return UpdateResult(outs=news)


class RouterApplied(Resource):
    """Completes once the router serves the config files with `digest`: traffic changes are in force."""

    def __init__(
        self,
        resource_name: str,
        url: pulumi.Input[str],
        digest: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
        timeout_s: float = APPLY_TIMEOUT_S,
    ) -> None:
        props = {"url": url, "digest": digest, "timeout_s": timeout_s}
        super().__init__(_AppliedProvider(), resource_name, props, opts)
