"""What an interrupted earlier test run left on the Docker engine, and its removal.

A test run cut short inside `pulumi up` (a killed session, a machine restart) leaves containers the
docker provider created but never recorded: the temporary stack that made them is gone or never
knew them, so no `destroy` removes them. Every integration test's endpoint is named `it-...`, which
no user stack is expected to use, so what carries such an endpoint label when a session starts is a
leftover. Left in place, it fails the next run's "nothing runs before `up`" checks (CI once) and its
agent keeps restarting it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO, Any

TEST_PREFIX = "it-"
ENDPOINT_LABEL = "io.mlendpoints.endpoint"
# One per machine, not per cache: two sessions share the Docker engine whatever their caches.
SESSION_LOCK = Path("/tmp/mlendpoints-integration-session.lock")


def claim_engine(path: Path = SESSION_LOCK) -> IO[str] | None:
    """Hold the machine's integration-session lock for as long as the returned file stays open; None
    when another live session holds it. Then what carries a test endpoint label is that session's,
    not a leftover. The kernel drops the lock when its holder ends, killed or not, so a lock free at a
    session's start does mean that whatever is there was left by a run that is over."""
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held open for the whole session
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    handle.truncate(0)
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


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
