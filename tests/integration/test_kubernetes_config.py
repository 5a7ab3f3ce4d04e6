"""Settings of the Kubernetes target that cannot work are refused by name before anything is made."""

from __future__ import annotations

import pytest

from tests.integration.fixtures.tiny_endpoint import tiny_serving
from tests.integration.pulumi_stack import TempStack

pytestmark = pytest.mark.integration


def test_a_service_type_callers_cannot_reach_is_refused_by_name() -> None:
    stack = TempStack.create(
        {
            "mlendpoints:target": "kubernetes",
            "mlendpoints:serving": tiny_serving("it-k8s-config"),
            "mlendpoints:kubernetes": {"service_type": "ClusterIP"},
        }
    )
    try:
        planned = stack.preview()
        out = planned["_stderr"] + str(planned.get("diagnostics", ""))
        assert planned["_returncode"] != 0
        assert (
            "kubernetes.service_type" in out and "NodePort, LoadBalancer" in out and "'ClusterIP'" in out
        ), out
        assert "Traceback" not in out
        created = [s["urn"] for s in planned.get("steps", []) if s["op"] == "create"]
        assert all("pulumi:pulumi:Stack" in urn for urn in created), created  # refused before any resource
    finally:
        stack.destroy_and_remove()


def test_batch_is_refused_and_router_ports_are_said_to_be_ignored_on_kubernetes() -> None:
    stack = TempStack.create(
        {
            "mlendpoints:target": "kubernetes",
            "mlendpoints:serving": {
                "computes": ["examples/batch/cluster.yml"],
                "endpoints": [{"file": "examples/batch/endpoint.yml", "name": "it-k8s-batch"}],
                "deployments": [{"file": "examples/batch/deployment.yml", "endpoint_name": "it-k8s-batch"}],
            },
            "mlendpoints:router_port": 8999,
        }
    )
    try:
        planned = stack.preview()
        out = planned["_stderr"] + str(planned.get("diagnostics", ""))
        assert planned["_returncode"] != 0
        assert "batch endpoints run on the local target only for now" in out, out
        assert "router_port(s) set on the kubernetes target: ignored" in out, out
        assert "Traceback" not in out
        created = [s["urn"] for s in planned.get("steps", []) if s["op"] == "create"]
        assert all("pulumi:pulumi:Stack" in urn for urn in created), created
    finally:
        stack.destroy_and_remove()
