"""docker_engine without a Docker engine: container arguments, readiness decisions, cleanup, adoption.

The engine is replaced by small fakes of the few docker-py objects the functions touch, and the
readiness wait runs on a fake clock, so nothing here sleeps or talks to a daemon.
"""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import docker.errors
import pytest

from components.targets.local import docker_engine
from components.targets.local.docker_engine import ContainerSpec, DockerEngineError
from serving.agent.containers import create_kwargs

SPEC = ContainerSpec(
    name="shop-blue-0-abcdef01",
    image="mlendpoints/serving:abc",
    network="mle-shop",
    command=None,
    env={"SERVER_PORT": "5001"},
    labels={"io.mlendpoints.endpoint": "shop"},
    mounts={
        "/var/azureml-app/azureml-models/blue/1/model": "/host/model",
        "/var/azureml-app/code": "/host/model",
    },
    nano_cpus=2 * 10**9,
    mem_limit_mb=7168,
    publish={},
    aliases=["shop-blue-0-abcdef01"],
    ready_path="/readyz",
    ready_port=5001,
    ready_timeout_s=2.0,
)


# ---------------------------------------------------------------- fakes


@dataclass
class FakeClock:
    """Stands in for the `time` module inside docker_engine: sleeping only moves the clock."""

    now: float = 100.0
    slept: float = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


@dataclass
class FakeContainer:
    """A container whose readiness probe answers from `answers` (exit code, output), the last repeating."""

    answers: list[tuple[int, bytes]] = field(default_factory=lambda: [(0, b"")])
    status: str = "running"
    exit_code: int = 0
    id: str = "c0ffee"
    ports: dict[str, Any] = field(default_factory=dict)
    probes: list[list[str]] = field(default_factory=list)
    removed: bool = False
    started: bool = False
    restarts: int = 0
    refuse_exec: int = 0  # this many probes fail as on a container the engine is restarting
    start_error: Exception | None = None

    @property
    def attrs(self) -> dict[str, Any]:
        return {
            "State": {"ExitCode": self.exit_code},
            "RestartCount": self.restarts,
            "NetworkSettings": {"Ports": self.ports},
        }

    def reload(self) -> None:
        pass

    def start(self) -> None:
        if self.start_error is not None:
            error, self.start_error = self.start_error, None
            raise error
        self.started = True

    def exec_run(self, cmd: list[str]) -> tuple[int, bytes]:
        if self.refuse_exec:
            self.refuse_exec -= 1
            raise docker.errors.APIError("Container is restarting, wait until the container is running")
        self.probes.append(cmd)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def logs(self, tail: int) -> bytes:
        return b"Traceback (most recent call last):\nValueError: bad model\n"

    def remove(self, force: bool = False) -> None:
        self.removed = True


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(docker_engine, "time", fake)
    return fake


# ---------------------------------------------------------------- container arguments


def test_container_kwargs_mount_read_only_and_mark_ours() -> None:
    kwargs = create_kwargs(SPEC)
    # One host folder may be mounted twice (a model folder that is also the code folder).
    assert [(m["Target"], m["Source"], m["Type"], m["ReadOnly"]) for m in kwargs["mounts"]] == [
        ("/var/azureml-app/azureml-models/blue/1/model", "/host/model", "bind", True),
        ("/var/azureml-app/code", "/host/model", "bind", True),
    ]
    assert kwargs["labels"] == {"io.mlendpoints.endpoint": "shop", "io.mlendpoints.managed": "true"}
    assert (kwargs["nano_cpus"], kwargs["mem_limit"]) == (2 * 10**9, "7168m")
    # `always`: the engine restarts a dead process and every container after its own restart.
    assert kwargs["restart_policy"] == {"Name": "always"}
    assert "user" not in kwargs and "healthcheck" not in kwargs


def test_container_joins_only_its_private_network_at_creation() -> None:
    # Created on the endpoint's network (never on Docker's default bridge, then moved).
    kwargs = create_kwargs(SPEC)
    assert kwargs["network"] == "mle-shop"
    [(network, endpoint)] = kwargs["networking_config"].items()
    assert (network, endpoint["Aliases"]) == ("mle-shop", ["shop-blue-0-abcdef01"])
    assert "network_mode" not in kwargs
    isolated = create_kwargs(replace(SPEC, network=docker_engine.NO_NETWORK, aliases=[]))
    assert isolated["network_mode"] == "none" and "network" not in isolated


def test_container_logs_rotate() -> None:
    log_config = create_kwargs(SPEC)["log_config"]
    assert (log_config["Type"], log_config["Config"]) == ("json-file", {"max-size": "10m", "max-file": "3"})


def test_health_check_and_writable_mounts() -> None:
    health = docker_engine.HealthCheck(["python", "-m", "serving.probe", "5001", "/"], 10, 2, 30, 10)
    spec = replace(SPEC, health=health, writable_mounts={"/var/run/docker.sock": "/run/docker.sock"})
    kwargs = create_kwargs(spec)
    assert kwargs["healthcheck"] == {
        "test": ["CMD", "python", "-m", "serving.probe", "5001", "/"],
        "interval": 10 * 10**9,
        "timeout": 2 * 10**9,
        "retries": 30,
        "start_period": 10 * 10**9,
    }
    assert [(m["Target"], m["ReadOnly"]) for m in kwargs["mounts"]][-1] == ("/var/run/docker.sock", False)


def test_ports_are_published_on_loopback_only() -> None:
    spec = replace(
        SPEC, publish={8080: 8631, 9090: None}, user="1000:1000", nano_cpus=None, mem_limit_mb=None
    )
    kwargs = create_kwargs(spec, {9090: 40001})
    # A port left open is chosen before creation, so it stays the container's own across restarts.
    assert kwargs["ports"] == {"8080/tcp": ("127.0.0.1", 8631), "9090/tcp": ("127.0.0.1", 40001)}
    assert kwargs["user"] == "1000:1000"
    assert "nano_cpus" not in kwargs and "mem_limit" not in kwargs


def test_free_port_is_free_on_loopback() -> None:
    import socket

    port = docker_engine.free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_published_ports_reads_the_host_side_of_bound_ports() -> None:
    ports = {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "49153"}], "5001/tcp": None}
    assert docker_engine.published_ports(FakeContainer(ports=ports)) == {8080: 49153}


# ---------------------------------------------------------------- readiness


def test_ready_container_is_probed_once_on_its_port_and_path(clock: FakeClock) -> None:
    container = FakeContainer(answers=[(0, b"")])
    docker_engine._wait_ready(container, SPEC)
    [probe] = container.probes
    assert probe[:2] == ["python3", "-c"]
    assert '"http://127.0.0.1:5001/readyz"' in probe[2]
    assert clock.slept == 0


def test_wait_keeps_probing_until_ready(clock: FakeClock) -> None:
    container = FakeContainer(answers=[(1, b"Connection refused"), (1, b""), (0, b"")])
    docker_engine._wait_ready(container, SPEC)
    assert len(container.probes) == 3
    assert clock.slept == 1.0


def test_failed_scoring_script_stops_the_wait_with_its_message(clock: FakeClock) -> None:
    container = FakeContainer(answers=[(3, b'{"message": "init() raised ValueError: bad model"}')])
    with pytest.raises(DockerEngineError) as err:
        docker_engine._wait_ready(container, SPEC)
    assert str(err.value).startswith(
        "container shop-blue-0-abcdef01 did not become ready: the scoring script failed: "
        "init() raised ValueError: bad model. Last log lines:\nTraceback"
    )
    # Waiting longer cannot help a script that failed.
    assert clock.slept == 0


def test_exited_container_reports_its_exit_code(clock: FakeClock) -> None:
    container = FakeContainer(status="exited", exit_code=137)
    with pytest.raises(DockerEngineError, match="did not become ready: container exited with code 137"):
        docker_engine._wait_ready(container, SPEC)
    assert container.probes == []


def test_container_that_keeps_exiting_stops_the_wait(clock: FakeClock) -> None:
    # The restart policy shows a process that dies at every start as "restarting", not "exited".
    container = FakeContainer(status="restarting", exit_code=1, restarts=2)
    with pytest.raises(DockerEngineError, match="did not become ready: container exited with code 1"):
        docker_engine._wait_ready(container, SPEC)
    assert container.probes == []


def test_probe_refused_by_a_restarting_container_is_retried(clock: FakeClock) -> None:
    container = FakeContainer(answers=[(0, b"")], refuse_exec=1)
    docker_engine._wait_ready(container, SPEC)
    assert len(container.probes) == 1 and clock.slept == 0.5


def test_timeout_reports_the_last_probe_answer(clock: FakeClock) -> None:
    container = FakeContainer(answers=[(1, b"timed out")])
    with pytest.raises(DockerEngineError, match=r"did not become ready: not ready within 2s \(timed out\)"):
        docker_engine._wait_ready(container, SPEC)
    # A probe every half second for the two seconds allowed.
    assert len(container.probes) == 4


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        ('{"message": "no model.pkl"}', "no model.pkl"),
        ('{"error": "x"}', '{"error": "x"}'),
        ('["not", "an", "object"]', '["not", "an", "object"]'),
        ("plain text", "plain text"),
    ],
)
def test_failure_message_is_the_json_message_or_the_whole_body(body: str, shown: str) -> None:
    assert docker_engine._message(body) == shown


@pytest.fixture(scope="module")
def scorer() -> Iterator[tuple[int, dict[str, tuple[int, dict[str, str], bytes]]]]:
    """An HTTP server answering paths with (status, headers, body), for the in-container probe script."""
    answers: dict[str, tuple[int, dict[str, str], bytes]] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, headers, body = answers[self.path]
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # A short poll interval only makes shutdown quick; requests are served as they come.
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    yield server.server_address[1], answers
    server.shutdown()


@pytest.mark.parametrize(
    ("answer", "code", "output"),
    [
        ((200, {}, b"ok"), 0, ""),
        ((503, {"x-ms-scorer-state": "failed"}, b'{"message": "boom"}'), 3, '{"message": "boom"}'),
        ((503, {}, b"loading"), 1, "loading"),
    ],
)
def test_probe_script_exit_codes(
    scorer: tuple[int, dict[str, tuple[int, dict[str, str], bytes]]],
    answer: tuple[int, dict[str, str], bytes],
    code: int,
    output: str,
) -> None:
    # The script runs inside the container; its exit code is the contract _wait_ready decides on.
    port, answers = scorer
    answers["/readyz"] = answer
    script = docker_engine._PROBE.format(port=port, path="/readyz")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stdout) == (code, output)


# ---------------------------------------------------------------- engine operations on a fake client


class FakeNetwork:
    def __init__(self, name: str, labels: dict[str, str], containers: dict[str, Any] | None = None) -> None:
        self.name, self.id = name, f"id-{name}"
        self.attrs: dict[str, Any] = {"Labels": labels, "Containers": containers or {}}
        self.removed = False
        self.connected: list[tuple[Any, list[str] | None]] = []

    def reload(self) -> None:
        pass

    def remove(self) -> None:
        self.removed = True

    def connect(self, container: Any, aliases: list[str] | None = None) -> None:
        self.connected.append((container, aliases))


class FakeNetworks:
    def __init__(self, *existing: FakeNetwork) -> None:
        self.existing = list(existing)
        self.created: list[tuple[str, dict[str, Any]]] = []

    def list(self, names: list[str]) -> list[FakeNetwork]:
        # Docker's name filter matches substrings: "mle-shop" also lists "mle-shop-2".
        return [n for n in self.existing if any(want in n.name for want in names)]

    def get(self, net_id: str) -> FakeNetwork:
        for net in self.existing:
            if net_id in (net.id, net.name):
                return net
        raise docker.errors.NotFound(f"network {net_id}")

    def create(self, name: str, **kwargs: Any) -> FakeNetwork:
        self.created.append((name, kwargs))
        net = FakeNetwork(name, kwargs["labels"])
        self.existing.append(net)
        return net


@dataclass
class FakeContainers:
    new: FakeContainer
    leftover: FakeContainer | None = None
    created: list[dict[str, Any]] = field(default_factory=list)

    def get(self, name: str) -> FakeContainer:
        if self.leftover is None:
            raise docker.errors.NotFound(name)
        return self.leftover

    def create(self, **kwargs: Any) -> FakeContainer:
        self.created.append(kwargs)
        return self.new


@dataclass
class FakeImages:
    present: set[str]

    def get(self, tag: str) -> object:
        if tag not in self.present:
            raise docker.errors.ImageNotFound(tag)
        return object()


@dataclass
class FakeClient:
    networks: FakeNetworks = field(default_factory=FakeNetworks)
    containers: FakeContainers = field(default_factory=lambda: FakeContainers(FakeContainer()))
    images: FakeImages = field(default_factory=lambda: FakeImages({SPEC.image}))


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> FakeClient:
    fake = FakeClient(networks=FakeNetworks(FakeNetwork("mle-shop", {})))
    monkeypatch.setattr(docker_engine, "client", lambda: fake)
    return fake


def test_no_engine_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse() -> None:
        raise docker.errors.DockerException("Error while fetching server API version")

    monkeypatch.setattr(docker_engine.docker, "from_env", refuse)
    with pytest.raises(DockerEngineError, match=r"^no Docker engine answers \(Error while.*set DOCKER_HOST$"):
        docker_engine.client()


def test_ensure_network_adopts_ours_refuses_foreign_and_ignores_similar_names(engine: FakeClient) -> None:
    ours = FakeNetwork("mle-ours", {"io.mlendpoints.managed": "true"})
    similar = FakeNetwork("mle-new-2", {"io.mlendpoints.managed": "true"})
    engine.networks.existing += [ours, similar]
    assert docker_engine.ensure_network("mle-ours", {}) == ours.id
    with pytest.raises(DockerEngineError, match="network named 'mle-shop' exists and is not managed"):
        docker_engine.ensure_network("mle-shop", {})
    assert engine.networks.created == []
    docker_engine.ensure_network("mle-new", {"io.mlendpoints.endpoint": "new"})
    assert engine.networks.created == [
        (
            "mle-new",
            {
                "driver": "bridge",
                "labels": {"io.mlendpoints.endpoint": "new", "io.mlendpoints.managed": "true"},
            },
        )
    ]


def test_network_in_use_or_gone_is_left_alone(engine: FakeClient) -> None:
    busy = FakeNetwork("mle-busy", {}, containers={"c1": {}})
    engine.networks.existing.append(busy)
    docker_engine.remove_network(busy.id)
    assert not busy.removed
    docker_engine.remove_network("id-never-existed")
    docker_engine.remove_network("id-mle-shop")
    assert engine.networks.existing[0].removed


def test_run_container_replaces_a_leftover_and_reports_ports(engine: FakeClient, clock: FakeClock) -> None:
    leftover = FakeContainer(id="old")
    new = FakeContainer(id="new", ports={"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "49200"}]})
    engine.containers = FakeContainers(new, leftover=leftover)
    assert docker_engine.run_container(SPEC) == {"id": "new", "ports": {"8080": 49200}}
    assert leftover.removed and new.started and not new.removed
    # Joined its network at creation, not connected afterwards.
    assert engine.networks.get("mle-shop").connected == []
    assert engine.containers.created[0]["network"] == "mle-shop"


def test_port_taken_between_choice_and_start_is_chosen_again(engine: FakeClient, clock: FakeClock) -> None:
    taken = docker.errors.APIError("Bind for 127.0.0.1:40000 failed: port is already allocated")
    new = FakeContainer(id="new", start_error=taken)
    engine.containers = FakeContainers(new)
    docker_engine.run_container(replace(SPEC, publish={8080: None}))
    first, second = (kwargs["ports"]["8080/tcp"] for kwargs in engine.containers.created)
    assert new.started and first[0] == second[0] == "127.0.0.1"


def test_start_failure_is_a_clear_error(engine: FakeClient, clock: FakeClock) -> None:
    new = FakeContainer(id="new", start_error=docker.errors.APIError("no such file: /host/model"))
    engine.containers = FakeContainers(new)
    with pytest.raises(DockerEngineError, match="container shop-blue-0-abcdef01 did not start: no such file"):
        docker_engine.run_container(SPEC)
    assert new.removed


def test_run_container_needs_the_image_built_first(engine: FakeClient) -> None:
    engine.images.present.clear()
    with pytest.raises(DockerEngineError, match=r"image 'mlendpoints/serving:abc' is not on this Docker"):
        docker_engine.run_container(SPEC)
    assert engine.containers.created == []


def test_container_that_never_gets_ready_is_removed(engine: FakeClient, clock: FakeClock) -> None:
    # Otherwise the next `pulumi up` would collide with the half-started container's name.
    new = FakeContainer(answers=[(3, b'{"message": "boom"}')])
    engine.containers = FakeContainers(new)
    with pytest.raises(DockerEngineError, match="the scoring script failed: boom"):
        docker_engine.run_container(SPEC)
    assert new.removed
