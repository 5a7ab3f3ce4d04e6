"""Pending creates and recorded ids, read from a file:// backend's checkpoint as pulumi writes it."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from components.stack_checkpoint import checkpoint_file, latest_deployment, pending_creates, recorded_ids

URN = "urn:pulumi:s::mlendpoints::mlendpoints:online:OnlineEndpoint$pulumi-python:dynamic:Resource::"


def _checkpoint(latest: dict[str, Any]) -> dict[str, Any]:
    return {"version": 3, "checkpoint": {"stack": "s", "latest": latest}}


def _write(state: Path, stack: str, data: dict[str, Any], gz: bool = False) -> Path:
    folder = state / ".pulumi" / "stacks" / "mlendpoints"
    folder.mkdir(parents=True, exist_ok=True)
    raw = json.dumps(data).encode()
    path = folder / (f"{stack}.json.gz" if gz else f"{stack}.json")
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


DYNAMIC = "pulumi-python:dynamic:Resource"


def _pending(name: str, op: str, inputs: dict[str, Any] | None) -> dict[str, Any]:
    resource: dict[str, Any] = {"urn": URN + name, "type": DYNAMIC}
    if inputs is not None:
        resource["inputs"] = inputs
    return {"resource": resource, "type": op}


LATEST = {
    "resources": [
        {"urn": URN + "ep-net-network", "type": DYNAMIC, "id": "net1"},
        {
            "urn": "urn:pulumi:s::mlendpoints::pulumi:pulumi:Stack::mlendpoints-s",
            "type": "pulumi:pulumi:Stack",
        },
    ],
    "pending_operations": [
        _pending("ep-blue-0", "creating", {"name": "a"}),
        _pending("ep-agent", "updating", {"name": "b"}),
        _pending("ep-x", "creating", None),
    ],
}


def test_only_pending_creates_with_inputs_are_read(tmp_path: Path) -> None:
    _write(tmp_path, "s", _checkpoint(LATEST))
    latest = latest_deployment(f"file://{tmp_path}", "mlendpoints", "s")
    creates = pending_creates(latest)
    assert [(c.urn.rsplit("::", 1)[-1], c.inputs) for c in creates] == [("ep-blue-0", {"name": "a"})]
    assert recorded_ids(latest) == {"net1"}


def test_a_gzipped_checkpoint_is_read_too(tmp_path: Path) -> None:
    path = _write(tmp_path, "s", _checkpoint(LATEST), gz=True)
    assert checkpoint_file(f"file://{tmp_path}", "mlendpoints", "s") == path
    assert len(pending_creates(latest_deployment(f"file://{tmp_path}", "mlendpoints", "s"))) == 1


def test_no_checkpoint_an_unreadable_one_or_another_backend_reads_as_nothing(tmp_path: Path) -> None:
    backend = f"file://{tmp_path}"
    assert latest_deployment(backend, "mlendpoints", "s") == {}
    _write(tmp_path, "s", _checkpoint(LATEST)).write_text("{not json")
    assert latest_deployment(backend, "mlendpoints", "s") == {}
    assert latest_deployment("https://api.pulumi.com", "mlendpoints", "s") == {}
    assert pending_creates({}) == [] and recorded_ids({}) == set()
