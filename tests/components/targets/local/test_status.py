"""`mle show`'s view of containers: engine state, health, readiness from the probe's output."""

from __future__ import annotations

from typing import Any

from components.targets.local.status import container_state, group


def doc(name: str, status: str = "running", role: str | None = None, **state: Any) -> dict[str, Any]:
    labels = {"io.mlendpoints.endpoint": "ep"}
    if role:
        labels["io.mlendpoints.role"] = role
    else:
        labels["io.mlendpoints.deployment"] = name.split("-")[1]
    return {
        "Name": f"/{name}",
        "RestartCount": 2,
        "State": {"Status": status, "StartedAt": "2026-12-01T20:00:00.123Z", **state},
        "Config": {"Labels": labels},
    }


def probe_log(*outputs: str) -> dict[str, Any]:
    return {"Status": "healthy", "Log": [{"Output": f"{o}\n"} for o in outputs]}


def test_readiness_is_the_last_probe_output() -> None:
    ready = container_state(doc("ep-blue-0-aa", Health=probe_log("not-ready", "ready")))
    assert (ready.summary, ready.restarts, ready.deployment) == ("running/ready", 2, "blue")
    assert container_state(doc("ep-blue-0-aa", Health=probe_log("ready", "not-ready"))).summary == (
        "running/not ready"
    )
    assert container_state(doc("ep-blue-0-aa")).summary == "running/starting"


def test_other_states() -> None:
    assert container_state(doc("ep-blue-0-aa", "exited", ExitCode=137)).summary == "exited (code 137)"
    assert container_state(doc("ep-blue-0-aa", "restarting")).summary == "restarting"
    unhealthy = {"Status": "unhealthy", "Log": [{"Output": "not-live"}]}
    assert container_state(doc("ep-blue-0-aa", Health=unhealthy)).summary == "running/unhealthy"
    assert container_state(doc("ep-router", role="router")).summary == "running"


def test_group_by_deployment_and_role_in_instance_order() -> None:
    states = [
        container_state(doc(n, role=r))
        for n, r in [("ep-blue-10-aa", None), ("ep-router", "router"), ("ep-blue-2-bb", None)]
    ]
    grouped = group(states)
    assert list(grouped) == ["blue", "router"]
    assert [s.name for s in grouped["blue"]] == ["ep-blue-2-bb", "ep-blue-10-aa"]
