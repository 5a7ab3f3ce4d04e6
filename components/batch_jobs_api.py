"""The batch controller's jobs API as `mle batch` calls it, and the stack's batch endpoints."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.endpoint_cli import CliError, credential, endpoints_of

TERMINAL = ("Completed", "Failed", "Canceled")


class ControllerDown(CliError):
    """The controller did not answer at all (as opposed to answering with an error)."""


def batch_endpoints(outputs: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: ep for n, ep in endpoints_of(dict(outputs)).items() if ep.get("kind") == "batch"}


def pick_batch_endpoint(outputs: Mapping[str, Any], name: str | None) -> tuple[str, dict[str, Any]]:
    """The named batch endpoint, or the stack's only one."""
    found = batch_endpoints(outputs)
    listed = ", ".join(sorted(found)) or "none"
    if name is None:
        if len(found) == 1:
            return next(iter(found.items()))
        if not found:
            raise CliError("the stack has no batch endpoint (declare one and run `make up`)")
        raise CliError(f"the stack has several batch endpoints, name one with --endpoint: {listed}")
    if name not in found:
        if name in endpoints_of(dict(outputs)):
            raise CliError(f"{name} is an online endpoint; batch endpoints: {listed}")
        raise CliError(f"no batch endpoint {name!r} in the stack; batch endpoints: {listed}")
    return name, found[name]


def _message(exc: urllib.error.HTTPError) -> str:
    raw = exc.read()
    try:
        body = json.loads(raw)
        if isinstance(body, dict) and body.get("message"):
            return str(body["message"])
    except ValueError:
        pass
    text = raw.decode("utf-8", "replace").strip().splitlines()
    return text[0][:300] if text else str(exc.reason)


@dataclass
class JobsApi:
    """The controller's jobs API (`invoke_uri` = .../jobs), with a fresh credential per request."""

    endpoint: str
    ep: dict[str, Any]
    timeout: float = 30.0

    @property
    def uri(self) -> str:
        uri = self.ep.get("invoke_uri")
        if not uri:
            raise CliError(f"endpoint {self.endpoint} exports no invoke_uri; run `make up`")
        return str(uri).rstrip("/")

    def request(
        self,
        method: str,
        parts: Sequence[str] = (),
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
    ) -> Any:
        url = self.uri + "".join("/" + urllib.parse.quote(p, safe="") for p in parts)
        if query:
            url += "?" + urllib.parse.urlencode(query)
        sent = {"Authorization": f"Bearer {credential(self.endpoint, self.ep)}", **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=sent, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise CliError(f"endpoint {self.endpoint} answered {exc.code}: {_message(exc)}") from None
        except OSError as exc:  # URLError, refused, reset, timeout
            reason = getattr(exc, "reason", None) or exc
            container = self.ep.get("controller_container") or f"{self.endpoint}-controller"
            raise ControllerDown(
                f"the batch controller of {self.endpoint} does not answer at {self.uri} ({reason}); "
                f"see `scripts/mle logs {self.endpoint}` or `docker logs {container}`"
            ) from None
        try:
            return json.loads(raw or b"null")
        except ValueError:
            raise CliError(f"endpoint {self.endpoint} answered with something that is not JSON") from None

    def invoke(self, body: dict[str, Any], deployment: str | None) -> dict[str, Any]:
        headers = {"azureml-model-deployment": deployment} if deployment else None
        answer: dict[str, Any] = self.request("POST", (), body, headers)
        return answer

    def job(self, name: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.request("GET", (name,))
        return answer

    def jobs(self, deployment: str | None = None) -> list[dict[str, Any]]:
        answer = self.request("GET", (), query={"deployment": deployment} if deployment else None)
        return list(answer.get("value") or [])

    def cancel(self, name: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.request("POST", (name, "cancel"))
        return answer
