"""The real pulumi-kubernetes provider plugin that the bootstrap builds (toolchain/providers/kubernetes).

It must be installed at exactly the version the pinned pulumi_kubernetes SDK records, and the real
engine must load it (no plugin download: scripts/env turns acquisition off) and preview a program
that declares a ConfigMap against a cluster that cannot be reached: pulumi-kubernetes previews
without a cluster (this version says nothing about it outside its verbose log). No cluster is
needed. A missing plugin fails the test: `make test` bootstraps it.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from tests.integration.pulumi_stack import require_toolchain

pytestmark = pytest.mark.integration

# Nothing listens on port 1 of the loopback: every connection is refused at once.
UNREACHABLE = "https://127.0.0.1:1"
# Only the provider reading this kubeconfig can put this namespace into the ConfigMap's planned inputs.
NAMESPACE = "mle-probe-ns"
KUBECONFIG = f"""apiVersion: v1
kind: Config
clusters:
- name: nowhere
  cluster: {{server: "{UNREACHABLE}", insecure-skip-tls-verify: true}}
users:
- name: nobody
  user: {{token: not-a-real-token}}
contexts:
- name: nowhere
  context: {{cluster: nowhere, user: nobody, namespace: {NAMESPACE}}}
current-context: nowhere
"""

PROGRAM = """import pulumi
import pulumi_kubernetes as k8s

provider = k8s.Provider("unreachable", kubeconfig=open("kubeconfig.yaml").read())
k8s.core.v1.ConfigMap(
    "probe",
    metadata=k8s.meta.v1.ObjectMetaArgs(name="mle-probe"),
    data={"hello": "world"},
    opts=pulumi.ResourceOptions(provider=provider),
)
"""


def _sdk_plugin_version() -> str:
    """The plugin version the pinned pulumi_kubernetes SDK asks the engine for."""
    text = resources.files("pulumi_kubernetes").joinpath("pulumi-plugin.json").read_text()
    return str(json.loads(text)["version"])


def _pulumi(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> Any:
    return subprocess.run(
        ["pulumi", *args], cwd=cwd, env=env or dict(os.environ), capture_output=True, text=True, check=False
    )


def test_the_installed_kubernetes_plugin_is_the_sdk_version() -> None:
    require_toolchain()
    listed = _pulumi("plugin", "ls", "--json")
    assert listed.returncode == 0, listed.stderr
    versions = [p["version"] for p in json.loads(listed.stdout or "[]")
                if p["kind"] == "resource" and p["name"] == "kubernetes"]  # fmt: skip
    assert _sdk_plugin_version() in versions, (
        f"no kubernetes plugin v{_sdk_plugin_version()} installed (found {versions}): "
        "run scripts/bootstrap (make test does)"
    )


@pytest.fixture
def probe(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """A throwaway project with one stack in a file backend of its own (`stack rm` would leave backups)."""
    require_toolchain()
    (tmp_path / "Pulumi.yaml").write_text("name: mle-k8s-provider-probe\nruntime: python\n")
    (tmp_path / "__main__.py").write_text(PROGRAM)
    (tmp_path / "kubeconfig.yaml").write_text(KUBECONFIG)
    stack = f"probe-{uuid.uuid4().hex[:8]}"
    # The default provider, were anything to use it, must not find a real cluster either.
    env = {
        **os.environ,
        "KUBECONFIG": str(tmp_path / "kubeconfig.yaml"),
        "PULUMI_BACKEND_URL": f"file://{tmp_path / 'state'}",
        "PULUMI_STACK": stack,
    }
    (tmp_path / "state").mkdir()
    init = _pulumi("stack", "init", stack, "--non-interactive", cwd=tmp_path, env=env)
    assert init.returncode == 0, init.stdout + init.stderr
    # One config value: our language host passes a stack without config as PULUMI_CONFIG=null, which
    # the SDK's exec shim cannot read (a host bug of its own, not this provider's).
    config = _pulumi("config", "set", "note", "probe", "--non-interactive", cwd=tmp_path, env=env)
    assert config.returncode == 0, config.stdout + config.stderr
    try:
        yield tmp_path, env
    finally:
        _pulumi("stack", "rm", stack, "--yes", "--force", "--non-interactive", cwd=tmp_path, env=env)


def test_the_engine_previews_a_configmap_with_the_plugin_without_a_cluster(
    probe: tuple[Path, dict[str, str]],
) -> None:
    folder, env = probe
    assert env.get("PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION") == "true"  # scripts/env: no download
    proc = _pulumi("preview", "--json", "--non-interactive", cwd=folder, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Each planned step by (type, name): the provider instance and the ConfigMap are created.
    steps = {tuple(s["urn"].split("::")[-2:]): s for s in json.loads(proc.stdout)["steps"]}
    provider = steps[("pulumi:providers:kubernetes", "unreachable")]
    configmap = steps[("kubernetes:core/v1:ConfigMap", "probe")]
    assert provider["op"] == configmap["op"] == "create"
    assert provider["newState"]["inputs"]["version"] == _sdk_plugin_version()
    # The plugin checked the inputs: the namespace comes from the kubeconfig's context, not the program.
    assert configmap["newState"]["inputs"]["metadata"] == {"name": "mle-probe", "namespace": NAMESPACE}
    assert configmap["newState"]["inputs"]["data"] == {"hello": "world"}
    assert "download" not in proc.stderr.lower(), proc.stderr
