"""`make destroy` of a kubernetes stack whose `make up` was killed while the provider created an
endpoint's namespace deletes that namespace, which the stack does not know (Pulumi drops a pending
create); another stack's namespace of the same kind stays.

On the project's cluster, with the real `scripts/stack destroy` and Pulumi engine. The kill itself is
stood in for: the namespace is made as the provider makes it (same name and labels) and the stack's
checkpoint gets the pending create a killed `pulumi up` leaves; a create of a namespace takes
milliseconds, too short to kill pulumi inside it on purpose.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
from typing import Any

import pytest

from components.stack_checkpoint import checkpoint_file
from components.targets.kubernetes import plan
from components.targets.kubernetes.interrupted import NAMESPACE_TYPE
from tests.integration.fixtures.tiny_endpoint import tiny_serving
from tests.integration.pulumi_stack import REPO, TempStack
from tests.integration.targets import KubernetesDriver, kubectl

pytestmark = pytest.mark.integration
ENDPOINT = "it-killed-ns"


def _namespace(name: str, owner: str) -> dict[str, Any]:
    labels = {**plan.labels(ENDPOINT, role="endpoint"), "io.mlendpoints.stack": owner}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def _pending_creates(stack: TempStack, manifests: list[dict[str, Any]]) -> None:
    """Write into the stack's checkpoint the pending creates a pulumi killed inside them leaves
    (`pulumi stack import` drops pending operations, so the file is written as pulumi writes it)."""
    path = checkpoint_file(os.environ["PULUMI_BACKEND_URL"], "mlendpoints", stack.name)
    assert path is not None and path.suffix == ".json", path
    state = json.loads(path.read_text())
    parent = f"urn:pulumi:{stack.name}::mlendpoints::mlendpoints:online:OnlineEndpoint"
    state["checkpoint"]["latest"]["pending_operations"] = [
        {
            "resource": {
                "urn": f"{parent}${NAMESPACE_TYPE}::{manifest['metadata']['name']}-ns",
                "custom": True,
                "type": NAMESPACE_TYPE,
                "inputs": manifest,
            },
            "type": "creating",
        }
        for manifest in manifests
    ]
    text = json.dumps(state).encode()
    path.write_bytes(text)
    # The blob store's sidecar holds the file's MD5: kept true to the new content.
    attrs = path.with_name(path.name + ".attrs")
    if attrs.is_file():
        meta = json.loads(attrs.read_text())
        meta["md5"] = base64.b64encode(hashlib.md5(text).digest()).decode()
        attrs.write_text(json.dumps(meta))


def _phase(name: str) -> str | None:
    """The namespace's phase (Active, Terminating), None once it is gone."""
    done = kubectl("get", "namespace", name, "-o", "jsonpath={.status.phase}", "--ignore-not-found")
    return done.stdout.strip() or None


def test_destroy_deletes_the_namespace_a_killed_up_was_creating() -> None:
    KubernetesDriver().require()
    stack = TempStack.create(
        {"mlendpoints:target": "kubernetes", "mlendpoints:serving": tiny_serving(ENDPOINT)}
    )
    ours = _namespace(plan.namespace(ENDPOINT), plan.owner_label("mlendpoints", stack.name))
    theirs = _namespace(f"{plan.namespace(ENDPOINT)}-b", "mlendpoints.another-stack")
    try:
        for manifest in (ours, theirs):
            subprocess.run(
                ["kubectl", "apply", "-f", "-"], input=json.dumps(manifest), text=True, check=True, timeout=60
            )
        _pending_creates(stack, [ours, theirs])

        done = subprocess.run(
            ["scripts/stack", "destroy", stack.name], cwd=REPO, capture_output=True, text=True, check=False
        )

        assert done.returncode == 0, done.stdout + done.stderr
        assert f"namespace {plan.namespace(ENDPOINT)}" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
        assert _phase(plan.namespace(ENDPOINT)) in (None, "Terminating")
        assert _phase(f"{plan.namespace(ENDPOINT)}-b") == "Active"  # another stack's: left alone
    finally:
        for manifest in (ours, theirs):
            kubectl("delete", "namespace", manifest["metadata"]["name"], "--ignore-not-found", "--wait=false")
        stack.destroy_and_remove()
