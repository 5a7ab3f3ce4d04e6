"""The agent's engine glue on a fake docker client: only its endpoint's containers, removal races."""

from __future__ import annotations

import queue
import threading
from typing import Any

import docker.errors

from serving.agent.engine import Engine, observed
from serving.agent.healing import Action, Observed
from serving.agent.keeper import Keeper
from serving.agent.settings import AgentSettings


def inspect(name: str, status: str, health: str | None = None, role: str | None = None) -> dict[str, Any]:
    state: dict[str, Any] = {"Status": status, "ExitCode": 137}
    if health:
        state["Health"] = {"Status": health, "Log": []}
    labels = {"io.mlendpoints.endpoint": "ep", "io.mlendpoints.managed": "true"}
    if role:
        labels["io.mlendpoints.role"] = role
    return {"Id": f"id-{name}", "Name": f"/{name}", "State": state, "Config": {"Labels": labels}}


class FakeApi:
    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self.docs = {d["Id"]: d for d in docs}
        self.filters: list[Any] = []
        self.calls: list[tuple[str, str]] = []
        self.errors: dict[str, Exception] = {}

    def containers(self, all: bool, filters: dict[str, Any]) -> list[dict[str, str]]:
        self.filters.append(filters)
        return [{"Id": i} for i in self.docs] + [{"Id": "id-vanished"}]

    def inspect_container(self, container_id: str) -> dict[str, Any]:
        if container_id not in self.docs:
            raise docker.errors.NotFound(container_id)
        return self.docs[container_id]

    def _act(self, verb: str, container_id: str) -> None:
        if container_id in self.errors:
            raise self.errors[container_id]
        self.calls.append((verb, container_id))
        self.docs[container_id]["State"]["Status"] = "running"

    def start(self, container_id: str) -> None:
        self._act("start", container_id)

    def restart(self, container_id: str, timeout: int) -> None:
        self._act("restart", container_id)


class FakeClient:
    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self.api = FakeApi(docs)

    def events(self, decode: bool, filters: dict[str, Any]) -> Any:
        return iter(())


def test_observed_reads_state_health_and_role() -> None:
    seen = observed(inspect("ep-router", "exited", role="router"))
    assert seen == Observed("id-ep-router", "ep-router", "exited", None, "router", 137)
    assert observed(inspect("x", "running", health="unhealthy")).exit_code is None


def test_engine_lists_only_its_endpoint_and_skips_vanished() -> None:
    client = FakeClient([inspect("ep-blue-0", "running")])
    engine = Engine("ep", client)  # type: ignore[arg-type]
    assert [c.name for c in engine.containers()] == ["ep-blue-0"]
    assert client.api.filters == [{"label": ["io.mlendpoints.endpoint=ep", "io.mlendpoints.managed=true"]}]


def test_a_container_being_removed_is_left_to_its_deployer() -> None:
    client = FakeClient([inspect("ep-blue-0", "exited")])
    client.api.errors["id-ep-blue-0"] = docker.errors.APIError("container is marked for removal")
    engine = Engine("ep", client)  # type: ignore[arg-type]
    action = Action("start", engine.containers()[0], "exited")
    assert engine.apply(action) is False


def test_keeper_sweep_heals_killed_and_unhealthy_but_not_itself() -> None:
    client = FakeClient(
        [
            inspect("ep-blue-0", "exited"),
            inspect("ep-router", "running", health="unhealthy", role="router"),
            inspect("ep-green-0", "running", health="healthy"),
            inspect("ep-agent", "exited", role="agent"),
        ]
    )
    keeper = Keeper(AgentSettings(endpoint="ep"), Engine("ep", client))  # type: ignore[arg-type]
    assert keeper.sweep() == 2
    assert sorted(client.api.calls) == [("restart", "id-ep-router"), ("start", "id-ep-blue-0")]
    # Healed containers are running now: the next sweep has nothing to do.
    client.api.docs["id-ep-router"]["State"]["Health"]["Status"] = "starting"
    assert keeper.sweep() == 0


def test_watch_wakes_on_connecting_and_on_death_and_health_events() -> None:
    events = [
        {"Action": "die", "Actor": {"Attributes": {"name": "ep-blue-0"}}},
        {"Action": "exec_start: python -m serving.probe", "Actor": {"Attributes": {"name": "x"}}},
        {"Action": "health_status: unhealthy", "Actor": {"Attributes": {"name": "ep-router"}}},
    ]
    stop = threading.Event()

    class Client(FakeClient):
        def events(self, decode: bool, filters: dict[str, Any]) -> Any:
            yield from events[:-1]
            stop.set()  # the last event, then the watcher returns
            yield events[-1]

    wake: queue.Queue[str] = queue.Queue()
    Engine("ep", Client([])).watch(wake, stop)  # type: ignore[arg-type]
    # The first wake is the connection itself: what happened before it is found by a sweep.
    assert [wake.get_nowait() for _ in range(wake.qsize())] == ["", "ep-blue-0", "ep-router"]


def test_the_keeper_sleeps_a_sweep_interval_at_rest_and_wakes_when_a_back_off_ends() -> None:
    client = FakeClient([inspect("ep-blue-0", "exited")])
    keeper = Keeper(AgentSettings(endpoint="ep", backoff_first_s=3), Engine("ep", client))  # type: ignore[arg-type]
    assert keeper.sweep() == 1  # the first heal is at once
    assert keeper.wait_s(0) == keeper.settings.sweep_interval_s  # running now: nothing to wait for
    client.api.docs["id-ep-blue-0"]["State"]["Status"] = "exited"  # dead again at once
    assert keeper.sweep() == 0  # in back-off (3 s from the first heal)
    assert keeper.next_due is not None
    assert 2.5 < keeper.wait_s(keeper.next_due - 3) <= 3
