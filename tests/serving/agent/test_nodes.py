"""Batch nodes from templates: cluster limits across deployments, replacing dead nodes, the socket API."""

from __future__ import annotations

import http.client
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from serving.agent.node_api import serve
from serving.agent.nodes import Node, NodeError, NodeManager, to_create


def node(deployment: str, cluster: str = "cpu", name: str = "n") -> Node:
    return Node(name, deployment, cluster, "running", "")


@pytest.mark.parametrize(
    ("live", "wanted", "max_instances", "created"),
    [
        ([], 2, 4, 2),
        ([node("blue")], 2, 4, 1),
        ([node("blue"), node("blue")], 1, 4, 0),  # never removes: idle nodes are stopped one by one
        ([node("green"), node("green"), node("green")], 3, 4, 1),  # the cluster is shared
        ([node("green", cluster="gpu")] * 3, 2, 2, 2),  # other clusters do not count
    ],
)
def test_to_create_respects_the_cluster_limit(
    live: list[Node], wanted: int, max_instances: int, created: int
) -> None:
    assert to_create(live, "blue", "cpu", wanted, max_instances) == created


class FakeContainer:
    def __init__(self, engine: FakeEngine, kwargs: dict[str, Any]) -> None:
        self.engine, self.kwargs = engine, kwargs
        self.name = kwargs["name"]

    def start(self) -> None:
        self.engine.state[self.name] = "running"

    def remove(self, force: bool = False) -> None:
        self.engine.removed.append(self.name)
        del self.engine.state[self.name]


class FakeEngine:
    """containers.create/get and api.containers over an in-memory table."""

    def __init__(self) -> None:
        self.state: dict[str, str] = {}
        self.created: dict[str, dict[str, Any]] = {}
        self.removed: list[str] = []
        self.api = self
        self.containers = self

    def create(self, **kwargs: Any) -> FakeContainer:
        self.created[kwargs["name"]] = kwargs
        self.state[kwargs["name"]] = "created"
        return FakeContainer(self, kwargs)

    def get(self, name: str) -> FakeContainer:
        return FakeContainer(self, self.created[name])

    def containers_list(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        wanted = dict(item.split("=", 1) for item in filters["label"])
        rows = []
        for name, status in self.state.items():
            labels = self.created[name]["labels"]
            if all(labels.get(k) == v for k, v in wanted.items()):
                rows.append({"Names": [f"/{name}"], "Labels": labels, "State": status, "Created": 1})
        return rows

    def __call__(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover
        raise AssertionError("unexpected call")


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    fake = FakeEngine()
    # docker-py: client.api.containers(all=..., filters=...) and client.containers.create(...)
    fake.api = type("Api", (), {"containers": lambda _self, all, filters: fake.containers_list(filters)})()
    return fake


def templates(tmp_path: Path, max_instances: int = 3) -> Path:
    container = {
        "name": "template",
        "image": "mlendpoints/serving:abc",
        "network": "mle-shop",
        "command": ["python", "-m", "serving.batch.node"],
        "env": {"MLE_BATCH_DEPLOYMENT": "blue"},
        "labels": {"io.mlendpoints.managed": "true"},
        "mounts": {"/var/azureml-app/code": "/host/code"},
        "nano_cpus": 10**9,
        "mem_limit_mb": 2048,
    }
    path = tmp_path / "nodes.json"
    path.write_text(
        json.dumps(
            {
                "endpoint": "shop",
                "deployments": {
                    "blue": {"cluster": "cpu", "max_instances": max_instances, "container": container}
                },
            }
        )
    )
    return path


def test_ensure_creates_nodes_from_the_template_only(engine: FakeEngine, tmp_path: Path) -> None:
    manager = NodeManager("shop", templates(tmp_path), engine)
    names = manager.ensure("blue", 5)
    assert len(names) == 3  # the cluster's max_instances
    kwargs = engine.created[names[0]]
    assert kwargs["image"] == "mlendpoints/serving:abc" and kwargs["network"] == "mle-shop"
    assert kwargs["restart_policy"] == {"Name": "no"}  # replaced, never restarted
    assert kwargs["environment"]["MLE_BATCH_NODE_NAME"] == names[0]
    assert kwargs["labels"]["io.mlendpoints.role"] == "node"
    assert kwargs["labels"]["io.mlendpoints.cluster"] == "cpu"
    assert manager.ensure("blue", 2) == names  # enough already


def test_dead_nodes_are_replaced(engine: FakeEngine, tmp_path: Path) -> None:
    manager = NodeManager("shop", templates(tmp_path), engine)
    first = manager.ensure("blue", 1)
    engine.state[first[0]] = "exited"
    second = manager.ensure("blue", 1)
    assert engine.removed == first and second != first


def test_nodes_of_an_older_template_are_listed_so_kept_while_live_and_count_only_on_the_cluster(
    engine: FakeEngine, tmp_path: Path
) -> None:
    path = templates(tmp_path, max_instances=3)
    manager = NodeManager("shop", path, engine)
    old = manager.ensure("blue", 2)
    assert {n["name"]: n["current"] for n in manager.listing()} == dict.fromkeys(old, True)
    # `pulumi up` makes the cluster's nodes bigger: the template changes, the nodes do not.
    data = json.loads(path.read_text())
    data["deployments"]["blue"]["container"]["mem_limit_mb"] = 4096
    path.write_text(json.dumps(data))
    assert {n["name"]: n["current"] for n in manager.listing()} == dict.fromkeys(old, False)
    # Asked for two current nodes, the agent keeps the old ones (they may hold work: the controller
    # removes them when idle) and makes what the cluster's max_instances leaves room for.
    (new,) = manager.ensure("blue", 2)
    assert (
        engine.removed == []
        and engine.created[new]["labels"]["io.mlendpoints.template"]
        != (engine.created[old[0]]["labels"]["io.mlendpoints.template"])
    )
    listed = {n["name"]: n["current"] for n in manager.listing()}
    assert listed == {**dict.fromkeys(old, False), new: True}
    manager.remove(old[0])
    assert len(manager.ensure("blue", 2)) == 2


def test_refusals(engine: FakeEngine, tmp_path: Path) -> None:
    manager = NodeManager("shop", templates(tmp_path), engine)
    with pytest.raises(NodeError, match=r"no batch deployment 'red' \(deployments: blue\)"):
        manager.ensure("red", 1)
    with pytest.raises(NodeError, match="no node 'shop-router' of endpoint shop"):
        manager.remove("shop-router")
    with pytest.raises(NodeError, match="count must be between 0 and 1000"):
        manager.ensure("blue", -1)


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path) -> None:
        super().__init__("localhost")
        self.socket_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(self.socket_path))


def call(path: Path, method: str, url: str, body: Any = None) -> tuple[int, Any]:
    conn = UnixConnection(path)
    conn.request(method, url, body=json.dumps(body) if body is not None else None)
    resp = conn.getresponse()
    data = resp.read()
    return resp.status, json.loads(data) if data else None


def test_socket_api(engine: FakeEngine, tmp_path: Path) -> None:
    sock = tmp_path / "run" / "agent.sock"
    server = serve(NodeManager("shop", templates(tmp_path), engine), sock)
    try:
        status, body = call(sock, "POST", "/nodes/blue/ensure", {"count": 2})
        assert status == 200 and len(body["nodes"]) == 2
        status, body = call(sock, "GET", "/nodes")
        assert [n["deployment"] for n in body["nodes"]] == ["blue", "blue"]
        assert call(sock, "DELETE", f"/nodes/{body['nodes'][0]['name']}") == (204, None)
        assert call(sock, "POST", "/nodes/blue/ensure", {"count": "two"})[0] == 400
        status, body = call(sock, "DELETE", "/nodes/other")
        assert status == 404 and "no node 'other'" in body["message"]
    finally:
        server.shutdown()
        server.server_close()
