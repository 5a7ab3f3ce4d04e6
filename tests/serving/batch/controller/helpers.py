"""Helpers for the controller tests: configs, an HTTP client and a fake node that writes part files."""

from __future__ import annotations

import http.client
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from serving.batch.protocol import (
    NODE_SECRET_HEADER,
    ClusterLimits,
    ControllerConfig,
    DeploymentConfig,
    JobSettings,
    RetrySettings,
)

KEY = "primary-key-0123456789"
SECONDARY = "secondary-key-0123456789"
TOKEN_SECRET = "t" * 40
NODE_SECRET = "node-secret-for-tests"
ENDPOINT = "batch-ep"


def deployment(name: str = "blue", **settings: Any) -> DeploymentConfig:
    retry = settings.pop("retry_settings", RetrySettings(max_retries=1, timeout=30))
    cluster = settings.pop(
        "cluster", ClusterLimits(name="cpu", max_instances=4, idle_time_before_scale_down=60)
    )
    return DeploymentConfig(
        name=name, settings=JobSettings(retry_settings=retry, **settings), cluster=cluster
    )


def config(*deployments: DeploymentConfig, default: str | None = "blue", **extra: Any) -> ControllerConfig:
    deps = deployments or (deployment(),)
    return ControllerConfig(
        endpoint=ENDPOINT,
        default_deployment=default,
        deployments={d.name: d for d in deps},
        datastores={"workspaceblobstore": "/mnt/azureml/datastores/workspaceblobstore", "data": "data"},
        **extra,
    )


def write_config(path: Path, cfg: ControllerConfig) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(cfg.model_dump_json(), encoding="utf-8")
    os.replace(temporary, path)


def write_inputs(root: Path, count: int, folder: str = "inputs") -> list[Path]:
    """`count` input files on the `data` datastore; file i holds the number i."""
    base = root / "data" / folder
    base.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = base / f"f{i:05d}.txt"
        path.write_text(str(i))
        paths.append(path)
    return paths


def invoke_body(path: str = "inputs", kind: str = "UriFolder", **properties: Any) -> dict[str, Any]:
    return {
        "properties": {
            "InputData": {"data": {"JobInputType": kind, "Uri": f"azureml://datastores/data/paths/{path}"}},
            **properties,
        }
    }


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    """A keep-alive HTTP client; reconnects when the server went away."""

    def __init__(self, port: int, headers: dict[str, str] | None = None) -> None:
        self.port = port
        self.headers = headers or {}
        self._conn: http.client.HTTPConnection | None = None

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Answer:
        data = json.dumps(body).encode() if body is not None else None
        all_headers = {**self.headers, **(headers or {})}
        if data is not None:
            all_headers["Content-Type"] = "application/json"
        for attempt in range(2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                self._conn.request(method, path, body=data, headers=all_headers)
                answer = self._conn.getresponse()
                return Answer(answer.status, answer.read(), {k.lower(): v for k, v in answer.getheaders()})
            except (ConnectionError, http.client.HTTPException, OSError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def public_client(port: int, key: str = KEY) -> Client:
    return Client(port, {"Authorization": f"Bearer {key}"})


def node_client(port: int) -> Client:
    return Client(port, {NODE_SECRET_HEADER: NODE_SECRET})


def rows_for(files: list[str]) -> list[str]:
    """The fake driver: one row per file, `<file name>,<file content>`."""
    return [f"{os.path.basename(f)},{Path(f).read_text()}" for f in files]


@dataclass
class FakeNode:
    """A node's worker loop over HTTP: lease, write the part file (fsync), complete.

    `fail(lease) -> (failure, error) | None` makes chosen attempts fail; `hold` leaves leases unanswered.
    """

    port: int
    name: str = "node-1"
    deployment: str = "blue"
    process: int = 0
    job: str | None = None
    fail: Callable[[dict[str, Any]], tuple[str, str] | None] | None = None
    max_minibatches: int = 1  # > 1: step() leases bundles, as real nodes do
    done: list[dict[str, Any]] = field(default_factory=list)
    bundles: list[int] = field(default_factory=list)  # size of each bundle step() leased
    refused: int = 0
    _parts: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.client = node_client(self.port)

    def lease(self) -> dict[str, Any] | None:
        """One lease (asks for a bundle of one)."""
        bundle = self.lease_bundle(1)
        return bundle[0] if bundle else None

    def lease_bundle(self, most: int) -> list[dict[str, Any]]:
        answer = self.client.request(
            "POST",
            "/internal/lease",
            {"node": self.name, "deployment": self.deployment, "process": self.process, "job": self.job,
             "max_minibatches": most},
        )  # fmt: skip
        if answer.status == 204:
            return []
        assert answer.status == 200, answer.body
        leases: list[dict[str, Any]] = answer.json()["leases"]
        assert 1 <= len(leases) <= most
        return leases

    def work(self, lease: dict[str, Any]) -> dict[str, Any]:
        """Run the fake driver: the completion message (the part file is written and synced)."""
        failed = self.fail(lease) if self.fail else None
        if failed:
            kind, error = failed
            return {"token": lease["token"], "node": self.name, "process": self.process, "outcome": "failed",
                    "failure": kind, "error": error, "elapsed_s": 0.01}  # fmt: skip
        rows = rows_for(lease["files"])
        part = Path(lease["part_path"])
        part.parent.mkdir(parents=True, exist_ok=True)
        with open(part, "w", encoding="utf-8") as out:
            out.write("".join(row + "\n" for row in rows))
            out.flush()
            os.fsync(out.fileno())
        return {"token": lease["token"], "node": self.name, "process": self.process, "outcome": "succeeded",
                "rows": len(rows), "elapsed_s": 0.01}  # fmt: skip

    def complete(self, message: dict[str, Any]) -> bool:
        (accepted,) = self.complete_all([message])
        return accepted

    def complete_all(self, messages: list[dict[str, Any]]) -> list[bool]:
        """One report for a bundle's outcomes; per message, whether it was accepted."""
        answer = self.client.request("POST", "/internal/complete", {"completions": messages})
        assert answer.status == 200, answer.body
        accepted: list[bool] = answer.json()["accepted"]
        for message, ok in zip(messages, accepted, strict=True):
            if not ok:
                self.refused += 1
                if message["outcome"] == "succeeded":
                    # The contract: a refused attempt's part file is deleted by the node.
                    Path(self._parts.pop(message["token"], "")).unlink(missing_ok=True)
        return accepted

    def step(self) -> bool:
        bundle = self.lease_bundle(self.max_minibatches)
        if not bundle:
            return False
        self.bundles.append(len(bundle))
        for lease in bundle:
            self._parts[lease["token"]] = lease["part_path"]
            self.done.append(lease)
        self.complete_all([self.work(lease) for lease in bundle])
        return True

    def heartbeat(self, tokens: list[str]) -> list[str]:
        answer = self.client.request("POST", "/internal/heartbeat", {"node": self.name, "tokens": tokens})
        assert answer.status == 200, answer.body
        abandon: list[str] = answer.json()["abandon"]
        return abandon


def run_nodes(nodes: list[FakeNode], until: Callable[[], bool], idle_wait: float = 0.01) -> None:
    """Run fake nodes in threads until `until()`; each polls for work while there is none."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def loop(node: FakeNode) -> None:
        try:
            while not stop.is_set():
                if not node.step():
                    stop.wait(idle_wait)
        except BaseException as exc:
            errors.append(exc)
            stop.set()

    threads = [threading.Thread(target=loop, args=(n,), daemon=True) for n in nodes]
    for thread in threads:
        thread.start()
    try:
        while not stop.is_set() and not until():
            stop.wait(0.01)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    if errors:
        raise errors[0]
