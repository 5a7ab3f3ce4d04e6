"""The batch bench's throwaway stack (TempStack of the integration tests) and its jobs REST client.

One batch endpoint with a deployment per (max_concurrency_per_instance, driver), each on its own
compute cluster so that one deployment's idle nodes never hold another's instances; a datastore
`benchdata` pointing at the bench's data folder. Jobs are invoked with Azure's REST body and a token
of the endpoint (serving.router.tokens.issue_token), as a client of a real endpoint would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from paths import CACHE, REPO

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from components.batch_progress import POLL_INTERVAL_S
from serving.batch.protocol import DATASTORES_ROOT, DEFAULT_DATASTORE
from serving.router.tokens import issue_token
from tests.integration.pulumi_stack import TempStack

BASE_IMAGE = os.environ.get("MLENDPOINTS_BASE_IMAGE", "mlendpoints/base:bookworm-py311")
DATASTORE = "benchdata"
SCHEMA = "https://azuremlschemas.azureedge.net/latest/{}.schema.json"
TERMINAL = ("Completed", "Failed", "Canceled")


def load_project_env() -> None:
    """What `source scripts/env` sets (pulumi on PATH, the file backend, ...), when it is not set yet."""
    if os.environ.get("PULUMI_BACKEND_URL") and shutil.which("pulumi"):
        return
    dump = subprocess.run(
        ["bash", "-c", f". {REPO / 'scripts' / 'env'} && env -0"], capture_output=True, check=True
    ).stdout
    for entry in dump.split(b"\0"):
        key, sep, value = entry.decode().partition("=")
        if sep:
            os.environ[key] = value


@dataclass(frozen=True)
class Deployment:
    name: str
    cluster: str
    driver: Path  # the scoring script; its folder is code_configuration.code
    instance_count: int
    processes: int  # max_concurrency_per_instance
    mini_batch_size: int


@dataclass
class BenchStack:
    run_dir: Path
    endpoint: str
    deployments: list[Deployment]
    idle_s: int
    max_instances: int = 2
    size: str = "Standard_DS2_v2"
    stack: TempStack | None = None
    outputs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def plan(
        cls, run_dir: Path, deployments: list[tuple[str, Path, int, int, int]], idle_s: int
    ) -> BenchStack:
        """deployments: (name, driver, instance_count, processes, mini_batch_size); names <= 5 chars."""
        tag = uuid.uuid4().hex[:6]
        return cls(
            run_dir,
            f"bbench-{tag}",
            [Deployment(n, f"bb{tag}-{n}", d, i, p, m) for n, d, i, p, m in deployments],
            idle_s,
        )

    # ------------------------------------------------------------------ config

    def _documents(self) -> list[Path]:
        folder = self.run_dir / "stack"
        (folder / "model").mkdir(parents=True, exist_ok=True)
        (folder / "model" / "README.txt").write_text("the bench drivers load no model\n")
        docs: dict[str, dict[str, Any]] = {
            "endpoint": {
                "$schema": SCHEMA.format("batchEndpoint"),
                "name": self.endpoint,
                "auth_mode": "aad_token",
                "defaults": {"deployment_name": self.deployments[0].name},
            }
        }
        for d in self.deployments:
            docs[f"cluster-{d.name}"] = {
                "$schema": SCHEMA.format("amlCompute"),
                "name": d.cluster,
                "type": "amlcompute",
                "size": self.size,
                "min_instances": 0,
                "max_instances": self.max_instances,
                "idle_time_before_scale_down": self.idle_s,
                "tier": "dedicated",
            }
            docs[f"deployment-{d.name}"] = {
                "$schema": SCHEMA.format("modelBatchDeployment"),
                "name": d.name,
                "endpoint_name": self.endpoint,
                "type": "model",
                "model": {"name": "bench", "version": 1, "path": "./model"},
                "code_configuration": {"code": str(d.driver.parent), "scoring_script": d.driver.name},
                "environment": {"image": BASE_IMAGE},
                "compute": f"azureml:{d.cluster}",
                "resources": {"instance_count": d.instance_count},
                "settings": {
                    "max_concurrency_per_instance": d.processes,
                    "mini_batch_size": d.mini_batch_size,
                    "output_action": "append_row",
                    "output_file_name": "predictions.csv",
                    "retry_settings": {"max_retries": 3, "timeout": 120},
                    "error_threshold": -1,
                    "logging_level": "info",
                },
            }
        paths = []
        for name, doc in docs.items():
            path = folder / f"{name}.yml"
            path.write_text(json.dumps(doc, indent=2))  # JSON is YAML
            paths.append(path)
        return paths

    def up(self) -> None:
        config = {
            "mlendpoints:target": "local",
            "mlendpoints:serving": {"files": [str(p) for p in self._documents()]},
            "mlendpoints:datastores": {DATASTORE: str(self.run_dir / "data")},
            "mlendpoints:quota": {"total_cores": 64, "total_memory_gb": 256},
        }
        self.stack = TempStack.create(config, prefix="bench")
        self.stack.up()
        self.outputs = self.stack.outputs(show_secrets=True)

    def destroy(self) -> None:
        """Destroy the stack and remove what its jobs left under the cache; never raises."""
        if self.stack is not None:
            try:
                self.stack.destroy_and_remove()
            except Exception as exc:  # the caller must still clean up the rest
                print(f"warning: destroying stack {self.stack.name} failed: {exc}", file=sys.stderr)
            shutil.rmtree(CACHE / "endpoints" / f"mlendpoints-{self.stack.name}", ignore_errors=True)

    # ------------------------------------------------------------------ what the stack says

    def output(self, key: str) -> Any:
        return self.outputs[f"{self.endpoint}.{key}"]

    @property
    def default_store(self) -> Path:
        return Path(self.output("datastores")[DEFAULT_DATASTORE])

    def node_image(self, deployment: str) -> str:
        """The image the agent starts this deployment's nodes from (its node templates file)."""
        assert self.stack is not None
        templates = (
            CACHE
            / "endpoints"
            / f"mlendpoints-{self.stack.name}"
            / self.endpoint
            / "batch"
            / "agent"
            / "nodes.json"
        )
        return str(json.loads(templates.read_text())["deployments"][deployment]["container"]["image"])

    def client(self) -> JobsClient:
        return JobsClient(self.output("invoke_uri"), self.output("token_secret"), self.endpoint)

    def containers(self, role: str, deployment: str | None = None) -> list[str]:
        """Names of this endpoint's containers of a role (node, controller, agent)."""
        filters = ["--filter", f"label=io.mlendpoints.endpoint={self.endpoint}"]
        filters += ["--filter", f"label=io.mlendpoints.role={role}"]
        if deployment is not None:
            filters += ["--filter", f"label=io.mlendpoints.deployment={deployment}"]
        out = subprocess.run(
            ["docker", "ps", "--format", "{{.Names}}", *filters], capture_output=True, text=True, check=True
        ).stdout
        return sorted(out.split())

    def wait_no_nodes(self, deployment: str, timeout_s: float) -> float:
        """Wait until the deployment has no node (idle scale-down); seconds waited."""
        start = time.monotonic()
        while self.containers("node", deployment):
            if time.monotonic() - start > timeout_s:
                raise TimeoutError(f"nodes of {deployment} still up after {timeout_s:.0f} s")
            time.sleep(1.0)
        return time.monotonic() - start


def parse_utc(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True)
class JobResult:
    name: str
    status: str
    invoked_at: float  # client clock, just before the POST (same host clock as the containers)
    created_at: float
    started_at: float
    ended_at: float
    seen_done_at: float  # when this client saw the terminal status
    resource: dict[str, Any]

    @property
    def seconds(self) -> float:
        return self.ended_at - self.started_at


class JobsClient:
    """POST /jobs (Azure's invoke body), GET /jobs/<name>, with a token of the endpoint."""

    def __init__(self, invoke_uri: str, token_secret: str, endpoint: str) -> None:
        self.uri = invoke_uri.rstrip("/")
        self.token = issue_token(token_secret, 3600, audience=endpoint)

    def _call(self, method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Content-Type", "application/json")
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"{method} {url}: {exc.code} {exc.read()[:500]!r}") from None

    def invoke(self, deployment: str, folder: str, output: str, name: str, instance_count: int) -> float:
        """Submit a job; returns the client's clock just before the request went out."""
        body = {
            "properties": {
                "name": name,
                "InputData": {
                    "data": {
                        "JobInputType": "UriFolder",
                        "Uri": f"azureml://datastores/{DATASTORE}/paths/{folder}",
                    }
                },
                "OutputData": {
                    "score": {
                        "JobOutputType": "UriFolder",
                        "Uri": f"azureml://datastores/{DATASTORE}/paths/{output}",
                    }
                },
                "compute": {"instanceCount": instance_count},
            }
        }
        invoked = time.time()
        self._call("POST", self.uri, body, {"azureml-model-deployment": deployment})
        return invoked

    def get(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"{self.uri}/{name}")
        return result

    def wait(
        self, name: str, invoked_at: float, timeout_s: float = 600.0, poll_s: float = POLL_INTERVAL_S
    ) -> JobResult:
        # Polled as often as `mle batch invoke --wait` polls: the job's times come from the controller,
        # and each poll is CPU the job's nodes share the machine with.
        deadline = time.monotonic() + timeout_s
        while True:
            job = self.get(name)
            props = job["properties"]
            if props["status"] in TERMINAL:
                return JobResult(
                    name,
                    props["status"],
                    invoked_at,
                    parse_utc(props["creationTime"]) or invoked_at,
                    parse_utc(props["startTime"]) or invoked_at,
                    parse_utc(props["endTime"]) or time.time(),
                    time.time(),
                    job,
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {name} still {props['status']} after {timeout_s:.0f} s")
            time.sleep(poll_s)


def host_path(run_dir: Path, datastore_path: str) -> Path:
    """A benchdata datastore path on this host."""
    return run_dir / "data" / datastore_path


def container_path(datastore_path: str) -> str:
    return f"{DATASTORES_ROOT}/{DATASTORE}/{datastore_path}"
