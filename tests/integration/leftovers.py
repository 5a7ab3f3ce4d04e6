"""What an interrupted earlier test run left on the Docker engine, and its removal.

A test run cut short inside `pulumi up` (a killed session, a machine restart) leaves containers the
docker provider created but never recorded: the temporary stack that made them is gone or never
knew them, so no `destroy` removes them. Every integration test's endpoint is named `it-...`, which
no user stack is expected to use, so what carries such an endpoint label when a session starts is a
leftover. Left in place, it fails the next run's "nothing runs before `up`" checks (CI once) and its
agent keeps restarting it.
"""

from __future__ import annotations

from typing import Any

TEST_PREFIX = "it-"
ENDPOINT_LABEL = "io.mlendpoints.endpoint"


def remove_test_leftovers(client: Any, prefix: str = TEST_PREFIX) -> list[str]:
    """Remove containers, then networks, of endpoints named `prefix...`; return what was removed."""

    def ours(labels: dict[str, str] | None) -> bool:
        return (labels or {}).get(ENDPOINT_LABEL, "").startswith(prefix)

    removed: list[str] = []
    for container in client.containers.list(all=True, filters={"label": ENDPOINT_LABEL}):
        if ours(container.labels):
            container.remove(force=True)
            removed.append(f"container {container.name}")
    for network in client.networks.list(filters={"label": ENDPOINT_LABEL}):
        if ours(network.attrs.get("Labels")):
            network.remove()
            removed.append(f"network {network.name}")
    return removed
