"""Calling a deployed batch endpoint as a client does: Azure's invoke body, polling the job."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TERMINAL = ("Completed", "Failed", "Canceled")


@dataclass(frozen=True)
class BatchEndpointClient:
    """One batch endpoint of a deployed stack: its jobs URI, a key, and the default datastore's folder."""

    jobs_uri: str
    key: str
    datastore: Path  # host folder of workspaceblobstore

    @classmethod
    def from_outputs(cls, outputs: dict[str, Any], endpoint: str) -> BatchEndpointClient:
        return cls(
            outputs[f"{endpoint}.invoke_uri"],
            outputs[f"{endpoint}.primary_key"],
            Path(outputs[f"{endpoint}.datastores"]["workspaceblobstore"]),
        )

    def request(
        self, method: str, path: str = "", body: Any = None, headers: dict[str, str] | None = None
    ) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.jobs_uri + path,
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.key}",
                "Content-Type": "application/json",
                **(headers or {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def inputs(self, files: dict[str, str]) -> str:
        """Write input files into a fresh folder of the datastore; its azureml:// URI."""
        relative = f"it-inputs/{uuid.uuid4().hex[:12]}"
        folder = self.datastore / relative
        folder.mkdir(parents=True)
        for name, content in files.items():
            (folder / name).write_text(content)
        return f"azureml://datastores/workspaceblobstore/paths/{relative}"

    def invoke(self, uri: str, deployment: str | None = None, **overrides: Any) -> dict[str, Any]:
        body = {"properties": {"InputData": {"data": {"JobInputType": "UriFolder", "Uri": uri}}, **overrides}}
        headers = {"azureml-model-deployment": deployment} if deployment else {}
        status, job = self.request("POST", "", body, headers)
        assert status == 200, job
        return dict(job)

    def job(self, name: str) -> dict[str, Any]:
        status, job = self.request("GET", f"/{name}")
        assert status == 200, job
        return dict(job)

    def wait(self, name: str, deadline_s: float = 300) -> dict[str, Any]:
        """Poll until the job ends; a controller that is restarting (refused connections) is waited for."""
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            try:
                job = self.job(name)
            except OSError:  # refused or reset: the controller is being restarted
                time.sleep(0.5)
                continue
            if job["properties"]["status"] in TERMINAL:
                return job
            time.sleep(0.5)
        raise AssertionError(f"job {name} did not end within {deadline_s:.0f} s: {self.job(name)}")

    def host_path(self, uri: str) -> Path:
        prefix = "azureml://datastores/workspaceblobstore/paths/"
        assert uri.startswith(prefix), uri
        return self.datastore / uri.removeprefix(prefix)

    def output_lines(self, job: dict[str, Any]) -> list[str]:
        path = self.host_path(job["properties"]["outputFileUri"])
        return path.read_text().splitlines()

    def job_folder(self, name: str) -> Path:
        return self.datastore / "azureml" / name
