"""Which interrupted creates are this stack's endpoint namespaces, and which kubectl reaches them
(pure; the deletion runs on the project's cluster in tests/integration/test_interrupted_namespace.py)."""

from __future__ import annotations

import json
from pathlib import Path

from components.stack_checkpoint import PendingCreate
from components.targets.kubernetes.interrupted import NAMESPACE_TYPE, kubectl_base, leftover_namespaces

OWNER = "mlendpoints.k8s"
OURS = {
    "app.kubernetes.io/managed-by": "mlendpoints",
    "io.mlendpoints.endpoint": "ep",
    "io.mlendpoints.role": "endpoint",
    "io.mlendpoints.stack": OWNER,
}


def _namespace(name: object, labels: object, type_: str = NAMESPACE_TYPE) -> PendingCreate:
    return PendingCreate("urn:x", type_, {"apiVersion": "v1", "metadata": {"name": name, "labels": labels}})


def test_only_namespaces_labelled_as_this_stacks_are_leftovers() -> None:
    found = leftover_namespaces(
        [
            _namespace("mle-ep", OURS),
            _namespace("mle-other", {**OURS, "io.mlendpoints.stack": "mlendpoints.another"}),
            _namespace(
                "mle-unmanaged", {k: v for k, v in OURS.items() if k != "app.kubernetes.io/managed-by"}
            ),
            _namespace("mle-ep", OURS, type_="kubernetes:core/v1:Secret"),
            _namespace(3, OURS),
            _namespace("mle-x", "not a mapping"),
            PendingCreate("urn:y", NAMESPACE_TYPE, {"metadata": "odd"}),
        ],
        OWNER,
    )
    assert found == ["mle-ep"]


def _stack_file(root: Path, config: dict[str, object]) -> None:
    (root / "stacks").mkdir(exist_ok=True)
    (root / "stacks" / "Pulumi.s.yaml").write_text(json.dumps({"config": config}))


def test_kubectl_follows_the_stack_config_then_kubeconfig_of_the_environment(tmp_path: Path) -> None:
    _stack_file(tmp_path, {"mlendpoints:target": "kubernetes"})
    assert kubectl_base(tmp_path, "s", {"KUBECONFIG": "/env/kc"}) == ["kubectl", "--kubeconfig", "/env/kc"]
    assert kubectl_base(tmp_path, "s", {}) == ["kubectl"]
    _stack_file(
        tmp_path,
        {
            "mlendpoints:target": "kubernetes",
            "mlendpoints:kubernetes": {"kubeconfig": "/stack/kc", "context": "prod"},
        },
    )
    assert kubectl_base(tmp_path, "s", {"KUBECONFIG": "/env/kc"}) == [
        "kubectl", "--kubeconfig", "/stack/kc", "--context", "prod",
    ]  # fmt: skip


def test_other_targets_and_unreadable_configs_ask_no_cluster(tmp_path: Path) -> None:
    _stack_file(tmp_path, {"mlendpoints:target": "local"})
    assert kubectl_base(tmp_path, "s", {"KUBECONFIG": "/env/kc"}) is None
    _stack_file(tmp_path, {})
    assert kubectl_base(tmp_path, "s", {}) is None
    assert kubectl_base(tmp_path, "missing", {}) is None
    (tmp_path / "stacks" / "Pulumi.s.yaml").write_text("config: [unclosed")
    assert kubectl_base(tmp_path, "s", {}) is None
