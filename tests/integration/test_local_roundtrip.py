"""Real engine, real Docker: preview -> up -> no-op preview -> destroy of the local target's network."""

from __future__ import annotations

import docker
import pytest

from tests.integration.pulumi_stack import TempStack, step_ops

pytestmark = pytest.mark.integration


def _networks(endpoint: str) -> list[str]:
    nets = docker.from_env().networks.list(filters={"label": f"io.mlendpoints.endpoint={endpoint}"})
    return [n.name for n in nets]


def test_network_round_trip() -> None:
    endpoint = "it-net"
    stack = TempStack.create({"mlendpoints:endpoint": endpoint})
    try:
        planned = stack.preview()
        assert planned["_returncode"] == 0, planned["_stderr"]
        creates = {urn.rsplit("::", 1)[1] for op, urn in step_ops(planned) if op == "create"}
        assert {"it-net", "it-net-network"} <= creates
        assert _networks(endpoint) == [], "preview must not create anything"

        stack.up()
        assert _networks(endpoint) == ["mle-it-net"]
        assert stack.outputs()["network_name"] == "mle-it-net"

        again = stack.preview("--expect-no-changes")
        assert again["_returncode"] == 0, again["_stderr"]
        assert {op for op, _ in step_ops(again)} <= {"same"}
    finally:
        stack.destroy_and_remove()
    assert _networks(endpoint) == []
